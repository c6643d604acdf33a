"""The article versions the indexer saw: after each snapshot swap, an article whose content hash or
``last_reviewed`` moved (or that is new) gets a row with the time. The first snapshot ever seen is
the baseline: nothing in it counts as written after an incident.

    >>> record_versions(sessions, searcher.articles())      # the IndexHolder's on_swap hook
    >>> changes_by_article(sessions)["redis-maxmemory-evictions"]   # [(seen_at, created), ...]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from incidents.models import ArticleVersionRow, utcnow
from incidents.records import aware
from indexer.article import Article


def record_versions(sessions: sessionmaker[Session], articles: Iterable[Article],
                    clock: Callable[[], dt.datetime] = utcnow) -> int:
    """Rows for the articles that moved since the last row of each; returns how many."""
    now = clock()
    with sessions.begin() as session:
        last: dict[str, tuple[str, dt.date | None]] = {}
        for row in session.scalars(select(ArticleVersionRow).order_by(ArticleVersionRow.id)):
            last[row.article_id] = (row.content_hash, row.last_reviewed)
        baseline = not last
        added = 0
        for a in articles:
            state = (a.content_hash, a.last_reviewed)
            if last.get(a.id) == state:
                continue
            session.add(ArticleVersionRow(article_id=a.id, content_hash=a.content_hash,
                                          last_reviewed=a.last_reviewed, seen_at=now,
                                          baseline=baseline, created=not baseline
                                          and a.id not in last))
            added += 1
        return added


def changes_by_article(sessions: sessionmaker[Session]) -> dict[str, list[dt.datetime]]:
    """When each article was created or changed (baseline rows left out), oldest first."""
    out: dict[str, list[dt.datetime]] = {}
    with sessions() as session:
        for row in session.scalars(select(ArticleVersionRow).where(
                ArticleVersionRow.baseline.is_(False)).order_by(ArticleVersionRow.seen_at)):
            seen = aware(row.seen_at)
            assert seen is not None
            out.setdefault(row.article_id, []).append(seen)
    return out
