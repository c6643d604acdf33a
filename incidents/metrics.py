"""Support metrics from the incident records, on values only (the clock is passed in): the
incident-to-article ratio, MTTR per severity (never across severities), the repeat rate, and
MTTR with a fresh runbook vs a stale or missing one.

An incident is **covered** when, between its start and ``cover_days`` after its resolution, an
article linked to it (its runbooks, the articles opened, the retrospective's article, articles
whose ``alerts`` name its alerts) was created or changed as the indexer saw it; or when the
retrospective answered *used-as-is* / *nothing-to-write* and an article was opened during it.
An uncovered incident whose window is still open is **pending**: out of the ratio until it closes.

    >>> report = incident_metrics(incidents, changes, alert_articles, settings, now, days=28)
    >>> report["ratio"]["value"], report["mttr"]["P1"]["resolve_s"]
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from incidents.records import Incident, Phase
from incidents.severity import Severity, Target

FRESH = frozenset({"fresh", "due_soon"})
STALE_OR_MISSING = frozenset({"stale", "unverified", "missing"})
READ_ENOUGH = frozenset({"used-as-is", "nothing-to-write"})


@dataclass(frozen=True)
class MetricsConfig:
    targets: Mapping[Severity, Target]
    ratio_target: float = 0.7
    cover_days: int = 7
    repeat_window_days: int = 90
    repeat_target: float = 0.15


def add_business_days(start: dt.datetime, days: int) -> dt.datetime:
    """``start`` moved ``days`` working days (Monday to Friday) on; a weekend start counts from
    the next Monday at the same time."""
    when = start
    while when.weekday() >= 5:
        when += dt.timedelta(days=1)
    left = days
    while left > 0:
        when += dt.timedelta(days=1)
        if when.weekday() < 5:
            left -= 1
    return when


def within_target(target: Target, start: dt.datetime, end: dt.datetime) -> bool:
    if target.business_days is not None:
        return end <= add_business_days(start, target.business_days)
    assert target.seconds is not None
    return (end - start).total_seconds() <= target.seconds


def iso_week(when: dt.datetime) -> str:
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


def linked_articles(i: Incident, alert_articles: Mapping[str, frozenset[str]]) -> set[str]:
    linked = set(i.runbooks()) | set(i.articles_opened())
    if i.retro_article_id:
        linked.add(i.retro_article_id)
    for alert in i.alerts:
        linked |= alert_articles.get(alert, frozenset())
    return linked


def is_covered(i: Incident, changes: Mapping[str, Sequence[dt.datetime]],
               alert_articles: Mapping[str, frozenset[str]], cover_days: int) -> bool:
    if i.resolved_at is None:
        return False
    if i.retro_outcome in READ_ENOUGH and i.articles_opened():
        return True
    until = i.resolved_at + dt.timedelta(days=cover_days)
    return any(i.started_at <= seen <= until
               for article in linked_articles(i, alert_articles)
               for seen in changes.get(article, ()))


def _ratio(covered: int, counted: int) -> float | None:
    return round(covered / counted, 4) if counted else None


def _block(rows: Sequence[tuple[bool, bool]], target: float) -> dict[str, Any]:
    """rows: (covered, pending) per resolved incident."""
    covered = sum(1 for c, _ in rows if c)
    pending = sum(1 for c, p in rows if p and not c)
    counted = len(rows) - pending
    return {"covered": covered, "resolved": len(rows), "pending": pending,
            "value": _ratio(covered, counted), "target": target}


def _seconds(start: dt.datetime, end: dt.datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds())


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.fmean(known), 1) if known else None


def mttr(incidents: Sequence[Incident], targets: Mapping[Severity, Target]) -> dict[str, Any]:
    """Per severity (the one at resolution): mean seconds from the trigger to acknowledge, to
    diagnose and to resolve, ``n``, and the share resolved within the severity's target."""
    out: dict[str, Any] = {}
    for sev in Severity:
        rows = [i for i in incidents if i.severity is sev and i.resolved_at is not None]
        target = targets.get(sev)
        met = [within_target(target, i.started_at, i.resolved_at) for i in rows
               if target is not None and i.resolved_at is not None]
        out[sev.value] = {
            "acknowledge_s": _mean([_seconds(i.started_at, i.acknowledged_at) for i in rows]),
            "diagnose_s": _mean([_seconds(i.started_at, i.diagnosed_at) for i in rows]),
            "resolve_s": _mean([_seconds(i.started_at, i.resolved_at) for i in rows]),
            "n": len(rows),
            "target": target.label() if target is not None else None,
            "within_target": _ratio(sum(met), len(met)),
        }
    return out


