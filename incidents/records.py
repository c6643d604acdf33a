"""Incident records: created from any source, moved through triggered → acknowledged → diagnosed →
resolved with who and when, and what was tried during them (searches, articles opened, runbooks
posted, diagnostic steps checked off). No HTTP here: routes, the CLI and the intake call it.

    >>> store = IncidentStore(sessions, SeverityMap.parse(DEFAULT_SEVERITY_MAP))
    >>> incident = store.create(IncidentCreate("Redis memory high", Severity.P2, services=("redis",)))
    >>> store.transition(incident.id, Phase.RESOLVED, by="ana@example.com")
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from incidents.models import IncidentActivityRow, IncidentEventRow, IncidentRow, utcnow
from incidents.severity import Severity, SeverityMap

log = logging.getLogger("fieldguide.incidents.records")
MAX_TITLE = 500
MAX_NOTE = 4000
MAX_LIST = 50


class IncidentError(ValueError):
    """Bad input about an incident; ``code`` is an ``app.errors`` code."""

    def __init__(self, message: str, code: str = "validation_error") -> None:
        super().__init__(message)
        self.code = code


class Phase(StrEnum):
    """Where an incident is. The order is the lifecycle's; a later phase may skip earlier ones."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    DIAGNOSED = "diagnosed"
    RESOLVED = "resolved"

    @classmethod
    def parse(cls, value: object) -> Phase:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(p.value for p in cls)
            raise IncidentError(f"status: unknown status {value!r} (allowed: {allowed})") from None

    @property
    def column(self) -> str:
        return {"triggered": "started_at", "acknowledged": "acknowledged_at",
                "diagnosed": "diagnosed_at", "resolved": "resolved_at"}[self.value]


class Activity(StrEnum):
    SEARCH = "search"
    VIEW = "view"
    RUNBOOK = "runbook"
    STEP = "step"


