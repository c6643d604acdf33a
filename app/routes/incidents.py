"""``/api/incidents...``: incident records for any tool (incident.io, Opsgenie, Jira automation, a
script), engineers and admins only; and the ``incident=<id>`` that searches and article views
carry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from app import incident_actions as actions
from app.access import Caller, get_caller
from app.deps import ServicesDep
from app.errors import ApiError
from app.incident_actions import records_of
from app.schemas_drafts import IncidentDraftBody, IncidentDraftPublic
from app.schemas_incidents import (
    EscalateBody,
    EscalationPacketPublic,
    IncidentCreateBody,
    IncidentListPublic,
    IncidentMetricsPublic,
    IncidentPatchBody,
    IncidentPublic,
    RetrospectiveBody,
    StepBody,
    incident_public,
)
from app.services import Services
from incidents.drafts import DraftError
from incidents.records import IncidentCreate, IncidentError, Phase
from incidents.severity import Severity

router = APIRouter(tags=["incidents"])
T = TypeVar("T")
MAX_ID = 2**31 - 1  # an id past a 32-bit integer is refused before the database sees it


async def require_engineer(request: Request) -> Caller:
    caller = await get_caller(request)  # a session may ask the provider: off the loop
    if not caller.engineer:
        raise ApiError("unauthorized", "incidents need an engineer API key or the admin token: "
                       "'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"})
    return caller


EngineerDep = Annotated[Caller, Depends(require_engineer)]
IncidentId = Annotated[int, Query(ge=1, le=MAX_ID)]


async def guarded(call: Callable[[], T]) -> T:
    """``call`` off the event loop, the domain's bad input answered from the error table."""
    try:
        return await run_in_threadpool(call)
    except (IncidentError, DraftError) as exc:
        raise ApiError(exc.code, str(exc)) from None
    except ValueError as exc:
        raise ApiError("validation_error", str(exc)) from None


# -- used by the search and article routes ------------------------------------------------------
async def check_incident(services: Services, incident: int | None) -> None:
    """A search or view that names an unknown incident is a 404 before any work is done (an id
    past ``MAX_ID`` too: no database is asked about it, SQLite could not even bind it)."""
    if incident is not None:
        records = records_of(services)
        number = _id(incident)
        await guarded(lambda: records.check(number))


async def note_search(services: Services, incident: int | None, caller: Caller, query: str,
                      result_ids: Sequence[str]) -> None:
    if incident is not None:
        records = records_of(services)
        await guarded(lambda: records.searched(incident, query, result_ids,
                                                       actions.recorded_by(caller)))


async def note_view(services: Services, incident: int | None, caller: Caller,
                    article_id: str) -> None:
    if incident is not None:
        records = records_of(services)
        await guarded(lambda: records.viewed(incident, article_id,
                                                     actions.recorded_by(caller)))


_hidden = actions.hidden_for


# -- the routes -----------------------------------------------------------------------------------
@router.post("/api/incidents", status_code=201, response_model=IncidentPublic)
async def create_incident(body: IncidentCreateBody, services: ServicesDep,
                          caller: EngineerDep) -> IncidentPublic:
    """Open an incident; with ``source`` and ``external_id``, a repeat returns the first."""
    records = records_of(services)
    new = IncidentCreate(body.title, Severity.parse(body.severity), tuple(body.services),
                         tuple(body.alerts), body.started_at, body.source or "api",
                         body.external_id, team=body.team, responder=body.responder,
                         by=body.by)
    return incident_public(await guarded(lambda: records.create(new)), _hidden(services, caller))


@router.get("/api/incidents", response_model=IncidentListPublic)
async def list_incidents(services: ServicesDep, caller: EngineerDep,
                         status: Literal["triggered", "acknowledged", "diagnosed",
                                         "resolved"] | None = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 50) -> IncidentListPublic:
    records = records_of(services)
    phase = Phase.parse(status) if status else None
    found = await guarded(lambda: records.recent(phase, limit))
    hidden = _hidden(services, caller)
    return IncidentListPublic(incidents=[incident_public(i, hidden) for i in found])


def _id(incident_id: int) -> int:
    if not 1 <= incident_id <= MAX_ID:
        raise ApiError("not_found", f"no incident {incident_id}")
    return incident_id


