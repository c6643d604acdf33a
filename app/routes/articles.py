"""``GET /api/articles/{id}`` (JSON) and ``GET /articles/{id}`` (the readable page)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app import csrf
from app.access import Caller, CallerDep
from app.deps import ServicesDep
from app.errors import ERRORS, ApiError
from app.links import article_link
from app.pages import CSP, VOTE_THANKS, article_page, unavailable_page
from app.privacy import display_name
from app.render import article_url, render_markdown
from app.routes.incidents import check_incident, note_view
from app.routes.signin import form_fields, identity_of
from app.schemas import ArticlePublic, freshness_json
from app.signin_view import signin_href, who
from app.votes import VoteRecorder, voter_key
from indexer.article import Article, Audience
from indexer.ownership import resolve
from indexer.search import Searcher
from indexer.teams import TeamsConfig

router = APIRouter(tags=["articles"])


def _article(searcher: Searcher, article_id: str, caller: CallerDep) -> Article:
    article = searcher.article(article_id, caller.audiences)
    if article is None:
        # The same answer for "does not exist" and "not for you": existence must not leak.
        raise ApiError("not_found", f"no article {article_id!r}")
    return article


def article_body(searcher: Searcher, article: Article, public_url: str,
                 audiences: frozenset[Audience], freshness: dict[str, Any],
                 teams: TeamsConfig) -> dict[str, Any]:
    # Links are rewritten only towards articles this caller may open.
    path_to_id = {a.path: a.id for a in searcher.articles(audiences)}
    who = resolve(article, teams)  # the one rule the freshness job and its reminders follow
    engineer = Audience.ENGINEER in audiences
    sections = [{"heading": s.heading, "level": s.level, "key": s.key,
                 "html": render_markdown(s.text, article.path, path_to_id)}
                for s in article.sections]
    return {
        "id": article.id, "path": article.path, "title": article.title,
        "url": public_url.rstrip("/") + article_url(article.id),
        "audience": [a.value for a in article.audience], "symptoms": list(article.symptoms),
        "error_codes": list(article.error_codes), "alerts": list(article.alerts),
        "services": list(article.services), "tags": list(article.tags),
        # Anonymous readers get the owner's name, never their address (app.privacy).
        "owner": article.owner if engineer else display_name(article.owner),
        "team": who.team_id or teams.default_team,
        "reviewer": who.assignee if engineer else display_name(who.assignee),
        "assigned_because": who.reason,
        "created": article.created.isoformat() if article.created else None,
        "last_reviewed": article.last_reviewed.isoformat() if article.last_reviewed else None,
        "review_interval_days": article.review_interval_days,
        "freshness": freshness,
        "index_version": searcher.version,
        "sections": sections,
        "html": render_markdown(article.body, article.path, path_to_id),
    }


def _load(caller: CallerDep, services: ServicesDep, article_id: str) -> dict[str, Any]:
    searcher = services.index.searcher
    article = _article(searcher, article_id, caller)
    return article_body(searcher, article, services.settings.public_base, caller.audiences,
                        freshness_json(services.search.freshness_of(article.id)),
                        services.freshness.teams())


# Opened during an incident (a channel post's link, a responder): recorded in its activity.
IncidentParam = Annotated[int | None, Query(ge=1, description="The incident it is opened for.")]


async def _viewed(caller: CallerDep, services: ServicesDep, article_id: str,
                  incident: int | None) -> dict[str, Any]:
    await check_incident(services, incident)
    data = await run_in_threadpool(_load, caller, services, article_id)
    await note_view(services, incident, caller, data["id"])
    return data


@router.get("/api/articles/{article_id:path}", response_model=ArticlePublic)
async def get_article(request: Request, caller: CallerDep, services: ServicesDep,
                      article_id: str, incident: IncidentParam = None) -> dict[str, Any]:
    data = await _viewed(caller, services, article_id, incident)
    return {**data, "url": article_link(request, data["id"])}


PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin", "Cache-Control": "private, no-cache"}


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _unavailable(request: Request, caller: Caller | None, article_id: str) -> HTMLResponse:
    page = unavailable_page(article_id, signin_href(request), who(request, caller))
    return HTMLResponse(page, status_code=404, headers=PAGE_HEADERS)


def _page_response(request: Request, caller: Caller, data: dict[str, Any], message: str = "",
                   status: int = 200) -> HTMLResponse:
    page = article_page(data, who(request, caller), csrf_token=csrf.token_for(request),
                        vote_message=message)
    return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)


VotedParam = Annotated[str | None, Query(max_length=8, include_in_schema=False)]


@router.get("/articles/{article_id:path}", response_class=HTMLResponse)
async def article_html(request: Request, caller: CallerDep, services: ServicesDep,
                       article_id: str, incident: IncidentParam = None,
                       voted: VotedParam = None) -> HTMLResponse:
    try:
        data = await _viewed(caller, services, article_id, incident)
    except ApiError as exc:
        if exc.code != "not_found" or not _wants_html(request):
            raise
        response = _unavailable(request, caller, article_id)
    else:
        # After the form's redirect: say the vote was recorded (nothing else is read from it).
        thanks = {"yes": VOTE_THANKS[True], "no": VOTE_THANKS[False]}.get(voted or "", "")
        response = _page_response(request, caller, data, thanks)
    csrf.attach(request, response)
    return response


async def _vote_refused(request: Request, caller: Caller, services: ServicesDep,
                        article: Article, code: str, message: str,
                        headers: dict[str, str] | None = None) -> Response:
    """A refused vote: the project's error body for the script, the article page saying why
    (with the status) for a plain form."""
    if not _wants_html(request):
        raise ApiError(code, message, headers)
    data = await run_in_threadpool(_load, caller, services, article.id)
    response = _page_response(request, caller, data, message, ERRORS[code])
    response.headers.update(headers or {})
    return csrf.attach(request, response)


@router.post("/articles/{article_id:path}/helpful", include_in_schema=False)
async def article_helpful(request: Request, caller: CallerDep, services: ServicesDep,
                          article_id: str) -> Response:
    """The "was this helpful?" form: ``csrf`` and ``helpful=yes|no``, url-encoded.

    A plain form gets a 303 back to the article (``?voted=``); the page's script, which sends
    ``Accept: application/json``, gets ``{"recorded", "helpful", "message"}``. Refused: an
    article the caller may not read (404, like the article), another origin or a bad CSRF
    field (403), a value other than yes/no (422), too many votes from this client (429)."""
    fields = await form_fields(request)
    try:
        article = _article(services.index.searcher, article_id, caller)
    except ApiError:
        if _wants_html(request):
            return _unavailable(request, caller, article_id)
        raise
    if not csrf.valid(request, fields.get(csrf.FIELD)):
        return await _vote_refused(request, caller, services, article, "forbidden",
                             "This form has expired: reload the page and vote again.")
    answer = fields.get("helpful", "")
    if answer not in ("yes", "no"):
        return await _vote_refused(request, caller, services, article, "validation_error",
                             "helpful: expected yes or no")
    wait = request.app.state.vote_limiter.acquire(caller.client)
    if wait > 0:
        return await _vote_refused(request, caller, services, article, "rate_limited",
                             "Too many votes from your network just now: try again in a minute.",
                             {"Retry-After": str(max(1, math.ceil(wait)))})
    helpful = answer == "yes"
    identity = identity_of(request)
    voter = voter_key(identity.store.signer, caller)
    await run_in_threadpool(VoteRecorder(services.sessions).record, article.id, voter, helpful)
    if not _wants_html(request) and "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"recorded": True, "helpful": helpful,
                             "message": VOTE_THANKS[helpful]})
    return RedirectResponse(f"{article_url(article.id)}?voted={answer}#helpful", status_code=303)
