"""``/api/incidents...``: incident records for any tool (incident.io, Opsgenie, Jira automation, a
script), engineers and admins only; and the ``incident=<id>`` that searches and article views
carry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from app.access import Caller, get_caller
from app.deps import ServicesDep
from app.errors import ApiError
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
from app.services.incident_records import DraftMade, IncidentRecords
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


def records_of(services: Services) -> IncidentRecords:
    records = services.incidents.records
    if records is None:
        raise ApiError("unavailable", "incident records are not configured")
    return records


async def guarded(call: Callable[[], T]) -> T:
    """``call`` off the event loop, the domain's bad input answered from the error table."""
    try:
        return await run_in_threadpool(call)
    except IncidentError as exc:
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
        await guarded(lambda: records.searched(incident, query, result_ids, caller.label))


async def note_view(services: Services, incident: int | None, caller: Caller,
                    article_id: str) -> None:
    if incident is not None:
        records = records_of(services)
        await guarded(lambda: records.viewed(incident, article_id, caller.label))


def _hidden(services: Services, caller: Caller) -> Callable[[str], bool]:
    """Whether an article of the index is outside what ``caller`` may read (an added audience's,
    such as security): incidents then never name it to them."""
    searcher = services.index.searcher

    def hidden(article_id: str) -> bool:
        return (searcher.row(article_id) is not None
                and searcher.article(article_id, caller.audiences) is None)

    return hidden


def _scrub_packet(packet: dict[str, Any], hidden: Callable[[str], bool]) -> dict[str, Any]:
    runbook = packet.get("runbook")
    return {
        **packet,
        "runbook": None if runbook and hidden(runbook["id"]) else runbook,
        "searches": [{**s, "results": [r for r in s["results"] if not hidden(str(r))]}
                     for s in packet["searches"]],
        "articles_opened": [a for a in packet["articles_opened"] if not hidden(a["id"])],
        "timeline": [{**t, "value": None if t["value"] and hidden(t["value"]) else t["value"]}
                     for t in packet["timeline"]],
    }


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
    records, key = records_of(services), _id(incident_id)

    def run() -> IncidentPublic:
        incident = records.get(key)
        article = body.article_id or incident.runbook_id
        if not article:
            raise IncidentError("article_id: the incident has no runbook; name the article",
                                "conflict")
        return incident_public(records.step_done(key, article, body.step, body.by or caller.label),
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
        key, body.outcome, body.article_id, body.by or caller.label)), _hidden(services, caller))


@router.post("/api/incidents/{incident_id}/escalate", response_model=EscalationPacketPublic)
async def escalate(incident_id: int, services: ServicesDep, caller: EngineerDep,
                   body: EscalateBody | None = None) -> EscalationPacketPublic:
    """The escalation packet: alert, runbook with the steps done, searches and articles tried,
    timeline, notes."""
    records, key = records_of(services), _id(incident_id)
    by, note = (body.by, body.note) if body is not None else (None, None)
    packet = await guarded(lambda: records.escalate(key, by or caller.label, note))
    return EscalationPacketPublic.model_validate(_scrub_packet(packet, _hidden(services, caller)))


@router.post("/api/incidents/{incident_id}/draft", status_code=201,
             response_model=IncidentDraftPublic)
async def draft_article(incident_id: int, services: ServicesDep, caller: EngineerDep,
                        body: IncidentDraftBody | None = None) -> IncidentDraftPublic:
    """A new article in ``drafts/`` of the content directory, in the house template, prefilled
    from the incident (title, symptoms, error codes, alerts, services, owner; the timeline and
    what was tried as the author's comment); with ``branch``, also committed on a new Git branch.
    Never served until moved out of ``drafts/``."""
    records, key = records_of(services), _id(incident_id)
    body = body or IncidentDraftBody()
    branch = body.branch_name if body.branch_name else ("" if body.branch else None)
    settings = services.settings

    def run() -> DraftMade:
        try:
            return records.draft(key, Path(settings.content_dir), today=dt.date.today(),
                                 policy=settings.freshness_config().policy, branch=branch,
                                 by=body.by or caller.label, hidden=_hidden(services, caller))
        except DraftError as exc:
            raise ApiError(exc.code, str(exc)) from None
        except OSError as exc:
            raise ApiError("unavailable", "the draft cannot be written into the content "
                           f"directory: {exc.strerror or exc.__class__.__name__}") from None

    made = await guarded(run)
    commit = made.commit
    return IncidentDraftPublic(path=made.draft.rel, id=made.draft.slug, text=made.draft.text,
                               branch=commit.branch if commit else None,
                               commit=commit.commit if commit else None)
