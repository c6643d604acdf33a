"""``GET /api/search``: the hybrid search, filtered to what the caller may see."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.access import Caller, CallerDep, RateLimitDep
from app.compute import ComputePool
from app.deps import freshness_of
from app.errors import ApiError
from app.models import SearchEventRow, utcnow
from app.render import article_url
from app.settings import Settings
from indexer.article import Audience
from indexer.search import Searcher, SearchPlan

router = APIRouter(tags=["search"])

MAX_QUERY_BYTES = 8 * 1024  # a pasted stack trace fits; a whole log file does not
MAX_FILTER_VALUES = 20
MAX_BODY_BYTES = 64 * 1024
PARAMS = frozenset({"q", "limit", "offset", "audience", "service", "tag", "explain"})


def _check_params(request: Request) -> None:
    unknown = sorted(set(request.query_params) - PARAMS)
    if unknown:
        raise ApiError("unknown_parameter", f"unknown parameter(s) {', '.join(unknown)}; "
                       f"allowed: {', '.join(sorted(PARAMS))}")


def _audiences(requested: list[str], allowed: frozenset[Audience]) -> frozenset[Audience]:
    if not requested:
        return allowed
    try:
        wanted = {Audience.parse(a) for a in requested}
    except ValueError as exc:
        raise ApiError("validation_error", f"audience: {exc}") from None
    # Asking for more than the caller may see silently narrows: no error says what exists.
    return frozenset(wanted) & allowed


class SearchQuery(BaseModel):
    """The parameters of a search, from the query string (GET) or a JSON body (POST)."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, description="The query: words, an error message, an alert "
                          "name or a pasted log line (up to 8 KB).")
    limit: int = Field(10, ge=1, le=50)
    offset: int = Field(0, ge=0, le=1000)
    audience: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    service: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    tag: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    explain: bool = False


def _validated_query(q: str | None) -> str:
    if q is not None and len(q.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES:
        raise ApiError("query_too_long", f"the query is longer than {MAX_QUERY_BYTES} bytes; "
                       "paste the error message, not the whole log")
    if q is None or not q.strip():
        raise ApiError("empty_query", "the query is empty: pass q=...")
    if "\x00" in q:
        raise ApiError("validation_error", "q: NUL characters are not allowed")
    return q


async def run_search(request: Request, caller: Caller, params: SearchQuery) -> Response:
    """Validate, search the caller's part of the index, queue the search event.

    The Python half of the search runs on the compute pool, the dense leg (the query embedded by
    ONNX Runtime, the chunks scored by BLAS: native code without the GIL) on the vector pool, so
    the compute thread serves other requests meanwhile and both cores do useful work."""
    state = request.app.state
    q = _validated_query(params.q)
    audiences = _audiences(params.audience, caller.audiences)
    searcher: Searcher = state.index.searcher  # one snapshot for the whole request
    compute: ComputePool = state.compute
    done = await compute.run(_begin, request, caller, params, searcher, q, audiences)
    if isinstance(done, Response):
        return done  # the exact legs decided: no dense leg, one trip to the pool
    vectors: ComputePool = state.vectors
    await vectors.run(searcher.add_dense, done)
    return await compute.resume(_response, request, caller, params, searcher, done)


def _begin(request: Request, caller: Caller, params: SearchQuery, searcher: Searcher, q: str,
           audiences: frozenset[Audience]) -> Response | SearchPlan:
    """The exact legs; the whole answer when they need no dense leg, else the plan."""
    plan = searcher.plan(q, audiences=audiences, services=params.service, tags=params.tag)
    return plan if plan.needs_vector else _response(request, caller, params, searcher, plan)


def _response(request: Request, caller: Caller, params: SearchQuery, searcher: Searcher,
              plan: SearchPlan) -> Response:
    """The rest of a search and its answer, encoded here with orjson (FastAPI would encode a
    returned dict on the event loop, after a slower generic conversion)."""
    state = request.app.state
    settings: Settings = state.settings
    resp = searcher.finish(plan, limit=params.limit, offset=params.offset)
    suggestion = resp.suggestion  # built from the caller's audiences only: nothing leaks
    base = settings.public_url.rstrip("/")
    results = []
    for r in resp.results:
        a = r.article
        item: dict[str, Any] = {
            "id": a.id, "path": a.path, "title": a.title, "url": base + article_url(a.id),
            "snippet": r.snippet, "score": r.score, "matched": r.matched,
            "services": list(a.services), "tags": list(a.tags),
            "freshness": freshness_of(request, a.id),
        }
        if params.explain:
            item["explain"] = {"legs": r.legs, "pinned": r.pinned}
        results.append(item)
    search_id = uuid.uuid4().hex
    body: dict[str, Any] = {
        "query": resp.query, "took_ms": resp.took_ms, "total": resp.total,
        "limit": params.limit, "offset": params.offset, "search_id": search_id,
        "suggestion": suggestion, "results": results,
    }
    if params.explain:
        body["explain"] = {"normalized": resp.normalized, "weights": resp.weights,
                           "index_version": searcher.version}
    if settings.record_search_events:
        # Queued for the writer thread: the response does not wait for the database.
        state.events.put(
            SearchEventRow, search_id=search_id, at=utcnow(), query=resp.query,
            normalized=resp.normalized, result_ids=[r.article.id for r in resp.results],
            total=resp.total, took_ms=resp.took_ms, zero_results=resp.total == 0,
            audience=caller.label, offset=params.offset)
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/api/search")
async def search(
    request: Request,
    caller: CallerDep,
    _limit: RateLimitDep,
    q: Annotated[str | None, Query(description="The query: words, an error message, "
                                   "an alert name or a pasted log line (up to 8 KB).")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
    audience: Annotated[list[str] | None, Query(max_length=MAX_FILTER_VALUES)] = None,
    service: Annotated[list[str] | None, Query(max_length=MAX_FILTER_VALUES)] = None,
    tag: Annotated[list[str] | None, Query(max_length=MAX_FILTER_VALUES)] = None,
    explain: bool = False,
) -> Response:
    _check_params(request)
    params = SearchQuery.model_construct(q=q, limit=limit, offset=offset, audience=audience or [],
                                         service=service or [], tag=tag or [], explain=explain)
    return await run_search(request, caller, params)


@router.post("/api/search")
async def search_post(request: Request, caller: CallerDep, _limit: RateLimitDep) -> Response:
    """The same search with a JSON body: for queries too long to travel well in a URL."""
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError("payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        params = SearchQuery.model_validate_json(b"".join(chunks))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ())) or "body"
        raise ApiError("validation_error", f"{loc}: {first.get('msg', 'invalid')}") from None
    return await run_search(request, caller, params)
