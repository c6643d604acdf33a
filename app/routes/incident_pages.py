"""The incident pages (engineers and admins: a session, a personal or engineer key, the admin
token): ``GET /incidents`` (open first, then resolved) and ``GET /incidents/{id}``, and the forms
of the page: a diagnostic step checked off, a status or a note, the retrospective answer, an
escalation (the packet shown), a draft article (its path shown).

Each form is url-encoded with the CSRF field (``app.csrf``) and works without JavaScript: the
step, status and retrospective forms redirect back to the page (303, ``?done=``); escalating and
writing a draft answer with the page and what they made. They call what the API calls
(``app.incident_actions``, ``IncidentRecords``). Readers and anonymous visitors get a page that
says who may see it, with a sign-in link; an unknown incident is a 404 page; bad input a 4xx page
that says what is wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app import csrf
from app import incident_actions as actions
from app.access import Caller
from app.deps import ServicesDep
from app.errors import ERRORS, ApiError
from app.incident_view import (
    DONE,
    Forms,
    incident_body,
    list_body,
    page_href,
    problem_body,
    step_anchor,
)
from app.insights_view import refused_body
from app.routes.incidents import MAX_ID
from app.routes.pages import _page
from app.routes.signin import form_fields
from app.services import Services
from app.services.incident_records import DraftMade
from app.signin_view import page_caller, signin_href
from incidents.draft_branch import work_tree_of
from incidents.drafts import DraftError
from incidents.packet import diagnostic_steps
from incidents.records import MAX_NOTE, IncidentError, Phase
from indexer.article import Article

router = APIRouter(include_in_schema=False)
SCRIPTS = ("incident.js",)
TITLE = "Fieldguide: incidents"
LIST_LIMIT = 200
T = TypeVar("T")
P = ParamSpec("P")


class Refusal(Exception):
    """A page instead of what was asked (refused, not found, bad input)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _problem(request: Request, title: str, message: str, status: int) -> Response:
    response = _page(request, title=TITLE, body=problem_body(title, message), current="/incidents")
    response.status_code = status
    return response


async def _engineer(request: Request) -> Caller:
    caller = await run_in_threadpool(page_caller, request)  # a key or a session: a DB read
    if caller is None or not caller.engineer:
        signed_in = caller is not None and caller.person is not None
        role = caller.person.role.value if caller is not None and caller.person else ""
        response = _page(request, title=TITLE, current="/incidents",
                         body=refused_body(signed_in, role, signin_href(request),
                                           what="incidents"))
        response.status_code = 403 if signed_in else 401
        raise Refusal(response)
    return caller


def _key(request: Request, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_ID):
        raise Refusal(_problem(request, "No such incident", f"There is no incident {raw}.", 404))
    return int(raw)


async def _run(request: Request, call: Callable[[], T]) -> T:
    """``call`` off the event loop; records not configured or an unknown incident is a page."""
    try:
        return await run_in_threadpool(call)
    except ApiError as exc:
        raise Refusal(_problem(request, "Incidents unavailable", exc.message,
                               ERRORS.get(exc.code, 503))) from None
    except IncidentError as exc:
        if exc.code != "not_found":
            raise
        raise Refusal(_problem(request, "No such incident", f"{exc}.", 404)) from None


async def _show(request: Request, services: Services, caller: Caller, key: int, *,
                message: str = "", status: int = 200, packet: dict[str, object] | None = None,
                draft: DraftMade | None = None) -> Response:
    """The incident page as ``caller`` may see it (``message``: what happened; a status of 400
    or more shows it as an error)."""
    incident = await _run(request, lambda: actions.visible(services, caller, key))
    searcher = services.index.searcher

    def article_of(article_id: str) -> Article | None:
        return searcher.article(article_id, caller.audiences)

    forms = Forms(csrf.token_for(request), git=await run_in_threadpool(_git, services))
    body = incident_body(incident, article_of, forms, message=message, error=status >= 400,
                         packet=packet, draft=draft)
    response = _page(request, title=f"{incident.title} · {TITLE}", body=body,
                     current="/incidents", scripts=SCRIPTS, body_class="wide incident")
    response.status_code = status
    return response


def _git(services: Services) -> bool:
    try:
        work_tree_of(services.settings.content_dir)
    except DraftError:
        return False
    return True


async def _form(request: Request, services: Services, raw_id: str
                ) -> tuple[Caller, int, dict[str, str]]:
    """The engineer, the incident and the form's fields, CSRF checked; else a page."""
    caller = await _engineer(request)
    key = _key(request, raw_id)
    try:
        fields = await form_fields(request)
    except ApiError as exc:
        raise Refusal(await _show(request, services, caller, key, message=exc.message,
                                  status=ERRORS[exc.code])) from None
    if not csrf.valid(request, fields.get(csrf.FIELD)):
        raise Refusal(await _show(request, services, caller, key, status=403,
                                  message="This form has expired: reload the page and try again."))
    return caller, key, fields


async def _act(request: Request, services: Services, caller: Caller, key: int,
               call: Callable[[], T]) -> T:
    """``call`` off the event loop; bad input is the incident page with the message and the
    error table's status."""
    try:
        return await _run(request, call)
    except (IncidentError, DraftError) as exc:
        raise Refusal(await _show(request, services, caller, key, message=str(exc),
                                  status=ERRORS.get(exc.code, 422))) from None


