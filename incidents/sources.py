"""Incidents from the alert intake: PagerDuty V3 ``incident.*`` events (triggered, acknowledged,
priority updated, resolved, reopened, escalated...) and, where configured, Alertmanager groups
(firing opens, resolved closes). The webhook was verified and parsed before it gets here.

    >>> feed = IncidentFeed(store, config)
    >>> change = feed.pagerduty(event, intake_result)    # None for a redelivered event
    >>> change.resolved, change.escalated
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from freshness.policy import Freshness
from incidents.config import IncidentsConfig
from incidents.intake import AlertOutcome, Decision, IntakeResult
from incidents.payloads import AlertGroup, AlertStatus, PagerDutyEvent
from incidents.records import Activity, Incident, IncidentCreate, IncidentStore, Phase
from incidents.severity import Severity

DEFAULT_SEVERITY = Severity.P3  # nothing said how bad it is
_ESCALATIONS = ("incident.escalated", "incident.reassigned", "incident.responder.added",
                "incident.delegated")
_RESEVERITY = ("incident.priority_updated", "incident.urgency_updated")


@dataclass(frozen=True)
class Change:
    """What an event did to an incident: the service posts the retrospective on ``resolved``
    and the escalation packet on ``escalated``."""

    incident: Incident
    resolved: bool = False
    escalated: bool = False


def group_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


class IncidentFeed:
    def __init__(self, store: IncidentStore, config: IncidentsConfig,
                 freshness: Callable[[str], Freshness] = lambda _id: Freshness.UNKNOWN) -> None:
        self.store = store
        self.config = config
        self.freshness = freshness

    # -- PagerDuty -------------------------------------------------------------------------
    def pagerduty(self, event: PagerDutyEvent, result: IntakeResult) -> Change | None:
        if result.decision is Decision.DUPLICATE or not event.event_type.startswith("incident."):
            return None
        severity = self.config.severities.of(event.priority, event.urgency)
        incident_id = self.store.find_external("pagerduty", event.incident_id)
        created = incident_id is None
        if incident_id is None:
            incident_id = self._open_pagerduty(event, result, severity)
        at, by, kind = event.occurred_at, event.agent, event.event_type
        # Only a change of priority or urgency moves the severity: other events may carry
        # the urgency alone while the incident has a priority.
        if severity is not None and not created and kind in _RESEVERITY:
            self.store.set_severity(incident_id, severity, at=at, by=by)
        if kind == "incident.acknowledged":
            return Change(self.store.transition(incident_id, Phase.ACKNOWLEDGED, at=at, by=by))
        if kind == "incident.resolved":
            return Change(self.store.transition(incident_id, Phase.RESOLVED, at=at, by=by),
                          resolved=True)
        if kind == "incident.reopened":
            return Change(self.store.transition(incident_id, Phase.TRIGGERED, at=at, by=by))
        if kind in _ESCALATIONS:
            what = kind.removeprefix("incident.").replace(".", " ")
            return Change(self.store.note(incident_id, f"PagerDuty: {what}", kind="escalated",
                                          by=by, value=by, at=at), escalated=True)
        if kind == "incident.annotated":
            return Change(self.store.note(incident_id, "PagerDuty: note added", by=by, at=at))
        return Change(self.store.get(incident_id))

    def _open_pagerduty(self, event: PagerDutyEvent, result: IntakeResult,
                        severity: Severity | None) -> int:
        team = next((o.team.team for o in result.outcomes if o.team.team), None)
        incident = self.store.create(IncidentCreate(
            event.title or f"PagerDuty incident {event.incident_id}",
            severity or DEFAULT_SEVERITY, services=(event.service,) if event.service else (),
            alerts=(event.title,) if event.title else (), started_at=event.occurred_at,
            source="pagerduty", external_id=event.incident_id,
            team=team.id if team else None, channel=team.channel if team else None,
            by=event.agent))
        self._runbooks(incident.id, result.outcomes)
        return incident.id

    # -- Alertmanager ----------------------------------------------------------------------
    def alert_group(self, group: AlertGroup, result: IntakeResult) -> Change | None:
        """A firing group whose alerts' severity is configured opens an incident; its
        resolution resolves it. Decided by the intake's dedupe, so a repeat does nothing."""
        key = group_hash(group.group_key)
        if result.decision in (Decision.RESOLVED, Decision.UNCHANGED) and \
                group.status is AlertStatus.RESOLVED:
            open_id = self.store.open_for_group(key)
            if open_id is None:
                return None
            ends = [a.ends_at for a in group.alerts if a.ends_at is not None]
            return Change(self.store.transition(open_id, Phase.RESOLVED,
                                                at=max(ends) if ends else None,
                                                by="alertmanager"), resolved=True)
        if result.decision is not Decision.NEW:
            return None
        severities = [a.severity for a in group.firing]
        if not any(self.config.opens_incident(s) for s in severities):
            return None
        if self.store.open_for_group(key) is not None:
            return None
        mapped = [s for s in (self.config.severities.of(x) for x in severities) if s is not None]
        firing = group.firing
        names = sorted({a.alertname for a in firing})
        services = sorted({a.labels.get("service", "") for a in firing} - {""})
        starts = [a.starts_at for a in firing if a.starts_at is not None]
        summary = next((a.annotations.get("summary") for a in firing
                        if a.annotations.get("summary")), None)
        team = next((o.team.team for o in result.outcomes if o.team.team), None)
        incident = self.store.create(IncidentCreate(
            summary or ", ".join(names), min(mapped, key=lambda s: s.rank) if mapped
            else DEFAULT_SEVERITY, services=tuple(services), alerts=tuple(names),
            started_at=min(starts) if starts else None, source="alertmanager",
            team=team.id if team else None, channel=team.channel if team else None,
            by="alertmanager", group_hash=key))
        self._runbooks(incident.id, result.outcomes)
        return Change(self.store.get(incident.id))

    def _runbooks(self, incident_id: int, outcomes: tuple[AlertOutcome, ...]) -> None:
        for o in outcomes:
            rb = o.runbook
            if rb is not None:
                known = self.freshness(rb.article.id).status
                status = known.value if known is not None else "unknown"
                self.store.record(incident_id, Activity.RUNBOOK, rb.article.id, by="intake",
                                  detail={"how": rb.how.value, "freshness": status,
                                          "alert": o.alert.alertname})
        if not any(o.runbook for o in outcomes):
            self.store.update(incident_id, runbook_status="missing")
