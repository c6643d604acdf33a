"""The incident metrics read from the database: what ``GET /api/metrics/incidents``, the
insights page and the freshness job's weekly summary report, computed one way for all three.

    >>> report = stored_metrics(store, articles, config, now, days=28)
    >>> team_ratios(session, articles, now)["payments"]   # (covered, counted, pending, target)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from incidents.changes import changes_by_article
from incidents.config import IncidentsConfig
from incidents.metrics import MetricsConfig, incident_metrics
from incidents.records import IncidentError, IncidentStore
from incidents.severity import parse_targets
from indexer.article import Article

WEEKLY_DAYS = 28  # the window of the weekly summary's ratio line (the API's default too)


def stored_metrics(store: IncidentStore, articles: Iterable[Article], config: IncidentsConfig,
                   now: dt.datetime, days: int) -> dict[str, Any]:
    """``incidents.metrics.incident_metrics`` over the stored incidents and article changes."""
    if days < 1:
        raise IncidentError("days: must be >= 1")
    metrics = MetricsConfig(parse_targets(config.mttr_targets), config.ratio_target,
                            config.cover_days, config.repeat_window_days, config.repeat_target)
    since = now - dt.timedelta(days=days + config.repeat_window_days)
    alert_articles: dict[str, set[str]] = {}
    for a in articles:
        for alert in a.alerts:
            alert_articles.setdefault(alert, set()).add(a.id)
    return incident_metrics(store.all_with_activity(since), changes_by_article(store.sessions),
                            {k: frozenset(v) for k, v in alert_articles.items()}, metrics,
                            now, days)


def team_ratios(session: Session, articles: Iterable[Article], now: dt.datetime,
                config: IncidentsConfig | None = None,
                days: int = WEEKLY_DAYS) -> dict[str, tuple[int, int, int, float]]:
    """Per team: (covered, counted, pending, target) of the incidents resolved in the last
    ``days`` (counted leaves out the pending ones, as the ratio does)."""
    config = config if config is not None else IncidentsConfig.from_env()
    store = IncidentStore(sessionmaker(bind=session.get_bind()), config.severities)
    report = stored_metrics(store, articles, config, now, days)
    return {team: (b["covered"], b["resolved"] - b["pending"], b["pending"], b["target"])
            for team, b in report["ratio"]["by_team"].items()}
