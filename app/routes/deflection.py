"""``GET /api/metrics/deflection`` (admin): chatbot outcomes, helpfulness, the content backlog."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.access import AdminDep
from app.routes.chat import ChatDep
from app.schemas import DeflectionPublic, TicketPublic
from chatbot.metrics import deflection_metrics

router = APIRouter(tags=["metrics"])


@router.get("/api/metrics/deflection", response_model=DeflectionPublic)
def metrics_deflection(
    _admin: AdminDep,
    service: ChatDep,
    days: Annotated[int, Query(ge=1, le=366, description="Window: the last N days.")] = 30,
    top: Annotated[int, Query(ge=1, le=100, description="Length of the top lists.")] = 10,
) -> dict[str, Any]:
    with service.sessions() as db:
        result = deflection_metrics(db, service.now(), days, service.config.potential_window, top)
    failed = service.tickets("failed", 100)
    result["tickets"] = {"failed": [TicketPublic.fields_of(t) for t in failed]}
    return result