def aware(when: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive UTC times back; everything here compares aware ones."""
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class IncidentCreate:
    title: str
    severity: Severity
    services: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    started_at: dt.datetime | None = None
    source: str = "api"
    external_id: str | None = None
    team: str | None = None
    channel: str | None = None
    responder: str | None = None
    by: str | None = None
    group_hash: str | None = None


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str
    by: str | None
    value: str | None
    note: str | None


@dataclass(frozen=True)
class ActivityEntry:
    at: dt.datetime
    kind: Activity
    ref: str
    detail: dict[str, Any]
    by: str | None


@dataclass(frozen=True)
class Incident:
    """An incident as every reader sees it (API, packet, metrics, drafts)."""

    id: int
    source: str
    external_id: str | None
    title: str
    severity: Severity
    status: Phase
    services: tuple[str, ...]
    alerts: tuple[str, ...]
    team: str | None
    channel: str | None
    responder: str | None
    runbook_id: str | None
    runbook_status: str | None
    started_at: dt.datetime
    acknowledged_at: dt.datetime | None
    diagnosed_at: dt.datetime | None
    resolved_at: dt.datetime | None
    retro_outcome: str | None
    retro_article_id: str | None
    retro_asked_at: dt.datetime | None
    retro_reminded_at: dt.datetime | None
    retro_missed_at: dt.datetime | None
    timeline: tuple[TimelineEntry, ...] = ()
    activity: tuple[ActivityEntry, ...] = field(default=())

    def without(self, hidden: Callable[[str], bool]) -> Incident:
        """The incident as a reader who may not read the articles ``hidden`` names sees it:
        those articles' runbook posts, views, steps, search results and timeline values gone."""
        activity = tuple(
            replace(a, detail={**a.detail, "results": [r for r in a.detail.get("results", [])
                                                       if not hidden(str(r))]})
            if a.kind is Activity.SEARCH else a
            for a in self.activity if a.kind is Activity.SEARCH or not hidden(a.ref))
        timeline = tuple(replace(t, value=None) if t.value and hidden(t.value) else t
                         for t in self.timeline)
        return replace(
            self, activity=activity, timeline=timeline,
            runbook_id=None if self.runbook_id and hidden(self.runbook_id) else self.runbook_id,
            retro_article_id=None if self.retro_article_id and hidden(self.retro_article_id)
            else self.retro_article_id)

    def articles_opened(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for a in self.activity:
            if a.kind is Activity.VIEW:
                seen.setdefault(a.ref)
        return tuple(seen)

    def searches(self) -> tuple[str, ...]:
        return tuple(a.ref for a in self.activity if a.kind is Activity.SEARCH)

    def runbooks(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for a in self.activity:
            if a.kind is Activity.RUNBOOK:
                seen.setdefault(a.ref)
        if self.runbook_id:
            seen.setdefault(self.runbook_id)
        return tuple(seen)


def _text_list(values: Sequence[str], what: str) -> list[str]:
    if len(values) > MAX_LIST:
        raise IncidentError(f"{what}: at most {MAX_LIST} values")
    out: list[str] = []
    for v in values:
        v = " ".join(str(v).split())[:256]
        if v and v not in out:
            out.append(v)
    return out


def to_incident(row: IncidentRow, events: Sequence[IncidentEventRow] = (),
                activity: Sequence[IncidentActivityRow] = ()) -> Incident:
    started = aware(row.started_at)
    assert started is not None
    return Incident(
        id=row.id, source=row.source, external_id=row.external_id, title=row.title,
        severity=Severity(row.severity), status=Phase(row.status), services=tuple(row.services),
        alerts=tuple(row.alerts), team=row.team, channel=row.channel, responder=row.responder,
        runbook_id=row.runbook_id, runbook_status=row.runbook_status, started_at=started,
        acknowledged_at=aware(row.acknowledged_at), diagnosed_at=aware(row.diagnosed_at),
        resolved_at=aware(row.resolved_at), retro_outcome=row.retro_outcome,
        retro_article_id=row.retro_article_id, retro_asked_at=aware(row.retro_asked_at),
        retro_reminded_at=aware(row.retro_reminded_at), retro_missed_at=aware(row.retro_missed_at),
        timeline=tuple(TimelineEntry(aware(e.at) or e.at, e.kind, e.by, e.value, e.note)
                       for e in events),
        activity=tuple(ActivityEntry(aware(a.at) or a.at, Activity(a.kind), a.ref,
                                     dict(a.detail), a.by) for a in activity))


class IncidentStore:
    """The incident tables behind typed calls (see the module docstring). ``clock`` is injected so
    tests can walk through weeks."""

    def __init__(self, sessions: sessionmaker[Session], severities: SeverityMap,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.sessions = sessions
        self.severities = severities
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------
    def get(self, incident_id: int) -> Incident:
        with self.sessions() as session:
            return self._load(session, incident_id)

    def exists(self, incident_id: int) -> None:
        """``IncidentError(not_found)`` unless the incident exists (cheap: one primary key)."""
        with self.sessions() as session:
            if session.get(IncidentRow, incident_id) is None:
                raise IncidentError(f"no incident {incident_id}", "not_found")

    def recent(self, *, status: Phase | None = None, limit: int = 50,
             since: dt.datetime | None = None) -> list[Incident]:
        with self.sessions() as session:
            query = select(IncidentRow).order_by(IncidentRow.started_at.desc(),
                                                  IncidentRow.id.desc()).limit(limit)
            if status is not None:
                query = query.where(IncidentRow.status == status.value)
            if since is not None:
                query = query.where(IncidentRow.started_at >= since)
            return [to_incident(r) for r in session.scalars(query)]

    def all_with_activity(self, since: dt.datetime) -> list[Incident]:
        """Every incident started or resolved since ``since`` (and those still open), with
        timeline and activity: what the metrics read."""
        with self.sessions() as session:
            rows = list(session.scalars(select(IncidentRow).where(
                (IncidentRow.started_at >= since) | (IncidentRow.resolved_at >= since)
                | (IncidentRow.resolved_at.is_(None))).order_by(IncidentRow.started_at)))
            ids = [r.id for r in rows]
            events: dict[int, list[IncidentEventRow]] = {i: [] for i in ids}
            acts: dict[int, list[IncidentActivityRow]] = {i: [] for i in ids}
            for chunk in range(0, len(ids), 500):
                part = ids[chunk:chunk + 500]
                for e in session.scalars(select(IncidentEventRow).where(
                        IncidentEventRow.incident_id.in_(part)).order_by(IncidentEventRow.at,
                                                                         IncidentEventRow.id)):
                    events[e.incident_id].append(e)
                for a in session.scalars(select(IncidentActivityRow).where(
                        IncidentActivityRow.incident_id.in_(part)).order_by(
                            IncidentActivityRow.at, IncidentActivityRow.id)):
                    acts[a.incident_id].append(a)
            return [to_incident(r, events[r.id], acts[r.id]) for r in rows]

    def _load(self, session: Session, incident_id: int) -> Incident:
        row = session.get(IncidentRow, incident_id)
        if row is None:
            raise IncidentError(f"no incident {incident_id}", "not_found")
        events = session.scalars(select(IncidentEventRow).where(
            IncidentEventRow.incident_id == incident_id).order_by(IncidentEventRow.at,
                                                                 IncidentEventRow.id)).all()
        activity = session.scalars(select(IncidentActivityRow).where(
            IncidentActivityRow.incident_id == incident_id).order_by(IncidentActivityRow.at,
                                                                    IncidentActivityRow.id)).all()
        return to_incident(row, events, activity)

    def find_external(self, source: str, external_id: str) -> int | None:
        with self.sessions() as session:
            return session.scalars(select(IncidentRow.id).where(
                IncidentRow.source == source, IncidentRow.external_id == external_id)).first()

    def open_for_group(self, group_hash: str) -> int | None:
        with self.sessions() as session:
            return session.scalars(select(IncidentRow.id).where(
                IncidentRow.group_hash == group_hash,
                IncidentRow.status != Phase.RESOLVED.value).order_by(
                    IncidentRow.id.desc())).first()

    # -- writing ---------------------------------------------------------------------------
    def create(self, new: IncidentCreate) -> Incident:
        """A new incident; with ``external_id``, a second create from the same source returns
        the first one (a retried webhook, two replicas)."""
        title = " ".join(new.title.split())
        if not title:
            raise IncidentError("title: must not be empty")
        now = self.clock()
        started = aware(new.started_at) or now
        if started > now + dt.timedelta(minutes=5):
            raise IncidentError("started_at: is in the future")
        try:
            with self.sessions.begin() as session:
                row = IncidentRow(
                    source=new.source[:32], external_id=new.external_id, title=title[:MAX_TITLE],
                    severity=new.severity.value, status=Phase.TRIGGERED.value,
                    services=_text_list(new.services, "services"),
                    alerts=_text_list(new.alerts, "alerts"), team=new.team, channel=new.channel,
                    responder=new.responder, started_at=started, group_hash=new.group_hash,
                    created_at=now, updated_at=now)
                session.add(row)
                session.flush()
                session.add(IncidentEventRow(incident_id=row.id, at=started, kind="triggered",
                                             by=new.by, value=new.severity.value))
                incident_id = row.id
        except IntegrityError:
            if new.external_id is None:
                raise
            found = self.find_external(new.source, new.external_id)
            if found is None:
                raise
            return self.get(found)
        log.info("incident %d opened (%s, %s)", incident_id, new.source, new.severity.value)
        return self.get(incident_id)

    def transition(self, incident_id: int, phase: Phase, *, at: dt.datetime | None = None,
                   by: str | None = None, note: str | None = None) -> Incident:
        """Move to ``phase`` at ``at`` (default now). Refused: a time before the trigger, or
        before a phase already reached. Repeating a reached phase only adds the note."""
        when = aware(at) or self.clock()
        if when > self.clock() + dt.timedelta(minutes=5):
            raise IncidentError("at: is in the future")
        with self.sessions.begin() as session:
            row = self._row(session, incident_id)
            started = aware(row.started_at)
            assert started is not None
            if phase is Phase.TRIGGERED:
                # Reopened (PagerDuty's incident.reopened): the resolution is undone.
                if row.status == Phase.RESOLVED.value:
                    row.status, row.resolved_at = Phase.TRIGGERED.value, None
                    row.retro_asked_at = row.retro_reminded_at = row.retro_missed_at = None
                    self._event(session, row.id, when, "reopened", by, None, note)
                return self._done(session, row)
            if when < started:
                raise IncidentError(f"at: {phase.value} at {when.isoformat()} is before the "
                                    f"trigger at {started.isoformat()}", "conflict")
            order = list(Phase)
            for earlier in order[1:order.index(phase)]:
                reached = aware(getattr(row, earlier.column))
                if reached is not None and when < reached:
                    raise IncidentError(f"at: {phase.value} at {when.isoformat()} is before "
                                        f"{earlier.value} at {reached.isoformat()}", "conflict")
            if getattr(row, phase.column) is None:
                setattr(row, phase.column, when)
                if order.index(phase) > order.index(Phase(row.status)):
                    row.status = phase.value
                self._event(session, row.id, when, phase.value, by, None, note)
                if phase is Phase.ACKNOWLEDGED and by and not row.responder:
                    row.responder = by[:320]
            elif note:
                self._event(session, row.id, when, "note", by, None, note)
            return self._done(session, row)

    def set_severity(self, incident_id: int, severity: Severity, *, at: dt.datetime | None = None,
                     by: str | None = None) -> Incident:
        with self.sessions.begin() as session:
            row = self._row(session, incident_id)
            if row.severity != severity.value:
                self._event(session, row.id, aware(at) or self.clock(), "severity", by,
                            severity.value, f"{row.severity} → {severity.value}")
                row.severity = severity.value
            return self._done(session, row)

    def note(self, incident_id: int, text: str, *, kind: str = "note", by: str | None = None,
             value: str | None = None, at: dt.datetime | None = None) -> Incident:
        with self.sessions.begin() as session:
            row = self._row(session, incident_id)
            self._event(session, row.id, aware(at) or self.clock(), kind, by, value, text)
            if kind == "responder" and value and not row.responder:
                row.responder = value[:320]
            return self._done(session, row)

    def record(self, incident_id: int, kind: Activity, ref: str, *, by: str | None = None,
               detail: dict[str, Any] | None = None, at: dt.datetime | None = None) -> None:
        """What was tried: a search (``ref`` the query), an article opened or a runbook posted
        (``ref`` its id), a diagnostic step done (``ref`` the runbook, ``detail.step``)."""
        with self.sessions.begin() as session:
            row = self._row(session, incident_id)
            session.add(IncidentActivityRow(incident_id=row.id, at=aware(at) or self.clock(),
                                            kind=kind.value, ref=ref[:2000],
                                            detail=dict(detail or {}), by=by))
            if kind is Activity.RUNBOOK and row.runbook_id is None:
                row.runbook_id = ref[:512]
                row.runbook_status = str((detail or {}).get("freshness") or "")[:16] or None

    def update(self, incident_id: int, **values: Any) -> Incident:
        """Set columns of the row (the retrospective, the channel); only known columns."""
        with self.sessions.begin() as session:
            row = self._row(session, incident_id)
            for key, value in values.items():
                if not hasattr(IncidentRow, key) or key in ("id", "started_at"):
                    raise ValueError(f"not an incident column: {key}")
                setattr(row, key, value)
            return self._done(session, row)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _row(session: Session, incident_id: int) -> IncidentRow:
        row = session.scalars(select(IncidentRow).where(IncidentRow.id == incident_id)
                              .with_for_update()).first()
        if row is None:
            raise IncidentError(f"no incident {incident_id}", "not_found")
        return row

    @staticmethod
    def _event(session: Session, incident_id: int, at: dt.datetime, kind: str, by: str | None,
               value: str | None, note: str | None) -> None:
        session.add(IncidentEventRow(incident_id=incident_id, at=at, kind=kind,
                                     by=by[:320] if by else None,
                                     value=value[:512] if value else None,
                                     note=note[:MAX_NOTE] if note else None))

    def _done(self, session: Session, row: IncidentRow) -> Incident:
        row.updated_at = self.clock()
        session.flush()
        return self._load(session, row.id)