def answered(handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """The route's answer, or the page a ``Refusal`` carries."""

    @functools.wraps(handler)
    async def route(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except Refusal as exc:
            return exc.response

    return route


# A form's change: what the page then says (a key of ``DONE``) and the part to go back to.
Change = Callable[[Services, Caller, int, dict[str, str]], tuple[str, str]]


async def _change(request: Request, services: Services, raw_id: str, change: Change) -> Response:
    """A form that changes the incident, then back to the page (303) saying what was done."""
    caller, key, fields = await _form(request, services, raw_id)
    done, anchor = await _act(request, services, caller, key,
                              lambda: change(services, caller, key, fields))
    return RedirectResponse(f"{page_href(key)}?done={done}#{anchor}", status_code=303)


# -- the pages ------------------------------------------------------------------------------------
@router.get("/incidents")
@answered
async def incidents_page(request: Request, services: ServicesDep,
                         status: Annotated[str, Query()] = "") -> Response:
    await _engineer(request)
    try:
        phase = Phase.parse(status) if status else None
    except IncidentError as exc:
        return _problem(request, "Incidents", str(exc), 422)
    found = await _run(request, lambda: actions.records_of(services).recent(phase, LIST_LIMIT))
    # Open first, then resolved; newest first within each (recent() is newest first).
    ordered = sorted(found, key=lambda i: i.status is Phase.RESOLVED)
    return _page(request, title=TITLE, body=list_body(ordered, phase), current="/incidents",
                 body_class="wide")


@router.get("/incidents/{incident_id}")
@answered
async def incident_page(request: Request, services: ServicesDep, incident_id: str,
                        done: Annotated[str, Query()] = "") -> Response:
    caller = await _engineer(request)
    return await _show(request, services, caller, _key(request, incident_id),
                       message=DONE.get(done, ""))


def _step(services: Services, caller: Caller, key: int,
          fields: dict[str, str]) -> tuple[str, str]:
    article_id, raw = fields.get("article_id", ""), fields.get("step", "")
    incident = actions.visible(services, caller, key)
    article = services.index.searcher.article(article_id, caller.audiences)
    if article is None or article_id not in incident.runbooks():
        raise IncidentError(f"article_id: {article_id!r} is not a runbook of incident {key}")
    count = len(diagnostic_steps(article))
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= count):
        raise IncidentError(f"step: expected a number from 1 to {count}, not {raw!r}")
    actions.step_done(services, caller, key, article_id, int(raw), actions.recorded_by(caller))
    return "step", step_anchor(article_id, int(raw))


@router.post("/incidents/{incident_id}/steps")
@answered
async def step_form(request: Request, services: ServicesDep, incident_id: str) -> Response:
    """``article_id`` (a runbook of the incident) and ``step`` (1 for the first)."""
    return await _change(request, services, incident_id, _step)


def _status(services: Services, caller: Caller, key: int,
            fields: dict[str, str]) -> tuple[str, str]:
    status, note = fields.get("status", ""), fields.get("note", "").strip() or None
    phase = Phase.parse(status) if status else None
    if phase is Phase.TRIGGERED:
        raise IncidentError("status: expected acknowledged, diagnosed or resolved")
    if phase is None and note is None:
        raise IncidentError("note: write a note, or choose a status")
    if note is not None and len(note) > MAX_NOTE:
        raise IncidentError(f"note: at most {MAX_NOTE} characters")
    actions.records_of(services).patch(key, phase, by=actions.recorded_by(caller), note=note)
    return (phase.value if phase else "note"), "status"


@router.post("/incidents/{incident_id}/status")
@answered
async def status_form(request: Request, services: ServicesDep, incident_id: str) -> Response:
    """``status`` (acknowledged, diagnosed, resolved; empty: a note only) and ``note``."""
    return await _change(request, services, incident_id, _status)


def _retrospective(services: Services, caller: Caller, key: int,
                   fields: dict[str, str]) -> tuple[str, str]:
    article_id = fields.get("article_id", "").strip() or None
    if article_id is not None and len(article_id) > 512:
        raise IncidentError("article_id: at most 512 characters")
    actions.records_of(services).retrospective(key, fields.get("outcome", ""), article_id,
                                               actions.recorded_by(caller))
    return "retrospective", "retrospective"


@router.post("/incidents/{incident_id}/retrospective")
@answered
async def retrospective_form(request: Request, services: ServicesDep,
                             incident_id: str) -> Response:
    """``outcome`` (used-as-is, updated, created, nothing-to-write) and ``article_id``."""
    return await _change(request, services, incident_id, _retrospective)


@router.post("/incidents/{incident_id}/escalate")
@answered
async def escalate_form(request: Request, services: ServicesDep, incident_id: str) -> Response:
    """``note`` (optional): the packet is shown on the page (and posted to the channel)."""
    caller, key, fields = await _form(request, services, incident_id)
    note = fields.get("note", "").strip()[:MAX_NOTE] or None
    packet = await _act(request, services, caller, key, lambda: actions.escalate(
        services, caller, key, actions.recorded_by(caller), note))
    return await _show(request, services, caller, key, packet=packet,
                       message="Escalated: the packet below was posted to the incident channel.")


@router.post("/incidents/{incident_id}/draft")
@answered
async def draft_form(request: Request, services: ServicesDep, incident_id: str) -> Response:
    """``branch=1``: also commit the draft on a new branch (a Git work tree only)."""
    caller, key, fields = await _form(request, services, incident_id)
    branch = "" if fields.get("branch") else None
    made = await _act(request, services, caller, key, lambda: actions.write_draft(
        services, caller, key, branch=branch, by=actions.recorded_by(caller)))
    return await _show(request, services, caller, key, draft=made, status=201,
                       message=f"Draft written: {made.draft.rel}.")
