"""The incident API's request and response models (``/api/incidents...``): ``/openapi.json`` is
the contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from app.jsontypes import JsonDateTime, JsonInt
from incidents.records import Activity, Incident

SeverityName = Literal["P1", "P2", "P3", "P4"]
_SHORT = Field(None, max_length=320)


class IncidentCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: StrictStr = Field(min_length=1, max_length=500)
    severity: SeverityName
    services: list[StrictStr] = Field(default_factory=list, max_length=50)
    alerts: list[StrictStr] = Field(default_factory=list, max_length=50)
    started_at: JsonDateTime | None = Field(None, description="When it started (default: now).")
    source: StrictStr | None = Field(None, max_length=32, pattern=r"^[a-z0-9_.-]+$",
                                     description="The tool that opened it (default: api).")
    external_id: StrictStr | None = Field(None, max_length=256, description="Its id in that "
                                          "tool: a second create with the same one returns the "
                                          "first incident.")
    team: StrictStr | None = Field(None, max_length=128)
    responder: StrictStr | None = _SHORT
    by: StrictStr | None = _SHORT


class IncidentPatchBody(BaseModel):
    # At least one change (the handler answers validation_error for none): documented so.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": [k], "properties": {k: {"not": {"type": "null"}}}}
        for k in ("status", "note", "severity")]})

    status: Literal["acknowledged", "diagnosed", "resolved"] | None = None
    at: JsonDateTime | None = Field(None, description="When (default: now); never "
                                   "before the trigger or an earlier phase.")
    by: StrictStr | None = _SHORT
    note: StrictStr | None = Field(None, max_length=4000)
    severity: SeverityName | None = Field(None, description="A new severity (kept in the "
                                          "timeline; metrics count the one at resolution).")


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    article_id: StrictStr | None = Field(None, max_length=512, description="The runbook (default:"
                                         " the incident's).")
    step: JsonInt = Field(ge=1, le=100, description="The diagnostic step, 1 for the first.")
    by: StrictStr | None = _SHORT


class TimelinePublic(BaseModel):
    at: dt.datetime
    kind: str
    by: str | None
    value: str | None
    note: str | None


class ActivityPublic(BaseModel):
    at: dt.datetime
    kind: str
    ref: str
    detail: dict[str, Any]
    by: str | None


class RetrospectivePublic(BaseModel):
    outcome: str | None
    article_id: str | None
    asked_at: dt.datetime | None
    reminded_at: dt.datetime | None
    missed_at: dt.datetime | None


class IncidentPublic(BaseModel):
    id: int
    source: str
    external_id: str | None
    title: str
    severity: str
    status: str
    services: list[str]
    alerts: list[str]
    team: str | None
    channel: str | None
    responder: str | None
    runbook_id: str | None
    runbook_status: str | None
    started_at: dt.datetime
    acknowledged_at: dt.datetime | None
    diagnosed_at: dt.datetime | None
    resolved_at: dt.datetime | None
    retrospective: RetrospectivePublic
    timeline: list[TimelinePublic]
    activity: list[ActivityPublic]


class IncidentListPublic(BaseModel):
    incidents: list[IncidentPublic]


def _shown(_article_id: str) -> bool:
    return False


def incident_public(i: Incident, hidden: Callable[[str], bool] = _shown) -> IncidentPublic:
    """``hidden(article_id)``: an article the reader may not read (an added audience's, such
    as security): its id is left out wherever the incident would name it."""

    def keep(article_id: str | None) -> str | None:
        return None if article_id is not None and hidden(article_id) else article_id

    runbook = keep(i.runbook_id)
    activity = []
    for a in i.activity:
        if a.kind is not Activity.SEARCH and hidden(a.ref):
            continue  # a view, a step, a runbook of an article the reader may not read
        detail = a.detail
        if a.kind is Activity.SEARCH and "results" in detail:
            detail = {**detail, "results": [r for r in detail["results"] if not hidden(str(r))]}
        activity.append(ActivityPublic(at=a.at, kind=a.kind.value, ref=a.ref, detail=detail,
                                       by=a.by))
    return IncidentPublic(
        id=i.id, source=i.source, external_id=i.external_id, title=i.title,
        severity=i.severity.value, status=i.status.value, services=list(i.services),
        alerts=list(i.alerts), team=i.team, channel=i.channel, responder=i.responder,
        runbook_id=runbook,
        runbook_status=None if i.runbook_id and runbook is None else i.runbook_status,
        started_at=i.started_at,
        acknowledged_at=i.acknowledged_at, diagnosed_at=i.diagnosed_at, resolved_at=i.resolved_at,
        retrospective=RetrospectivePublic(outcome=i.retro_outcome,
                                          article_id=keep(i.retro_article_id),
                                          asked_at=i.retro_asked_at,
                                          reminded_at=i.retro_reminded_at,
                                          missed_at=i.retro_missed_at),
        timeline=[TimelinePublic(at=t.at, kind=t.kind, by=t.by, value=keep(t.value),
                                 note=t.note)
                  for t in i.timeline],
        activity=activity)


class IncidentMetricsPublic(BaseModel):
    """``GET /api/metrics/incidents``: see the README's Incidents section."""

    days: int
    to: str
    ratio: dict[str, Any]
    mttr: dict[str, Any]
    repeat_rate: dict[str, Any]
    runbooks: dict[str, Any]
    from_: str = Field(alias="from")

    model_config = ConfigDict(populate_by_name=True)


class RetrospectiveBody(BaseModel):
    # "updated" and "created" name the article (the handler checks it; the document says it).
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "if": {"properties": {"outcome": {"enum": ["updated", "created"]}},
               "required": ["outcome"]},
        "then": {"required": ["article_id"],
                 "properties": {"article_id": {"type": "string", "minLength": 1}}}})

    outcome: Literal["used-as-is", "updated", "created", "nothing-to-write"]
    article_id: StrictStr | None = Field(None, max_length=512, description="The article updated "
                                         "or written (required for those outcomes).")
    by: StrictStr | None = _SHORT


class EscalateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: StrictStr | None = _SHORT
    note: StrictStr | None = Field(None, max_length=4000)


class EscalationPacketPublic(BaseModel):
    """What an L3 engineer starts from."""

    incident: dict[str, Any]
    alert: dict[str, Any]
    runbook: dict[str, Any] | None
    searches: list[dict[str, Any]]
    articles_opened: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    notes: list[str]
