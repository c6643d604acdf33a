"""The incident tables: alert groups (dedupe state), alerts seen, the channel-post outbox, and
delivery keys of verified requests (so a retried delivery does nothing twice)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """The incident tables' own declarative base (``app.db.all_metadata()`` gathers it)."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class AlertGroupRow(Base):
    """One Alertmanager group (by ``groupKey``): what was last posted for it."""

    __tablename__ = "incident_alert_groups"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of groupKey
    group_key: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # alertmanager | pagerduty
    receiver: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(16))  # firing | resolved
    episode: Mapped[int] = mapped_column(Integer, default=1)  # +1 each time it fires again
    firing: Mapped[list[str]] = mapped_column(default=list)  # fingerprints, sorted
    firing_hash: Mapped[str] = mapped_column(String(64), default="")
    firing_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    team: Mapped[str | None] = mapped_column(String(128))
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AlertSeenRow(Base):
    """One alert (by fingerprint) within a group, with the runbook it resolved to."""

    __tablename__ = "incident_alerts"
    __table_args__ = (UniqueConstraint("key_hash", "fingerprint", name="uq_incident_alert"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(128))
    alertname: Mapped[str] = mapped_column(String(512), index=True)
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    runbook_url: Mapped[str | None] = mapped_column(Text)
    runbook_id: Mapped[str | None] = mapped_column(String(512))
    how: Mapped[str | None] = mapped_column(String(16))
    broken_url: Mapped[bool] = mapped_column(Boolean, default=False)
    team: Mapped[str | None] = mapped_column(String(128))
    starts_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChannelPostRow(Base):
    """The outbox: one post to one channel. Written with the intake, sent after it, retried
    until sent; ``delivery_key`` makes a repeated notification (or a second replica) a no-op."""

    __tablename__ = "incident_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_key: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # firing | resolved
    notifier: Mapped[str] = mapped_column(String(16))  # slack | teams
    team: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(256))
    message: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what is sent, rendered once
    status: Mapped[str] = mapped_column(String(8), index=True)  # pending | sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryRow(Base):
    """A verified request already handled (a PagerDuty event id, a Slack signature)."""

    __tablename__ = "incident_deliveries"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)  # "<source>:<id>"
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


TABLES = list(Base.metadata.sorted_tables)
