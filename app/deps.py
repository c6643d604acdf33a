"""Typed access to what ``create_app`` put on ``app.state``, as FastAPI dependencies."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.events import EventWriter
from app.index import IndexHolder
from app.settings import Settings

log = logging.getLogger("fieldguide.app")

# What a freshness provider returns per article; ``None`` when it knows nothing of the article.
FreshnessLookup = Callable[[str], dict[str, Any] | None]
NO_FRESHNESS: dict[str, Any] = {"status": None, "review_by": None, "banner": False}


# The getters are async: they only read app.state, and a sync dependency would cost a trip to the
# thread pool per request.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_index(request: Request) -> IndexHolder:
    holder: IndexHolder = request.app.state.index
    return holder


async def get_events(request: Request) -> EventWriter:
    writer: EventWriter = request.app.state.events
    return writer


async def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions



def freshness_of(request: Request, article_id: str) -> dict[str, Any]:
    """The article's freshness from the registered provider (``app.state.freshness_lookup``).

    Without a provider the status is unknown (nulls), never guessed here.
    """
    lookup: FreshnessLookup | None = getattr(request.app.state, "freshness_lookup", None)
    if lookup is None:
        return dict(NO_FRESHNESS)
    try:
        found = lookup(article_id)
    except Exception:  # a broken provider must not break search
        log.exception("freshness_lookup failed for %s", article_id)
        return dict(NO_FRESHNESS)
    if not found:
        return dict(NO_FRESHNESS)
    review_by: Any = found.get("review_by")
    if isinstance(review_by, dt.date):
        review_by = review_by.isoformat()
    return {"status": found.get("status"), "review_by": review_by,
            "banner": bool(found.get("banner", False))}


SettingsDep = Annotated[Settings, Depends(get_settings)]
IndexDep = Annotated[IndexHolder, Depends(get_index)]
EventsDep = Annotated[EventWriter, Depends(get_events)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
