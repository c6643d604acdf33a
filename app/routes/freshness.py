"""``GET /api/freshness`` (JSON or CSV) and ``POST /api/articles/{id}/review``; the lookup hook.

``on_startup`` registers ``app.state.freshness_lookup`` (search results and article pages show
``freshness: {status, review_by, banner}``) and starts the scheduled job; ``on_shutdown`` stops it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.access import EVERYONE, CallerDep, caller_of
from app.deps import IndexDep, SettingsDep
from app.errors import ApiError
from freshness.job import run_job
from freshness.policy import Status
from freshness.report import build_report, report_csv
from freshness.service import (
    FreshnessLookup,
    load_teams,
    policy_from_settings,
    record_review,
    start_scheduler,
)

router = APIRouter(tags=["freshness"])
_BEARER = {"WWW-Authenticate": "Bearer"}


class ReviewCreate(BaseModel):
    outcome: Literal["still-accurate", "updated", "retire"]
    reviewer: str | None = Field(None, max_length=320, description="Who reviewed (an email).")
    note: str | None = Field(None, max_length=2000)


def on_startup(app: FastAPI) -> None:
    state = app.state
    holder = state.index
    lookup = FreshnessLookup(
        state.engine, state.settings,
        article=lambda article_id: holder.searcher.article(article_id, EVERYONE),
        articles=lambda: holder.searcher.articles(EVERYONE),
        ttl=state.settings.freshness_lookup_seconds)
    lookup.refresh()
    state.freshness_lookup = lookup
    state.freshness_scheduler = start_scheduler(
        state, articles=lambda: holder.searcher.articles(EVERYONE))


def on_shutdown(app: FastAPI) -> None:
    scheduler = getattr(app.state, "freshness_scheduler", None)
    if scheduler is not None:
        scheduler.stop()
        app.state.freshness_scheduler = None


async def _reviewer_token(request: Request, settings: SettingsDep) -> str:
    """Reviews need the admin token or an engineer key (the owner's or their team's)."""
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError("unauthorized", "a review needs 'Authorization: Bearer <key>' (an "
                       "engineer key or the admin token)", _BEARER)
    caller_of(request)  # rejects a malformed header or an unknown key with invalid_api_key
    token = header.partition(" ")[2].strip()
    return "admin" if settings.admin_token and token == settings.admin_token else "engineer-key"


ReviewerDep = Annotated[str, Depends(_reviewer_token)]


@router.get("/api/freshness", response_model=None)
def freshness_report(
    request: Request, holder: IndexDep, settings: SettingsDep, caller: CallerDep,
    status: Annotated[list[str] | None, Query(description="only these states")] = None,
    owner: str | None = None, team: str | None = None, service: str | None = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> dict[str, Any] | PlainTextResponse:
    """Every article's state now (stored reviews included), grouped by owner, team, service.

    Anonymous callers see end-user articles only, like everywhere else."""
    try:
        wanted = {Status.parse(s) for s in status} if status else None
    except ValueError as exc:
        raise ApiError("validation_error", f"status: {exc}") from None
    articles = list(holder.searcher.articles(caller.audiences))
    with Session(request.app.state.engine) as session:
        result = run_job(session, articles, load_teams(settings), dt.datetime.now(dt.UTC),
                         config=policy_from_settings(settings), dry_run=True)
    rows = [r for r in result.articles
            if (wanted is None or r.status in wanted)
            and (owner is None or owner.lower() in ((r.owner or "").lower(), r.assignee.lower()))
            and (team is None or r.team == team)
            and (service is None or service in r.services)]
    if format == "csv":
        return PlainTextResponse(report_csv(rows, settings.public_url),
                                 media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition":
                                          'attachment; filename="freshness.csv"'})
    return build_report(rows, settings.public_url, result.today.isoformat())


@router.post("/api/articles/{article_id:path}/review")
def review_article(request: Request, article_id: str, body: ReviewCreate, holder: IndexDep,
                   settings: SettingsDep, token_kind: ReviewerDep) -> dict[str, Any]:
    """Mark an article reviewed: resets review-by, records the audit trail, drops the banner."""
    article = holder.searcher.article(article_id, EVERYONE)
    if article is None:
        raise ApiError("not_found", f"no article {article_id!r}")
    reviewer = (body.reviewer or "").strip() or token_kind
    done = record_review(request.app.state.engine, settings, article, body.outcome, reviewer,
                         dt.datetime.now(dt.UTC), body.note)
    lookup = getattr(request.app.state, "freshness_lookup", None)
    if isinstance(lookup, FreshnessLookup):
        lookup.refresh()  # the next search shows the review
    return {"id": done.article_id, "outcome": done.outcome, "reviewer": done.reviewer,
            "reviewed_at": done.reviewed_at.isoformat(), "retired": done.outcome == "retire",
            "freshness": done.freshness}
