"""What the ``/insights`` page shows, gathered from the computations the API routes already use
(``incidents.report``, ``app.analytics``, ``chatbot.metrics``, ``incidents.coverage``,
``freshness.report``): the page adds no figure of its own.

Whatever names articles is read within the caller's audiences: the freshness and coverage
figures count the articles the caller may read, the search figures leave out engineers'
searches for a caller who may not read engineer articles.

    >>> data = gather(services, caller.audiences, days=28)
    >>> data.incidents["ratio"]["by_week"], data.trust["payments"]["trust"]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.analytics import search_metrics
from app.models import utcnow
from app.services import Services
from chatbot.metrics import deflection_metrics
from freshness.report import trust_by_team
from incidents.coverage import CoverageItem, build_coverage, counts, received_rows, team_counts
from indexer.article import Audience


@dataclass(frozen=True)
class Insights:
    """``incidents``: the ``GET /api/metrics/incidents`` body (None when incident records are
    not configured); ``search``: ``GET /api/metrics/search``'s; ``deflection``:
    ``GET /api/metrics/deflection``'s (its per-article lists left out: they name articles);
    ``coverage``: ``GET /api/coverage``'s counts and teams; ``trust``: per team."""

    days: int
    today: str
    incidents: dict[str, Any] | None
    search: dict[str, Any]
    deflection: dict[str, Any]
    coverage: dict[str, Any]
    trust: dict[str, dict[str, Any]]


def coverage_items(services: Services, audiences: Iterable[Audience] | None,
                   public_url: str | None = None) -> list[CoverageItem]:
    """``GET /api/coverage``'s items: every alert received and its runbook among the articles
    of ``audiences`` (None: every article); links under ``public_url`` (a request's base),
    else the setting's."""
    searcher = services.index.searcher
    with services.sessions() as session:
        received = received_rows(session)
    readable = frozenset(audiences) if audiences is not None else None
    return build_coverage(searcher.articles(readable), services.freshness.teams(),
                          lambda i: services.freshness.freshness(i).status, received=received,
                          public_url=public_url or services.settings.public_base)


def gather(services: Services, audiences: frozenset[Audience], days: int = 28,
           top: int = 10) -> Insights:
    now = utcnow()
    records = services.incidents.records
    incidents = records.metrics(days) if records is not None else None

    services.events.flush(timeout=5)  # the searches still queued for the writer count too
    since = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0,
                                                        microsecond=0)
    with services.sessions() as session:
        search = search_metrics(session, since, now + dt.timedelta(seconds=1), top,
                                engineer=Audience.ENGINEER in audiences)
    chat = services.chat
    with chat.sessions() as db:
        deflection = deflection_metrics(db, chat.now(), days, chat.config.potential_window, top)
    for named in ("articles", "article_views", "top_unanswered", "top_escalated"):
        deflection.pop(named, None)

    items = coverage_items(services, audiences)
    coverage = {"counts": counts(items), "teams": team_counts(items)}
    articles = list(services.index.searcher.articles(audiences))
    trust = trust_by_team(services.freshness.assess(articles, now))
    return Insights(days, now.date().isoformat(), incidents, search, deflection, coverage, trust)
