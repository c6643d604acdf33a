"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.db import ping
from app.errors import ApiError
from app.schemas import HealthPublic, ReadyPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> dict[str, str]:
    """The process is up (no dependency checked)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyPublic)
def readyz(request: Request) -> dict[str, Any]:
    """The index is loaded and the database answers."""
    holder = getattr(request.app.state, "index", None)
    if holder is None or not holder.loaded:
        raise ApiError("not_ready", "the index is not loaded yet")
    try:
        ping(request.app.state.engine)
    except Exception as exc:
        raise ApiError("not_ready", f"the database does not answer ({exc.__class__.__name__})") \
            from exc
    searcher = holder.searcher
    return {"status": "ready", "index_version": searcher.version,
            "articles": len(searcher.snapshot.articles), "database": "ok",
            "reindexing": holder.building}
