"""``GET /api/search``: the hybrid search, filtered to what the caller may see."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.access import Caller, CallerDep, RateLimitDep
from app.deps import ServicesDep
from app.errors import ApiError
from app.jsontypes import JsonInt
from app.links import link_base
from app.openapi import QUERY_TEXT, REQUIRED, VISIBLE
from app.routes.incidents import check_incident, note_search
from app.schemas import SearchPagePublic, search_page_json
from app.services import Services
from indexer.article import Audience
from indexer.search import SearchRequest

router = APIRouter(tags=["search"])

MAX_QUERY_BYTES = 8 * 1024  # a pasted stack trace fits; a whole log file does not
MAX_FILTER_VALUES = 20
MAX_BODY_BYTES = 64 * 1024
PARAMS = frozenset({"q", "limit", "offset", "audience", "service", "tag", "explain",
                    "typeahead", "incident"})


def _check_params(request: Request) -> None:
    unknown = sorted(set(request.query_params) - PARAMS)
    if unknown:
        raise ApiError("unknown_parameter", f"unknown parameter(s) {', '.join(unknown)}; "
                       f"allowed: {', '.join(sorted(PARAMS))}")


def _audiences(requested: list[str], allowed: frozenset[Audience],
               vocabulary: tuple[Audience, ...]) -> frozenset[Audience]:
    if not requested:
        return allowed
    try:
        wanted = {Audience.parse(a, vocabulary) for a in requested}
    except ValueError:
        # The allowed values named are the caller's own: the vocabulary is not listed to them.
        mine = ", ".join(a.value for a in vocabulary if a in allowed)
        raise ApiError("validation_error", f"audience: unknown audience (allowed: {mine})"
                       ) from None
    # Asking for more than the caller may see silently narrows: no error says what exists.
    return frozenset(wanted) & allowed


# The audiences a filter may name: names of FIELDGUIDE_AUDIENCES (the deployment's, so not
# listed here); the handler answers validation_error for anything else.
AUDIENCE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"  # app.openapi lists the vocabulary instead
_AUDIENCES: dict[str, Any] = {"items": {"type": "string", "pattern": AUDIENCE_PATTERN}}




class SearchQuery(BaseModel):
    """The parameters of a search, from the query string (GET) or a JSON body (POST)."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, description="The query: words, an error message, an alert "
                          "name or a pasted log line (up to 8 KB).", json_schema_extra=QUERY_TEXT)
    limit: JsonInt = Field(10, ge=1, le=50)
    offset: JsonInt = Field(0, ge=0, le=1000)
    audience: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES,
                                json_schema_extra=_AUDIENCES)
    service: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    tag: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    # strict: a JSON body says true, not 0 or "yes" (the query string's forms are GET's)
    explain: bool = Field(False, strict=True)
    typeahead: bool = Field(False, strict=True, description="A search made while the person is "
                            "still "
                            "typing: answered, not recorded in the search analytics (the widget "
                            "records the query they settle on).")
    incident: int | None = Field(None, ge=1, description="The incident this search is made "
                                 "for: recorded in its activity (404 for an unknown one).")


def _validated_query(q: str | None) -> str:
    if q is not None and len(q.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES:
        raise ApiError("query_too_long", f"the query is longer than {MAX_QUERY_BYTES} bytes; "
                       "paste the error message, not the whole log")
    if q is None or not VISIBLE.search(q):  # nothing but spaces and control characters
        raise ApiError("empty_query", "the query is empty: pass q=...")
    if "\x00" in q:
        raise ApiError("validation_error", "q: NUL characters are not allowed")
    return q


async def run_search(services: Services, caller: Caller, params: SearchQuery,
                     links: str) -> Response:
    """Validate, search the caller's part of the index (``SearchService``: its pools, the
    results' freshness, the event), encode. Result links start with ``links``.

    The answer is encoded here with orjson: FastAPI would encode a returned dict after a slower
    generic conversion. ``SearchPagePublic`` is the shape, declared for ``/openapi.json``."""
    q = _validated_query(params.q)
    await check_incident(services, params.incident)
    request = SearchRequest(q, _audiences(params.audience, caller.audiences,
                                          services.settings.audience_vocabulary),
                            services=tuple(params.service), tags=tuple(params.tag),
                            limit=params.limit, offset=params.offset)
    page = await services.search.search(request, label=caller.label,
                                        record=services.settings.record_search_events
                                        and not params.typeahead, link_base=links)
    if not params.typeahead:
        await note_search(services, params.incident, caller, q,
                          [h.result.article.id for h in page.hits])
    return Response(orjson.dumps(search_page_json(page, params.explain)),
                    media_type="application/json")


@router.get("/api/search", response_model=SearchPagePublic,
            openapi_extra={REQUIRED: ["q"]})
async def search(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    _limit: RateLimitDep,
    q: Annotated[str | None, Query(description="The query: words, an error message, "
                                   "an alert name or a pasted log line (up to 8 KB).",
                                   json_schema_extra=QUERY_TEXT)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
    audience: Annotated[list[str] | None, Query(max_length=MAX_FILTER_VALUES,
                                                json_schema_extra=_AUDIENCES)] = None,
    service: Annotated[list[str] | None, Query(max_length=MAX_FILTER_VALUES)] = None,
    tag: Annotated[list[str] | None, Query(max_length=MAX_FILTER_VALUES)] = None,
    explain: bool = False,
    typeahead: Annotated[bool, Query(description="Still typing: answered, not recorded.")] = False,
    incident: Annotated[int | None, Query(ge=1, description="The incident it is made for.")] = None,
) -> Response:
    _check_params(request)
    params = SearchQuery.model_construct(q=q, limit=limit, offset=offset, audience=audience or [],
                                         service=service or [], tag=tag or [], explain=explain,
                                         typeahead=typeahead, incident=incident)
    return await run_search(services, caller, params, link_base(request))


# q is checked by the handler (empty_query); the document says what it accepts.
_BODY_SCHEMA = SearchQuery.model_json_schema()
_BODY_SCHEMA["properties"]["q"] = {"type": "string", **QUERY_TEXT,
                                   "description": _BODY_SCHEMA["properties"]["q"]["description"]}


@router.post("/api/search", response_model=SearchPagePublic, openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": {
        **_BODY_SCHEMA, "required": ["q"]}}}}})
async def search_post(request: Request, services: ServicesDep, caller: CallerDep,
                      _limit: RateLimitDep) -> Response:
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
    return await run_search(services, caller, params, link_base(request))
