"""The HTTP contract: one pydantic ``...Public`` model per response shape.

Routes declare them as ``response_model``, so ``/openapi.json`` describes every answer and the
widget, the CLI and other tools can rely on it. Converters from the domain's typed values live
beside the models they fill.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.services.search import SearchHit, SearchPage
from freshness.policy import Freshness


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


class SearchPagePublic(BaseModel):
    query: str
    took_ms: float
    total: int
    limit: int
    offset: int
    search_id: str = Field(description="Pass it back with click events.")
    suggestion: str | None = Field(description="A spelling suggestion, from what the caller "
                                   "may see.")
    results: list[SearchResultPublic]
    explain: SearchExplainPublic | None = Field(None, description="With explain=true.")


def search_hit_json(hit: SearchHit, explain: bool) -> dict[str, Any]:
    r = hit.result
    a = r.article
    item: dict[str, Any] = {
        "id": a.id, "path": a.path, "title": a.title, "url": hit.url, "snippet": r.snippet,
        "score": r.score, "matched": r.matched, "services": list(a.services),
        "tags": list(a.tags), "freshness": freshness_json(hit.freshness),
    }
    if explain:
        item["explain"] = {"legs": r.legs, "pinned": r.pinned}
    return item


def search_page_json(page: SearchPage, explain: bool) -> dict[str, Any]:
    """``SearchPagePublic`` as a plain dict, for orjson."""
    resp, req = page.response, page.request
    body: dict[str, Any] = {
        "query": resp.query, "took_ms": resp.took_ms, "total": resp.total,
        "limit": req.limit, "offset": req.offset, "search_id": page.search_id,
        "suggestion": resp.suggestion,  # built from the caller's audiences only: nothing leaks
        "results": [search_hit_json(h, explain) for h in page.hits],
    }
    if explain:
        body["explain"] = {"normalized": resp.normalized, "weights": resp.weights,
                           "index_version": page.index_version}
    return body
