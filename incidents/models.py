"""The incident tables: alert groups (dedupe state), alerts seen, the channel-post outbox,
delivery keys of verified requests (so a retried delivery does nothing twice), and the incident
records (incidents, their timeline and activity, the article versions the indexer saw)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
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


class IncidentRow(Base):
    """One incident, from PagerDuty, an Alertmanager group, the API or the CLI."""

    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_incident_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # api | pagerduty | alertmanager | cli | ...
    external_id: Mapped[str | None] = mapped_column(String(256))
    group_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # intake's group
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(2))  # P1..P4, as it is now
    status: Mapped[str] = mapped_column(String(16), index=True)
    services: Mapped[list[str]] = mapped_column(default=list)
    alerts: Mapped[list[str]] = mapped_column(default=list)
    team: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str | None] = mapped_column(String(256))
    responder: Mapped[str | None] = mapped_column(String(320))
    runbook_id: Mapped[str | None] = mapped_column(String(512))
    runbook_status: Mapped[str | None] = mapped_column(String(16))  # freshness when posted
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    diagnosed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    retro_outcome: Mapped[str | None] = mapped_column(String(32))
    retro_article_id: Mapped[str | None] = mapped_column(String(512))
    retro_by: Mapped[str | None] = mapped_column(String(320))
    retro_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retro_asked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retro_reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retro_missed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IncidentEventRow(Base):
    """One line of an incident's timeline: what happened, when, and who did it."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))  # triggered | acknowledged | severity | note ...
    by: Mapped[str | None] = mapped_column(String(320))
    value: Mapped[str | None] = mapped_column(String(512))  # the new severity, a responder...
    note: Mapped[str | None] = mapped_column(Text)


class IncidentActivityRow(Base):
    """What was tried during an incident: a search, an article opened, a runbook posted, a
    diagnostic step checked off."""

    __tablename__ = "incident_activity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))  # search | view | runbook | step
    ref: Mapped[str] = mapped_column(Text)  # the query, or the article id
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    by: Mapped[str | None] = mapped_column(String(320))


class ArticleVersionRow(Base):
    """An article's content hash and ``last_reviewed`` each time a snapshot showed them moved:
    the evidence that an article was written or changed after an incident. The first snapshot
    ever mirrored is a ``baseline`` (nothing is new in it)."""

    __tablename__ = "incident_article_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(512), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    last_reviewed: Mapped[dt.date | None] = mapped_column(Date)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[bool] = mapped_column(Boolean, default=False)  # first seen after the baseline


TABLES = list(Base.metadata.sorted_tables)
