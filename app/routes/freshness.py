"""``GET /api/freshness`` (JSON or CSV) and ``POST /api/articles/{id}/review``.

Both go through ``services.freshness`` (``FreshnessService``), which also answers every search
result's and article page's ``freshness: {status, review_by, banner}`` from memory.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from app.access import Caller, CallerDep, RateLimitDep
from app.deps import ServicesDep
from app.errors import ApiError
from app.links import link_base
from app.privacy import display_name, scrub
from app.reviews import may_review
from app.schemas import FreshnessReportPublic, ReviewPublic, freshness_json
from freshness.policy import Status, local_date
from freshness.report import build_report, report_csv

router = APIRouter(tags=["freshness"])
_BEARER = {"WWW-Authenticate": "Bearer"}


class ReviewCreate(BaseModel):
    outcome: Literal["still-accurate", "updated", "retire"]
    reviewer: str | None = Field(None, max_length=320, description="Ignored: the reviewer "
                                 "recorded is the signed-in person or the key's owner.")
    note: str | None = Field(None, max_length=2000)


async def _reviewer(caller: CallerDep) -> Caller:
    """Reviews need a person: a session, a personal key, an engineer key or the admin token."""
    if caller.person is None:
        raise ApiError("unauthorized", "a review needs you signed in (/signin) or "
                       "'Authorization: Bearer <key>' (your personal key or the admin token)",
                       _BEARER)
    return caller


ReviewerDep = Annotated[Caller, Depends(_reviewer)]


@router.get("/api/freshness", response_model=FreshnessReportPublic, responses={
    200: {"content": {"text/csv": {}}, "description": "The report (JSON) or, with "
          "format=csv, one row per article."}})
def freshness_report(
    request: Request, services: ServicesDep, caller: CallerDep, _limit: RateLimitDep,
    status: Annotated[list[str] | None, Query(description="only these states", json_schema_extra={
        "items": {"type": "string", "enum": [s.value for s in Status]}})] = None,
    owner: str | None = None, team: str | None = None, service: str | None = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> dict[str, Any] | PlainTextResponse:
    """Every article's state now (stored reviews included), grouped by owner, team, service.

    Anonymous callers see end-user articles only, like everywhere else, and people by name,
    never by e-mail address (``app.privacy``); the route is rate-limited like search."""
    try:
        wanted = {Status.parse(s) for s in status} if status else None
    except ValueError as exc:
        raise ApiError("validation_error", f"status: {exc}") from None
    articles = list(services.index.searcher.articles(caller.audiences))
    now = dt.datetime.now(dt.UTC)
    rows = [r for r in services.freshness.assess(articles, now)
            if (wanted is None or r.status in wanted)
            and (owner is None or _owned_by(owner, r.owner, r.assignee, caller.engineer))
            and (team is None or r.team == team)
            and (service is None or service in r.services)]
    if format == "csv":
        text = report_csv(rows, link_base(request))
        return PlainTextResponse(text if caller.engineer else display_name(text) or "",
                                 media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition":
                                          'attachment; filename="freshness.csv"'})
    today = local_date(now, services.freshness.config.policy.timezone)
    report = build_report(rows, link_base(request), today.isoformat())
    return report if caller.engineer else dict(scrub(report))


def _owned_by(wanted: str, owner: str | None, assignee: str, engineer: bool) -> bool:
    """Engineers filter by address; anonymous callers by the name they were shown (an address
    from them must not confirm who owns what)."""
    names: tuple[str, ...] = (owner or "", assignee)
    if not engineer:
        names = tuple(display_name(n) or "" for n in names)
    return wanted.strip().lower() in (n.lower() for n in names)


@router.post("/api/articles/{article_id:path}/review", response_model=ReviewPublic)
def review_article(article_id: str, body: ReviewCreate, services: ServicesDep,
                   caller: ReviewerDep) -> dict[str, Any]:
    """Mark an article reviewed: resets review-by, records the audit trail, drops the banner.

    Only the article's owner, a member of its owning team or an admin may; the reviewer
    recorded is who the caller is, whatever the body says."""
    # Looked up among what the caller may read: another audience's article is "not found".
    article = services.index.searcher.article(article_id, caller.audiences)
    if article is None:
        raise ApiError("not_found", f"no article {article_id!r}")
    person = caller.person
    assert person is not None
    if not may_review(person, article, services.freshness.teams()):
        raise ApiError("forbidden", "only the article's owner, a member of its owning team "
                       "or an admin may review or retire it")
    reviewer = person.email or person.name
    done = services.freshness.review(article, body.outcome, reviewer, dt.datetime.now(dt.UTC),
                                     body.note)
    return {"id": done.article_id, "outcome": done.outcome, "reviewer": done.reviewer,
            "reviewed_at": done.reviewed_at.isoformat(), "retired": done.outcome == "retire",
            "freshness": freshness_json(done.freshness)}
