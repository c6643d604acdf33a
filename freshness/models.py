"""The freshness tables: article states, review tasks, the review trail, notifications, votes."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """The freshness tables' own declarative base (``app.db.all_metadata()`` gathers every package's)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class FreshnessStateRow(Base):
    """The job's last verdict for one article; the banner lives here (pages read it)."""

    __tablename__ = "freshness_state"

    article_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    review_by: Mapped[dt.date | None] = mapped_column(Date)
    reviewed_on: Mapped[dt.date | None] = mapped_column(Date)
    assignee: Mapped[str] = mapped_column(String(320))
    assigned_because: Mapped[str] = mapped_column(String(64))
    team: Mapped[str | None] = mapped_column(String(128))
    services: Mapped[list[str]] = mapped_column(default=list)
    banner: Mapped[bool] = mapped_column(Boolean, default=False)
    banner_since: Mapped[dt.date | None] = mapped_column(Date)
    undated_since: Mapped[dt.date | None] = mapped_column(Date)  # first seen without any date
    unverified_since: Mapped[dt.date | None] = mapped_column(Date)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    present: Mapped[bool] = mapped_column(Boolean, default=True)  # False once gone from content
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewTaskRow(Base):
    """One open task per stale article; closed when reviewed (or the article is gone)."""

    __tablename__ = "freshness_review_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(512), index=True)
    state: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    status: Mapped[str] = mapped_column(String(16))  # the article's status when last updated
    assignee: Mapped[str] = mapped_column(String(320))
    assigned_because: Mapped[str] = mapped_column(String(64))
    review_by: Mapped[dt.date | None] = mapped_column(Date)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewActionRow(Base):
    """The audit trail: who reviewed what, when, with which outcome."""

    __tablename__ = "freshness_review_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(512), index=True)
    reviewer: Mapped[str] = mapped_column(String(320))
    outcome: Mapped[str] = mapped_column(String(16))  # still-accurate | updated | retire
    reviewed_on: Mapped[dt.date] = mapped_column(Date)
    reviewed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    via: Mapped[str] = mapped_column(String(16), default="api")  # api | git
    note: Mapped[str | None] = mapped_column(Text)


class NotificationRow(Base):
    """Every send attempt's outcome. (kind, recipient, channel, week_key) makes sends idempotent."""

    __tablename__ = "freshness_notifications"
    __table_args__ = (UniqueConstraint("kind", "recipient", "channel", "week_key",
                                       name="uq_freshness_notification_week"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # digest | summary
    recipient: Mapped[str] = mapped_column(String(320))  # an email or a team id
    channel: Mapped[str] = mapped_column(String(16))  # email | slack | teams
    address: Mapped[str] = mapped_column(String(1024), default="")
    week_key: Mapped[str] = mapped_column(String(10))  # ISO week, e.g. 2026-W45
    payload_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))  # sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ArticleVoteRow(Base):
    """A reader's "was this helpful?" vote: one row per (article, voter), the latest answer.

    ``voter`` is an HMAC, never an address or an IP: of the signed-in person's e-mail (or
    name), else of the anonymous client's address. Voting again changes the row, so one
    reader never counts twice; ``voted_at`` is the latest vote (the freshness window reads it).
    """

    __tablename__ = "article_votes"
    __table_args__ = (UniqueConstraint("article_id", "voter", name="uq_article_vote_voter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(512), index=True)
    voter: Mapped[str] = mapped_column(String(64))
    helpful: Mapped[bool] = mapped_column(Boolean)
    signed_in: Mapped[bool] = mapped_column(Boolean, default=False)
    voted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                  index=True)


class JobLockRow(Base):
    """The SQLite stand-in for PostgreSQL's advisory lock: one row per held lock, with an expiry."""

    __tablename__ = "freshness_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


TABLES = list(Base.metadata.sorted_tables)