def repeats(incidents: Sequence[Incident], window_days: int) -> set[int]:
    """Incidents with an earlier one on the same alert or the same service within the window."""
    ordered = sorted(incidents, key=lambda i: (i.started_at, i.id))
    window = dt.timedelta(days=window_days)
    found: set[int] = set()
    for n, i in enumerate(ordered):
        for earlier in ordered[:n]:
            if i.started_at - earlier.started_at > window:
                continue
            if set(i.alerts) & set(earlier.alerts) or set(i.services) & set(earlier.services):
                found.add(i.id)
                break
    return found


def incident_metrics(incidents: Sequence[Incident], changes: Mapping[str, Sequence[dt.datetime]],
                     alert_articles: Mapping[str, frozenset[str]], config: MetricsConfig,
                     now: dt.datetime, days: int) -> dict[str, Any]:
    """The ``GET /api/metrics/incidents`` answer for incidents resolved in the last ``days``
    (ratio, MTTR) and started in them (repeat rate)."""
    since = now - dt.timedelta(days=days)
    resolved = [i for i in incidents if i.status is Phase.RESOLVED and i.resolved_at is not None
                and since <= i.resolved_at <= now]
    rows: dict[int, tuple[bool, bool]] = {}
    for i in resolved:
        assert i.resolved_at is not None
        covered = is_covered(i, changes, alert_articles, config.cover_days)
        pending = now < i.resolved_at + dt.timedelta(days=config.cover_days)
        rows[i.id] = (covered, pending)
    by_team: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    by_sev: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    by_week: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for i in resolved:
        assert i.resolved_at is not None
        by_team[i.team or "(none)"].append(rows[i.id])
        by_sev[i.severity.value].append(rows[i.id])
        by_week[iso_week(i.resolved_at)].append(rows[i.id])  # the week it resolved in
    ratio = _block(list(rows.values()), config.ratio_target)
    ratio["by_team"] = {t: _block(r, config.ratio_target) for t, r in sorted(by_team.items())}
    ratio["by_severity"] = {s: _block(r, config.ratio_target) for s, r in sorted(by_sev.items())}
    ratio["by_week"] = [{"week": w, **_block(r, config.ratio_target)}
                        for w, r in sorted(by_week.items())]
    history = [i for i in incidents
               if i.started_at >= since - dt.timedelta(days=config.repeat_window_days)]
    repeated = repeats(history, config.repeat_window_days)
    started = [i for i in incidents if since <= i.started_at <= now]
    n_repeat = sum(1 for i in started if i.id in repeated)
    fresh = [i for i in resolved if (i.runbook_status or "") in FRESH]
    stale = [i for i in resolved if (i.runbook_status or "missing") in STALE_OR_MISSING]
    return {
        "days": days, "from": since.isoformat(), "to": now.isoformat(),
        "ratio": ratio,
        "mttr": mttr(resolved, config.targets),
        "repeat_rate": {"repeats": n_repeat, "incidents": len(started),
                        "value": _ratio(n_repeat, len(started)),
                        "target": config.repeat_target,
                        "window_days": config.repeat_window_days},
        "runbooks": {"fresh": mttr(fresh, config.targets),
                     "stale_or_missing": mttr(stale, config.targets)},
    }
