"""The database layer shared by every package: the declarative base, engines, article rows.

SQLite (a file) by default, PostgreSQL for several replicas. Each package declares its own
tables on ``Base`` (``app/models.py``, ``chatbot/models.py``, ``freshness/models.py``); Alembic
migrations in ``app/migrations`` create them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

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


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


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
