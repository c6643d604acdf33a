"""``GET /api/articles/{id}`` (JSON) and ``GET /articles/{id}`` (the readable page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app import csrf
from app.access import CallerDep
from app.deps import ServicesDep
from app.errors import ApiError
from app.links import article_link
from app.pages import CSP, article_page, unavailable_page
from app.privacy import display_name
from app.render import article_url, render_markdown
from app.routes.incidents import check_incident, note_view
from app.schemas import ArticlePublic, freshness_json
from app.signin_view import signin_href, who
from indexer.article import Article, Audience
from indexer.search import Searcher

router = APIRouter(tags=["articles"])


def _article(searcher: Searcher, article_id: str, caller: CallerDep) -> Article:
    article = searcher.article(article_id, caller.audiences)
    if article is None:
        # The same answer for "does not exist" and "not for you": existence must not leak.
        raise ApiError("not_found", f"no article {article_id!r}")
    return article


def article_body(searcher: Searcher, article: Article, public_url: str,
                 audiences: frozenset[Audience], freshness: dict[str, Any]) -> dict[str, Any]:
    # Links are rewritten only towards articles this caller may open.
    path_to_id = {a.path: a.id for a in searcher.articles(audiences)}
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
        "owner": article.owner if Audience.ENGINEER in audiences
        else display_name(article.owner), "team": article.team,
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
                        freshness_json(services.search.freshness_of(article.id)))


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


@router.get("/articles/{article_id:path}", response_class=HTMLResponse)
async def article_html(request: Request, caller: CallerDep, services: ServicesDep,
                       article_id: str, incident: IncidentParam = None) -> HTMLResponse:
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "same-origin", "Cache-Control": "private, no-cache"}
    header = who(request, caller)
    try:
        data = await _viewed(caller, services, article_id, incident)
    except ApiError as exc:
        if exc.code != "not_found" or "text/html" not in request.headers.get("accept", ""):
            raise
        page = unavailable_page(article_id, signin_href(request), header)
        response = HTMLResponse(page, status_code=404, headers=headers)
    else:
        response = HTMLResponse(article_page(data, header), headers=headers)
    csrf.attach(request, response)
    return response
