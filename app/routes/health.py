"""Liveness and readiness probes: both answer from the event loop, in bounded time.

``/healthz`` needs nothing but the process; ``/readyz`` also needs the index loaded and the
database answering within ``READY_TIMEOUT`` (a frozen database is a 503 then, not a hang), and
reports the event spool (events waiting on disk for the database).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from fastapi import APIRouter, Request

from app.db import DatabaseUnavailable
from app.errors import ApiError, error_response
from app.schemas import HealthPublic, ReadyPublic
from app.services import Services

router = APIRouter(tags=["health"])
READY_TIMEOUT = 2.0  # seconds; well under a load balancer's usual check timeout


@router.get("/healthz", response_model=HealthPublic)
async def healthz() -> dict[str, str]:
    """The process is up (no dependency checked; not on the thread pool, which a database
    outage may keep busy)."""
    return {"status": "ok"}


def spool_json(services: Services) -> dict[str, Any] | None:
    status = services.events.status()
    if status is None:
        return None
    return {"pending": status.pending, "bytes": status.bytes, "dropped": status.dropped,
            "oldest": status.oldest.isoformat() if status.oldest else None,
            "replaying": services.events.outage_since is None and status.pending > 0}


@router.get("/readyz", response_model=ReadyPublic, responses={
    503: {"description": "not_ready (index) or database_unavailable (with Retry-After)"}})
async def readyz(request: Request) -> Any:
    """The index is loaded and the database answers; the event spool's state."""
    holder = getattr(request.app.state, "index", None)
    services: Services | None = getattr(request.app.state, "services", None)
    if holder is None or not holder.loaded or services is None:
        raise ApiError("not_ready", "the index is not loaded yet")
    timeout = min(READY_TIMEOUT, services.settings.database_statement_timeout_seconds + 1)
    error = await asyncio.to_thread(services.probe.check, timeout)
    spool = spool_json(services)
    if error is not None:
        pending = f"; {spool['pending']} events spooled meanwhile" if spool and spool["pending"] \
            else ""
        retry = error.retry_after if isinstance(error, DatabaseUnavailable) else 5.0
        return error_response("database_unavailable",
                              f"the database does not answer ({type(error).__name__}){pending}",
                              {"Retry-After": str(max(1, math.ceil(retry)))})
    searcher = holder.searcher
    return {"status": "ready", "index_version": searcher.version,
            "articles": len(searcher.snapshot.articles), "database": "ok",
            "reindexing": holder.building, "spool": spool}
