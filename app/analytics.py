"""Search analytics over the event tables: volume, zero results, click-through, latency, per day."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ClickEventRow, SearchEventRow


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


def _summary(took: list[float], zero: int, clicked: int) -> dict[str, Any]:
    n = len(took)
    return {
        "searches": n,
        "zero_results": zero,
        "zero_result_rate": round(zero / n, 4) if n else None,
        "clicked_searches": clicked,
        "ctr": round(clicked / n, 4) if n else None,
        "median_ms": round(statistics.median(took), 2) if took else None,
        "p95_ms": percentile(took, 95),
    }


def search_metrics(session: Session, since: dt.datetime, until: dt.datetime,
                   top: int = 10, engineer: bool = True) -> dict[str, Any]:
    """Metrics for searches in [since, until); CTR counts searches with at least one click.

    ``engineer=False``: only the searches made without engineer access (their queries and
    zero results are all a caller who may not read engineer articles is shown)."""
    query = (select(SearchEventRow.search_id, SearchEventRow.at, SearchEventRow.normalized,
                    SearchEventRow.took_ms, SearchEventRow.zero_results)
             .where(SearchEventRow.at >= since, SearchEventRow.at < until))
    if not engineer:
        query = query.where(SearchEventRow.audience != "engineer")
    searches = session.execute(query).all()
    clicked_ids = set(session.scalars(
        select(ClickEventRow.search_id).where(ClickEventRow.at >= since,
                                              ClickEventRow.search_id.is_not(None))))
    clicks = len(session.scalars(select(ClickEventRow.id).where(
        ClickEventRow.at >= since, ClickEventRow.at < until)).all())
    queries: Counter[str] = Counter()
    zero_queries: Counter[str] = Counter()
    days: dict[str, list[Any]] = defaultdict(list)
    for row in searches:
        key = row.normalized.strip().lower()
        queries[key] += 1
        if row.zero_results:
            zero_queries[key] += 1
        days[row.at.date().isoformat()].append(row)

    def block(rows: list[Any]) -> dict[str, Any]:
        return _summary([r.took_ms for r in rows], sum(1 for r in rows if r.zero_results),
                        sum(1 for r in rows if r.search_id in clicked_ids))

    return {
        "from": since.isoformat(), "to": until.isoformat(),
        "totals": {**block(list(searches)), "clicks": clicks},
        "top_queries": [{"query": q, "count": c} for q, c in queries.most_common(top)],
        "top_zero_result_queries": [{"query": q, "count": c}
                                    for q, c in zero_queries.most_common(top)],
        "per_day": [{"date": day, **block(rows)} for day, rows in sorted(days.items())],
    }