@router.get("/api/incidents/{incident_id}", response_model=IncidentPublic)
async def get_incident(incident_id: int, services: ServicesDep,
                       caller: EngineerDep) -> IncidentPublic:
    records, key = records_of(services), _id(incident_id)
    return incident_public(await guarded(lambda: records.get(key)), _hidden(services, caller))


@router.patch("/api/incidents/{incident_id}", response_model=IncidentPublic)
async def patch_incident(incident_id: int, body: IncidentPatchBody, services: ServicesDep,
                         caller: EngineerDep) -> IncidentPublic:
    """Acknowledged, diagnosed or resolved (``at`` never before the trigger), a note, a new
    severity; a resolution asks the incident channel for the retrospective."""
    records, key = records_of(services), _id(incident_id)
    if body.status is None and body.note is None and body.severity is None:
        raise ApiError("validation_error", "nothing to change: give status, note or severity")
    phase = Phase.parse(body.status) if body.status else None
    severity = Severity.parse(body.severity) if body.severity else None
    return incident_public(await guarded(lambda: records.patch(
        key, phase, at=body.at, by=body.by, note=body.note, severity=severity)),
        _hidden(services, caller))


@router.post("/api/incidents/{incident_id}/steps", response_model=IncidentPublic)
async def step_done(incident_id: int, body: StepBody, services: ServicesDep,
                    caller: EngineerDep) -> IncidentPublic:
    """A diagnostic step of the runbook done (the escalation packet lists them)."""
    key = _id(incident_id)

    def run() -> IncidentPublic:
        return incident_public(actions.step_done(services, caller, key, body.article_id, body.step,
                                                 actions.recorded_by(caller, body.by)),
                               _hidden(services, caller))

    return await guarded(run)


@router.get("/api/metrics/incidents", response_model=IncidentMetricsPublic,
            response_model_by_alias=True)
async def incident_metrics(services: ServicesDep, _caller: EngineerDep,
                           days: Annotated[int, Query(ge=1, le=3660)] = 28
                           ) -> IncidentMetricsPublic:
    """The incident-to-article ratio (per team, severity, ISO week), MTTR per severity, the
    repeat rate, MTTR with a fresh vs a stale or missing runbook."""
    records = records_of(services)
    return IncidentMetricsPublic.model_validate(await guarded(lambda: records.metrics(days)))


@router.post("/api/incidents/{incident_id}/retrospective", response_model=IncidentPublic)
async def retrospective(incident_id: int, body: RetrospectiveBody, services: ServicesDep,
                        caller: EngineerDep) -> IncidentPublic:
    """Used as is, updated article X, wrote a new article, nothing to write (resolved only)."""
    records, key = records_of(services), _id(incident_id)
    return incident_public(await guarded(lambda: records.retrospective(
        key, body.outcome, body.article_id, actions.recorded_by(caller, body.by))), _hidden(services, caller))


@router.post("/api/incidents/{incident_id}/escalate", response_model=EscalationPacketPublic)
async def escalate(incident_id: int, services: ServicesDep, caller: EngineerDep,
                   body: EscalateBody | None = None) -> EscalationPacketPublic:
    """The escalation packet: alert, runbook with the steps done, searches and articles tried,
    timeline, notes."""
    key = _id(incident_id)
    by, note = (body.by, body.note) if body is not None else (None, None)
    packet = await guarded(lambda: actions.escalate(services, caller, key, actions.recorded_by(caller, by),
                                                    note))
    return EscalationPacketPublic.model_validate(packet)


@router.post("/api/incidents/{incident_id}/draft", status_code=201,
             response_model=IncidentDraftPublic)
async def draft_article(incident_id: int, services: ServicesDep, caller: EngineerDep,
                        body: IncidentDraftBody | None = None) -> IncidentDraftPublic:
    """A new article in ``drafts/`` of the content directory, in the house template, prefilled
    from the incident (title, symptoms, error codes, alerts, services, owner; the timeline and
    what was tried as the author's comment); with ``branch``, also committed on a new Git branch.
    Never served until moved out of ``drafts/``."""
    key = _id(incident_id)
    body = body or IncidentDraftBody()
    branch = body.branch_name if body.branch_name else ("" if body.branch else None)
    made = await guarded(lambda: actions.write_draft(services, caller, key, branch=branch,
                                                     by=actions.recorded_by(caller, body.by)))
    commit = made.commit
    return IncidentDraftPublic(path=made.draft.rel, id=made.draft.slug, text=made.draft.text,
                               branch=commit.branch if commit else None,
                               commit=commit.commit if commit else None)
