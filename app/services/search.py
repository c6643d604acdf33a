"""``SearchService``: every search of the service, from any route or domain package.

It owns the two pools a search runs on (its Python half on ``compute``, its dense leg on
``vectors``: native code without the GIL), attaches each result's freshness from memory, and
queues the search event for the writer thread. Routes validate, call ``search`` and encode;
the chatbot and the other domain packages get ``search_fn``, a ``SearchFn`` that runs on the
same pools from their worker threads.

    >>> page = await services.search.search(SearchRequest("ORA-12154"), label="anonymous")
    >>> page.hits[0].result.article.id
    'oracle-tns-could-not-resolve'
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import anyio.from_thread

from app.compute import ComputePool
from app.events import EventWriter
from app.index import IndexHolder
from app.models import SearchEventRow, utcnow
from app.render import article_url
from freshness.policy import Freshness, FreshnessSource
from indexer.search import Searcher, SearchPlan, SearchRequest, SearchResponse, SearchResult

log = logging.getLogger("fieldguide.search")


@dataclass(frozen=True)
class SearchHit:
    """One result as a reader sees it: the ranked article, its link and its freshness."""

    result: SearchResult
    url: str
    freshness: Freshness


@dataclass(frozen=True)
class SearchPage:
    """A page of results for one request, with what explains it."""

    request: SearchRequest
    response: SearchResponse
    hits: tuple[SearchHit, ...]
    search_id: str
    index_version: str
    showing_results_for: str | None = None  # the query found nothing; these are the suggestion's


def zero_result(response: SearchResponse) -> bool:
    """Analytics count a weak match as a zero-result search: the reader found no answer, and
    the query belongs in the missing-article backlog (``top_zero_result_queries``)."""
    return response.total == 0 or response.weak_match


class NoFreshness:
    """The source used before a freshness provider is configured: nothing is known."""

    def freshness(self, article_id: str) -> Freshness:
        return Freshness.UNKNOWN


# How much higher the suggestion's answer confidence must be than the query's (calibrated
# fusion: the answer model's probability) for "did you mean" to be offered over results that
# are already good.
SUGGESTION_MARGIN = 0.15


def _quality(response: SearchResponse) -> float:
    """How well a search's first result answers it: the answer model's confidence (calibrated
    fusion), else the first result's score."""
    if response.confidence is not None:
        return response.confidence
    return response.results[0].score if response.results else 0.0


class SearchService:
    def __init__(self, index: IndexHolder, compute: ComputePool, vectors: ComputePool,
                 url_for: Callable[[str], str], events: EventWriter | None = None,
                 freshness: FreshnessSource | None = None) -> None:
        self.index = index
        self.compute = compute
        self.vectors = vectors
        self.url_for = url_for
        self.events = events
        self.freshness: FreshnessSource = freshness or NoFreshness()

    async def search(self, request: SearchRequest, *, label: str = "anonymous",
                     record: bool = True, link_base: str | None = None) -> SearchPage:
        """``request`` on the pools; the event queued (``record``) under the caller's ``label``.
        Result links start with ``link_base`` (``app.links``: the HTTP request's address), else
        come from ``url_for`` (the configured public URL).

        The exact legs run first; when they decide (an error code, an alert name), the page is
        built in the same trip to the compute pool and the dense leg never runs."""
        searcher = self.index.searcher  # one snapshot for the whole request
        response = await self._run(searcher, request)
        response, showing = await self._weigh_suggestion(searcher, request, response)
        page = self._page(searcher, request, response, label if record else None, link_base)
        return dataclasses.replace(page, showing_results_for=showing) if showing else page

    async def _run(self, searcher: Searcher, request: SearchRequest) -> SearchResponse:
        done = await self.compute.run(self._begin, searcher, request)
        if isinstance(done, SearchResponse):
            return done
        await self.vectors.run(searcher.add_dense, done)
        return await self.compute.resume(self._finish, searcher, request, done)

    async def _weigh_suggestion(self, searcher: Searcher, request: SearchRequest,
                                response: SearchResponse) -> tuple[SearchResponse, str | None]:
        """A "did you mean" only when it is much better than the query: the suggestion is
        searched too (only queries with words the knowledge base does not know have one). When
        the query finds nothing (or no good match) and the suggestion does, the suggestion's
        results are the answer. Otherwise it is offered only when its best result scores
        ``SUGGESTION_MARGIN`` above the query's ("my laptop is super slow" is not improved by
        "supplier")."""
        if response.suggestion is None:
            return response, None
        alt = await self._run(searcher, dataclasses.replace(request, text=response.suggestion))
        if not alt.results:
            return dataclasses.replace(response, suggestion=None), None
        if not response.results or (response.weak_match and not alt.weak_match):
            return dataclasses.replace(alt, query=response.query,
                                       suggestion=response.suggestion), response.suggestion
        if _quality(alt) < _quality(response) + SUGGESTION_MARGIN:
            return dataclasses.replace(response, suggestion=None), None
        return response, None

    def search_fn(self, request: SearchRequest) -> SearchResponse:
        """A ``SearchFn`` for code on Starlette's worker threads (a chat turn): the search runs
        on the pools like any other, not on the calling thread. Outside a worker thread (a
        script, a test) it runs in the calling thread. Records no event: the chat logs its
        own turns."""
        try:
            return anyio.from_thread.run(self._response, request)
        except RuntimeError:  # not called from a worker thread of an event loop
            return self.index.searcher.run(request)

    async def _response(self, request: SearchRequest) -> SearchResponse:
        return (await self.search(request, record=False)).response

    @staticmethod
    def _begin(searcher: Searcher, request: SearchRequest) -> SearchResponse | SearchPlan:
        plan = searcher.plan(request.text, audiences=request.audiences,
                             services=request.services, tags=request.tags, legs=request.legs)
        if plan.needs_vector:
            return plan
        return SearchService._finish(searcher, request, plan)

    @staticmethod
    def _finish(searcher: Searcher, request: SearchRequest, plan: SearchPlan) -> SearchResponse:
        return searcher.finish(plan, limit=request.limit, offset=request.offset,
                               snippets=request.snippets)

    def _page(self, searcher: Searcher, request: SearchRequest, response: SearchResponse,
              label: str | None, link_base: str | None = None) -> SearchPage:
        def url(article_id: str) -> str:
            return link_base + article_url(article_id) if link_base else self.url_for(article_id)

        hits = tuple(SearchHit(r, url(r.article.id), self.freshness_of(r.article.id))
                     for r in response.results)
        search_id = uuid.uuid4().hex
        if label is not None and self.events is not None:
            # Queued for the writer thread: the answer does not wait for the database.
            self.events.put(
                SearchEventRow, search_id=search_id, at=utcnow(), query=response.query,
                normalized=response.normalized,
                result_ids=[r.article.id for r in response.results], total=response.total,
                took_ms=response.took_ms, zero_results=zero_result(response), audience=label,
                offset=request.offset)
        return SearchPage(request, response, hits, search_id, searcher.version)

    def freshness_of(self, article_id: str) -> Freshness:
        """The article's freshness from the source; ``UNKNOWN`` when the source fails."""
        try:
            return self.freshness.freshness(article_id)
        except Exception:  # a broken provider must not break search
            log.exception("freshness lookup failed for %s", article_id)
            return Freshness.UNKNOWN
