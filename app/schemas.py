"""The HTTP contract: one pydantic ``...Public`` model per response shape.

Routes declare them as ``response_model``, so ``/openapi.json`` describes every answer and the
widget, the CLI and other tools can rely on it. Converters from the domain's typed values live
beside the models they fill.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.services.search import SearchHit, SearchPage
from chatbot.engine import Reply
from chatbot.service import Escalation, FeedbackResult, Retried, Ticket, Turn
from freshness.policy import Freshness
from indexer.search import explain_legs


class FreshnessPublic(BaseModel):
    status: str | None = Field(description="fresh, due_soon, stale or unverified; null when "
                               "unknown")
    review_by: str | None = Field(description="The review-by date (YYYY-MM-DD).")
    banner: bool = Field(description="True when the 'unverified' warning must show.")


def freshness_json(f: Freshness) -> dict[str, Any]:
    """``FreshnessPublic`` as a plain dict (what the orjson-encoded answers carry)."""
    return {"status": f.status.value if f.status is not None else None,
            "review_by": f.review_by.isoformat() if f.review_by is not None else None,
            "banner": f.banner}


class LegPublic(BaseModel):
    rank: int
    score: float


class ResultExplainPublic(BaseModel):
    legs: dict[str, LegPublic] = Field(description="Each leg's rank and score for this result.")
    pinned: bool = Field(description="An exact identifier (error code, alert name) matched.")


class SearchResultPublic(BaseModel):
    id: str
    path: str
    title: str
    url: str
    snippet: str = Field(description="HTML-safe; the matched terms are in <mark>.")
    snippet_section: str | None = Field(None, description="The heading of the section the "
                                        "snippet comes from (\"Resolution\"); null: the lead.")
    title_html: str = Field("", description="The title HTML-escaped, matched words in <mark>.")
    score: float
    matched: dict[str, Any] = Field(description="What matched: terms, tags, error codes, alerts.")
    services: list[str]
    tags: list[str]
    freshness: FreshnessPublic
    explain: ResultExplainPublic | None = Field(None, description="With explain=true.")


class SearchExplainPublic(BaseModel):
    normalized: str
    weights: dict[str, float]
    index_version: str


class FacetValuePublic(BaseModel):
    value: str
    count: int = Field(description="How many of the query's results (all pages) carry it.")


class FacetsPublic(BaseModel):
    services: list[FacetValuePublic] = Field(description="The most frequent services among "
                                             "all the results, most frequent first (up to 8).")
    tags: list[FacetValuePublic] = Field(description="The same for tags.")


class SearchPagePublic(BaseModel):
    query: str
    took_ms: float
    total: int
    limit: int
    offset: int
    search_id: str = Field(description="Pass it back with click events.")
    suggestion: str | None = Field(description="A spelling suggestion, from what the caller "
                                   "may see.")
    weak_match: bool = Field(description="No good match: there is no result, or the first is "
                             "unlikely to answer the query (its confidence below the answer "
                             "model's weak-match threshold); show the results as such and offer "
                             "to ask or to request an article. Counted as a zero-result search.")
    confidence: float | None = Field(None, description="The answer model's probability that the "
                                     "first result answers the query at all (null: no result, "
                                     "or a hand-weighted fusion).")
    showing_results_for: str | None = Field(None, description="The query found no good match "
                                            "and its suggestion did: the results are the "
                                            "suggestion's (\"Showing results for ...\").")
    results: list[SearchResultPublic]
    facets: FacetsPublic = Field(description="Services and tags over every result of the "
                                 "query, to narrow it with service= / tag=.")
    explain: SearchExplainPublic | None = Field(None, description="With explain=true.")


def search_hit_json(hit: SearchHit, explain: bool) -> dict[str, Any]:
    r = hit.result
    a = r.article
    item: dict[str, Any] = {
        "id": a.id, "path": a.path, "title": a.title, "url": hit.url, "snippet": r.snippet,
        "snippet_section": r.snippet_section, "title_html": r.title_marked,
        "score": r.score, "matched": r.matched, "services": list(a.services),
        "tags": list(a.tags), "freshness": freshness_json(hit.freshness),
    }
    if explain:
        item["explain"] = {"legs": explain_legs(r.legs), "pinned": r.pinned}
    return item


def _facet_values(values: tuple[tuple[str, int], ...]) -> list[dict[str, Any]]:
    return [{"value": value, "count": count} for value, count in values]


def search_page_json(page: SearchPage, explain: bool) -> dict[str, Any]:
    """``SearchPagePublic`` as a plain dict, for orjson."""
    resp, req = page.response, page.request
    body: dict[str, Any] = {
        "query": resp.query, "took_ms": resp.took_ms, "total": resp.total,
        "limit": req.limit, "offset": req.offset, "search_id": page.search_id,
        "suggestion": resp.suggestion,  # built from the caller's audiences only: nothing leaks
        "weak_match": resp.weak_match,
        "confidence": resp.confidence,
        "showing_results_for": page.showing_results_for,
        "results": [search_hit_json(h, explain) for h in page.hits],
        "facets": {"services": _facet_values(resp.facets.services),
                   "tags": _facet_values(resp.facets.tags)},
    }
    if explain:
        body["explain"] = {"normalized": resp.normalized, "weights": resp.weights,
                           "index_version": page.index_version}
    return body


# -- articles ------------------------------------------------------------------------------
class SectionPublic(BaseModel):
    heading: str
    level: int
    key: str | None = Field(description="cause, diagnostics, resolution, escalation... when "
                            "the heading is one of the template's")
    html: str = Field(description="Rendered and sanitised.")


class ArticlePublic(BaseModel):
    id: str
    path: str
    title: str
    url: str
    audience: list[str]
    symptoms: list[str]
    error_codes: list[str]
    alerts: list[str]
    services: list[str]
    tags: list[str]
    owner: str | None = Field(description="The front matter's owner (a name for anonymous "
                              "callers).")
    team: str | None = Field(description="The owning team, by the one ownership rule the "
                             "freshness job follows: the article's team, else its owner's, "
                             "else its service's (teams.yaml), else the default team.")
    reviewer: str = Field(description="Who is reminded to review it: the owner while in a "
                          "team, else the owning team's id; 'unassigned' when nobody is.")
    assigned_because: str = Field(description="Why: owner, no-owner:team-of-service, ... "
                                  "(the freshness report's reason codes).")
    created: str | None
    last_reviewed: str | None
    review_interval_days: int | None
    freshness: FreshnessPublic
    index_version: str
    sections: list[SectionPublic]
    html: str


# -- chat ----------------------------------------------------------------------------------
class SourcePublic(BaseModel):
    id: str
    path: str
    title: str
    url: str


class ReplyFreshnessPublic(FreshnessPublic):
    text: str = Field(description="The warning shown with the answer.")


class ReplyPublic(BaseModel):
    kind: str = Field(description="answer, clarify, fallback, smalltalk or handoff")
    text: str
    sources: list[SourcePublic]
    confidence: float | None
    options: list[str] | None = Field(None, description="Clarify only: send one back.")
    freshness: ReplyFreshnessPublic | None = Field(
        None, description="Only when the source is unverified.")


class ChatTurnPublic(BaseModel):
    session_id: str
    reply: ReplyPublic


def reply_json(reply: Reply, link: Callable[[str], str] | None = None) -> dict[str, Any]:
    """``ReplyPublic`` as a dict; ``options`` and ``freshness`` only when they apply (the route
    answers with ``response_model_exclude_unset``). ``link``: each source's URL from its id,
    for the request answered (``app.links``); else the URL the chatbot made."""
    sources = [s.to_dict() if link is None else {**s.to_dict(), "url": link(s.id)}
               for s in reply.sources]
    out: dict[str, Any] = {"kind": reply.kind.value, "text": reply.text, "sources": sources,
                           "confidence": reply.confidence}
    if reply.options:
        out["options"] = list(reply.options)
    if reply.freshness is not None and reply.banner:
        out["freshness"] = {**freshness_json(reply.freshness), "banner": True,
                            "text": reply.banner}
    return out


def chat_turn_json(turn: Turn, link: Callable[[str], str] | None = None) -> dict[str, Any]:
    return {"session_id": turn.session_id, "reply": reply_json(turn.reply, link)}


class FeedbackPublic(BaseModel):
    session_id: str
    recorded: bool
    article_id: str | None
    suggest_handoff: bool

    @classmethod
    def of(cls, result: FeedbackResult) -> FeedbackPublic:
        return cls(session_id=result.session_id, recorded=True, article_id=result.article_id,
                   suggest_handoff=result.suggest_handoff)


class RecordedPublic(BaseModel):
    session_id: str
    recorded: bool


class EscalationPublic(BaseModel):
    ticket: str = Field(description="The reference, FG-XXXXXXXX.")
    status: str = Field(description="delivered, stored (no ticket system), failed, or queued "
                        "(the ticket system is slow: delivery goes on in the background)")
    attempts: int
    session_id: str

    @classmethod
    def of(cls, e: Escalation) -> EscalationPublic:
        return cls(ticket=e.ticket, status=e.status, attempts=e.attempts, session_id=e.session_id)


class TicketPublic(BaseModel):
    reference: str
    session_id: str
    created_at: str
    sink: str
    status: str
    attempts: int
    last_error: str | None
    delivered_at: str | None
    description: str | None
    contact: str | None

    @staticmethod
    def fields_of(t: Ticket) -> dict[str, Any]:
        return {"reference": t.reference, "session_id": t.session_id,
                "created_at": t.created_at.isoformat(), "sink": t.sink, "status": t.status,
                "attempts": t.attempts, "last_error": t.last_error,
                "delivered_at": t.delivered_at.isoformat() if t.delivered_at else None,
                "description": t.description, "contact": t.contact}

    @classmethod
    def of(cls, t: Ticket) -> TicketPublic:
        return cls(**cls.fields_of(t))


class TicketRetryPublic(TicketPublic):
    retried_attempts: int

    @classmethod
    def of_retry(cls, r: Retried) -> TicketRetryPublic:
        return cls(**TicketPublic.fields_of(r.ticket), retried_attempts=r.attempts)


class TicketListPublic(BaseModel):
    tickets: list[TicketPublic]
    count: int
    sink: str = Field("none", description="The ticket system hand-offs go to; none without one.")
    configure: str | None = Field(None, description="How to configure a ticket system, when "
                                  "none is: hand-offs are then only recorded.")


class OutcomesPublic(BaseModel):
    confirmed_deflection: int
    potential_deflection: int
    escalated: int
    unanswered: int
    abandoned: int


class DeflectionPeriodPublic(BaseModel):
    """Confirmed and potential deflection are reported side by side, never summed."""

    conversations: int
    closed: int
    open: int
    outcomes: OutcomesPublic
    confirmed_deflection_rate: float | None
    potential_deflection_rate: float | None
    escalation_rate: float | None
    unanswered_rate: float | None
    abandoned_rate: float | None
    first_contact_resolved: int = Field(description="Closed conversations resolved at the "
                                        "first contact: confirmed helpful, no hand-off, no new "
                                        "message after being closed (a subset of the confirmed "
                                        "deflections).")
    first_contact_resolution_rate: float | None = Field(
        description="first_contact_resolved / closed conversations.")


class _PeriodName(BaseModel):
    period: str


class _DeflectionWindow(BaseModel):
    since: str
    until: str
    days: int
    window_hours: float


# Bases listed last come first in the JSON: the answer keeps the keys in the order it always had.
class DeflectionPeriodRowPublic(DeflectionPeriodPublic, _PeriodName):
    pass


class DeflectionPublic(DeflectionPeriodPublic, _DeflectionWindow):
    per_day: list[DeflectionPeriodRowPublic]
    per_week: list[DeflectionPeriodRowPublic]
    articles: list[dict[str, Any]] = Field(description="Per article: shown, helpful, "
                                           "not_helpful, helpfulness.")
    top_unanswered: list[dict[str, Any]]
    top_escalated: list[dict[str, Any]]
    article_views: list[dict[str, Any]] = Field(description="Per article: views, "
                                                "not_escalated, escalated, pending.")
    tickets_failed: int
    tickets: dict[str, Any]


# -- search metrics, events, admin ---------------------------------------------------------
class SearchTotalsPublic(BaseModel):
    searches: int
    zero_results: int
    zero_result_rate: float | None
    clicked_searches: int
    ctr: float | None
    median_ms: float | None
    p95_ms: float | None


class SearchTotalsClicksPublic(SearchTotalsPublic):
    clicks: int


class SearchDayPublic(SearchTotalsPublic):
    date: str


class QueryCountPublic(BaseModel):
    query: str
    count: int


class SearchMetricsPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    days: int
    from_: str = Field(alias="from")
    to: str
    totals: SearchTotalsClicksPublic
    top_queries: list[QueryCountPublic]
    top_zero_result_queries: list[QueryCountPublic]
    per_day: list[SearchDayPublic]


class ClickPublic(BaseModel):
    recorded: bool


class ReindexPublic(BaseModel):
    running: bool
    index_version: str | None
    last_build: dict[str, Any] | None = Field(description="version, articles, chunks, "
                                              "embedded, seconds, skipped; or ok: false and "
                                              "error")


class ReindexStartedPublic(ReindexPublic):
    status: str


# -- freshness -----------------------------------------------------------------------------
class FreshnessRowPublic(BaseModel):
    id: str
    path: str
    status: str
    review_by: str | None
    assignee: str
    assigned_because: str
    banner: bool
    title: str
    team: str | None
    services: list[str]
    owner: str | None
    retired: bool
    url: str
    flagged: bool = Field(description="Readers' \"not helpful\" votes call for a review before "
                          "review-by (FIELDGUIDE_UNHELPFUL_VOTES in FIELDGUIDE_VOTE_WINDOW_DAYS).")
    helpful: int = Field(description="\"Helpful\" votes that count now (window, since review).")
    unhelpful: int = Field(description="\"Not helpful\" votes that count now.")
    reviewed_by: str | None = Field(description="Who recorded the last review.")
    trusted: bool = Field(description="Within its review-by date and not flagged.")


class TeamTrustPublic(BaseModel):
    articles: int
    trusted: int
    trust: float = Field(description="trusted / articles.")
    target: float = Field(description="The trust target (0.8).")


class FreshnessReportPublic(BaseModel):
    today: str | None
    counts: dict[str, int]
    total: int
    retired: int
    flagged: int = Field(description="Live articles flagged by readers' votes.")
    trust: float = Field(description="The trust score: the share of live articles within their "
                         "review-by date and not flagged by readers' votes (README).")
    trust_target: float
    trusted: int
    trust_by_team: dict[str, TeamTrustPublic]
    by_owner: dict[str, dict[str, int]]
    by_team: dict[str, dict[str, int]]
    by_service: dict[str, dict[str, int]]
    articles: list[FreshnessRowPublic]


class ReviewPublic(BaseModel):
    id: str
    outcome: str
    reviewer: str
    reviewed_at: str
    retired: bool
    freshness: FreshnessPublic


# -- health --------------------------------------------------------------------------------
class HealthPublic(BaseModel):
    status: str


class SpoolPublic(BaseModel):
    """Search and click events waiting on local disk for the database (``app.spool``)."""

    pending: int
    bytes: int
    dropped: int = Field(description="Events refused because the spool was full.")
    oldest: str | None = Field(None, description="When the oldest pending event was spooled.")
    replaying: bool = Field(description="The database is back and the backlog is going in.")


class ReadyPublic(BaseModel):
    status: str
    index_version: str
    articles: int
    database: str
    reindexing: bool
    spool: SpoolPublic | None = None


# -- alert intake (issue 13) ------------------------------------------------------------------
class HookRunbookPublic(BaseModel):
    id: str
    title: str
    url: str
    how: str = Field(description="How it was found: runbook_url, alert or search.")
    freshness: FreshnessPublic


class HookAlertPublic(BaseModel):
    fingerprint: str
    alertname: str
    status: str = Field(description="firing or resolved.")
    runbook: HookRunbookPublic | None = Field(description="null: no runbook found.")
    team: str | None = Field(None, description="The team whose channel the group posts to.")


class HookIntakePublic(BaseModel):
    alerts: list[HookAlertPublic]
    decision: str = Field(description="new, changed, resolved (posted to the channel), "
                          "unchanged or duplicate (not posted).")
    rejected: list[str] = Field(default_factory=list,
                                description="Malformed alerts of the group, skipped.")


class SlackReplyPublic(BaseModel):
    """A Slack slash-command answer (Block Kit); ``ephemeral`` shows it only to the caller."""

    response_type: str = Field(description="ephemeral (the /kb answer) or in_channel (a post).")
    text: str = Field(description="The plain-text fallback (notifications, screen readers).")
    blocks: list[dict[str, Any]] = Field(description="Block Kit blocks.")
    replace_original: bool | None = None


class TeamsReplyPublic(BaseModel):
    """A Microsoft Teams outgoing-webhook reply: a message activity."""

    type: str = Field(description="Always 'message'.")
    text: str = Field(description="Teams Markdown.")


class CoverageAlertPublic(BaseModel):
    alert: str
    source: str = Field(description="rules (declared in a rule file) or received (alert intake).")
    runbook_url: str | None
    runbook: str | None = Field(description="The runbook's article id, or null.")
    how: str | None = Field(description="runbook_url, alert or search; null without a runbook.")
    freshness: str | None = Field(description="The runbook's freshness status.")
    problem: str | None = Field(description="null, no-runbook, broken-runbook-url or "
                                "stale-runbook.")
    team: str | None = Field(None, description="The team the alert goes to.")
    where: str | None = Field(None, description="file:line of the rule, for declared alerts.")


class CoveragePublic(BaseModel):
    alerts: list[CoverageAlertPublic]
    counts: dict[str, int] = Field(description="alerts, covered and one count per problem.")
    teams: dict[str, dict[str, int]] = Field(description="The same counts per team.")
