"""``GET /api/metrics/search`` (admin): search volume, zero results, CTR, latency, per day."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.access import AdminDep
from app.analytics import search_metrics
from app.deps import EventsDep, SessionsDep
from app.models import utcnow
from app.schemas import SearchMetricsPublic

router = APIRouter(tags=["metrics"])


@router.get("/api/metrics/search", response_model=SearchMetricsPublic)
def metrics_search(
    _admin: AdminDep,
    sessions: SessionsDep,
    events: EventsDep,
    days: Annotated[int, Query(ge=1, le=366, description="Window: the last N days.")] = 30,
    top: Annotated[int, Query(ge=1, le=100, description="Length of the top lists.")] = 10,
) -> dict[str, Any]:
    events.flush(timeout=5)  # include the searches still queued for the writer
    until = utcnow()
    since = (until - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    with sessions() as session:
        return {"days": days, **search_metrics(session, since, until + dt.timedelta(seconds=1),
                                               top)}
