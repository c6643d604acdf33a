"""Admin routes: ``POST /api/admin/reindex`` (background rebuild, atomic swap) and its status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.access import AdminDep
from app.deps import IndexDep
from app.errors import ApiError
from app.schemas import ReindexPublic, ReindexStartedPublic

router = APIRouter(tags=["admin"])


def _status(holder: Any) -> dict[str, Any]:
    return {"running": holder.building, "index_version": holder.searcher.version,
            "last_build": holder.last_build}


@router.post("/api/admin/reindex", status_code=202, response_model=ReindexStartedPublic)
def reindex(_admin: AdminDep, holder: IndexDep) -> JSONResponse:
    """Start a rebuild; searches keep using the current snapshot until the new one is live."""
    if not holder.reindex():
        raise ApiError("reindex_running", "a reindex is already running; see GET "
                       "/api/admin/reindex")
    return JSONResponse({"status": "started", **_status(holder)}, status_code=202)


@router.get("/api/admin/reindex", response_model=ReindexPublic)
def reindex_status(_admin: AdminDep, holder: IndexDep) -> dict[str, Any]:
    return _status(holder)
