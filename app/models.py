"""The service's own tables: the indexed articles, search events and click events.

Each package declares its tables on its own declarative base (``chatbot.models``,
``freshness.models``); ``app.db.all_metadata()`` gathers them for Alembic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from indexer.article import Article


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class ArticleRow(Base):
    """Article metadata as last indexed (the snapshot is the source of truth for content)."""

    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(512), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024))
    title: Mapped[str] = mapped_column(Text)
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner: Mapped[str | None] = mapped_column(String(320))
    team: Mapped[str | None] = mapped_column(String(128))
    created: Mapped[dt.date | None] = mapped_column(Date)
    last_reviewed: Mapped[dt.date | None] = mapped_column(Date)
    review_interval_days: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    present: Mapped[bool] = mapped_column(Boolean, default=True)  # False once removed from content
    indexed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)




class SearchEventRow(Base):
    """One ``/api/search`` call, written after the response was sent."""

    __tablename__ = "search_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    query: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(Text)
    result_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    total: Mapped[int] = mapped_column(Integer, default=0)
    took_ms: Mapped[float] = mapped_column(Float)
    zero_results: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[str] = mapped_column(String(32))  # "anonymous" or "engineer"
    offset: Mapped[int] = mapped_column(Integer, default=0)


class ClickEventRow(Base):
    """A result opened from a search (``POST /api/events/click``)."""

    __tablename__ = "click_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    search_id: Mapped[str | None] = mapped_column(String(32), index=True)
    article_id: Mapped[str] = mapped_column(String(512))
    rank: Mapped[int | None] = mapped_column(Integer)
    query: Mapped[str | None] = mapped_column(Text)


def sync_articles(session: Session, articles: Iterable[Article]) -> int:
    """Mirror the indexed articles into the ``articles`` table; returns how many rows changed."""
    existing = {row.id: row for row in session.scalars(select(ArticleRow))}
    seen: set[str] = set()
    changed = 0
    for a in articles:
        seen.add(a.id)
        values = {
            "path": a.path, "title": a.title, "audience": [x.value for x in a.audience],
            "services": list(a.services), "owner": a.owner, "team": a.team, "created": a.created,
            "last_reviewed": a.last_reviewed, "review_interval_days": a.review_interval_days,
            "content_hash": a.content_hash, "present": True,
        }
        row = existing.get(a.id)
        if row is None:
            session.add(ArticleRow(id=a.id, indexed_at=utcnow(), **values))
            changed += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            row.indexed_at = utcnow()
            changed += 1
    for article_id, row in existing.items():
        if article_id not in seen and row.present:
            row.present = False
            changed += 1
    return changed
