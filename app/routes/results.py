"""``GET /search``: every result of a query on one server-rendered page ("See all N results").

The widget's panel shows the first few results; this page lists them all, 20 to a page, with the
service and tag facets as links that narrow the query. It runs the same search as
``GET /api/search`` (``SearchService``: the caller's audiences, the rate limit, the search
event), renders every value escaped (titles and snippets keep only their ``<mark>``), and works
without JavaScript: the query box is a plain GET form.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.access import CallerDep, RateLimitDep
from app.deps import ServicesDep
from app.links import link_base
from app.routes.pages import _esc, _page
from app.services.search import SearchHit, SearchPage
from freshness.policy import Status
from indexer.search import SearchRequest

router = APIRouter(include_in_schema=False)

PER_PAGE = 20
MAX_OFFSET = 1000  # GET /api/search's bound: deeper pages are not worth ranking
MAX_FILTERS = 20
_MARK = re.compile(r"(</?mark>)")


def marked(text: str) -> str:
    """Search text as safe HTML: only ``<mark>``/``</mark>`` survive, everything else escaped.

    The snippet and title come HTML-escaped with marks from the indexer; they are unescaped and
    escaped again part by part, so no markup of an article can get through even if they did not.
    """
    out = []
    for part in _MARK.split(text):
        out.append(part if part in ("<mark>", "</mark>") else html.escape(html.unescape(part)))
    return "".join(out)


def _href(q: str, services: list[str], tags: list[str], page: int = 1) -> str:
    """The page's own link for another query, filters or page (relative: "?q=...")."""
    params: list[tuple[str, str]] = [("q", q)]
    params += [("service", s) for s in services] + [("tag", t) for t in tags]
    if page > 1:
        params.append(("page", str(page)))
    return "?" + urllib.parse.urlencode(params)


def _facets(page: SearchPage, q: str, services: list[str], tags: list[str]) -> str:
    groups = []
    for label, name, values, chosen in (
            ("Services", "service", page.response.facets.services, services),
            ("Tags", "tag", page.response.facets.tags, tags)):
        links = []
        for value in chosen:  # a filter in use: its link removes it
            rest = [v for v in chosen if v != value]
            href = _href(q, rest, tags) if name == "service" else _href(q, services, rest)
            links.append(f'<a class="facet on" aria-pressed="true" href="{_esc(href)}" '
                         f'title="Remove this filter">{_esc(value)} ×</a>')
        for value, count in values:
            if value in chosen:
                continue
            href = (_href(q, [*services, value], tags) if name == "service"
                    else _href(q, services, [*tags, value]))
            links.append(f'<a class="facet" href="{_esc(href)}">{_esc(value)} '
                         f'<span class="n">{count}</span></a>')
        if links:
            groups.append(f'<div class="facet-group" role="group" aria-label="{label}">'
                          f'<span class="facet-label">{label}</span>{"".join(links)}</div>')
    return f'<nav class="facets" aria-label="Narrow the results">{"".join(groups)}</nav>' \
        if groups else ""


def _result(hit: SearchHit) -> str:
    r = hit.result
    title = marked(r.title_marked) if r.title_marked else _esc(r.article.title)
    badge = ""
    if hit.freshness.banner or hit.freshness.status is Status.UNVERIFIED:
        badge = '<span class="status unverified">Unverified</span>'
    elif hit.freshness.status is Status.STALE:
        badge = '<span class="status stale">Review due</span>'
    section = (f'<span class="section">{_esc(r.snippet_section)} ›</span> '
               if r.snippet_section else "")
    snippet = f'<p class="snippet">{section}{marked(r.snippet)}</p>' if r.snippet else ""
    labels = "".join(f'<span class="tag">{_esc(v)}</span>'
                     for v in dict.fromkeys((*r.article.services, *r.article.tags)))
    tags = f'<p class="tags">{labels}</p>' if labels else ""
    return (f'<li class="result"><h2><a href="{_esc(hit.url)}">{title}</a> {badge}</h2>'
            f'{snippet}{tags}</li>')


def _pager(page: SearchPage, q: str, services: list[str], tags: list[str], number: int) -> str:
    last = max(1, min(-(-page.response.total // PER_PAGE), MAX_OFFSET // PER_PAGE + 1))
    if last == 1:
        return ""
    prev = (f'<a rel="prev" href="{_esc(_href(q, services, tags, number - 1))}">‹ Previous</a>'
            if number > 1 else "")
    nxt = (f'<a rel="next" href="{_esc(_href(q, services, tags, number + 1))}">Next ›</a>'
           if number < last else "")
    return (f'<nav class="pager" aria-label="Pages">{prev}<span>Page {number} of {last}</span>'
            f'{nxt}</nav>')


def _form(q: str, services: list[str], tags: list[str], action: str) -> str:
    hidden = "".join(f'<input type="hidden" name="{name}" value="{_esc(v)}">'
                     for name, values in (("service", services), ("tag", tags)) for v in values)
    return (f'<form class="results-search" method="get" action="{_esc(action)}" role="search">'
            '<label class="sr-only" for="fg-q">Search the knowledge base</label>'
            f'<input id="fg-q" type="search" name="q" value="{_esc(q)}" '
            'placeholder="Paste an error message, an alert name or a question">'
            f'{hidden}<button type="submit" class="primary">Search</button></form>')


Filters = Annotated[list[str] | None, Query(max_length=MAX_FILTERS)]


@router.get("/search", response_class=HTMLResponse)
async def results_page(request: Request, services: ServicesDep, caller: CallerDep,
                       _limit: RateLimitDep,
                       q: Annotated[str, Query(max_length=8192)] = "",
                       service: Filters = None, tag: Filters = None,
                       page: Annotated[int, Query(ge=1, le=MAX_OFFSET // PER_PAGE + 1)] = 1
                       ) -> Response:
    """Every result of ``q`` the caller may see, a page at a time (HEAD answers like GET)."""
    chosen_services, chosen_tags = list(service or []), list(tag or [])
    query = " ".join(q.split())
    root = str(request.base_url).rstrip("/")  # the pages' own links, like the site header's
    if not query or "\x00" in query:
        body = ('<h1>Search the knowledge base</h1>'
                + _form("", chosen_services, chosen_tags, f"{root}/search"))
        return _page(request, title="Fieldguide: search", body=body, current="/",
                     body_class="results")
    found = await services.search.search(
        SearchRequest(query, caller.audiences, services=tuple(chosen_services),
                      tags=tuple(chosen_tags), limit=PER_PAGE, offset=(page - 1) * PER_PAGE),
        label=caller.label, record=services.settings.record_search_events,
        link_base=link_base(request))
    resp = found.response
    total = resp.total
    count = "1 result" if total == 1 else f"{total} results"
    notes = []
    if found.showing_results_for:
        notes.append(f'<p class="note">Showing results for “{_esc(found.showing_results_for)}”'
                     '</p>')
    elif resp.suggestion:
        notes.append(f'<p class="note">Did you mean <a href="'
                     f'{_esc(_href(resp.suggestion, chosen_services, chosen_tags))}">'
                     f'{_esc(resp.suggestion)}</a>?</p>')
    ask = f'<a href="{_esc(root)}/chat">Ask the assistant</a>'
    if resp.weak_match and found.hits and not found.showing_results_for:
        notes.append('<p class="note weak">No good match: the knowledge base may not cover this '
                     f'yet. These are the nearest articles. {ask}</p>')
    items = "".join(_result(h) for h in found.hits)
    listing = (f'<ol class="results" start="{(page - 1) * PER_PAGE + 1}">{items}</ol>' if items
               else f'<p class="note">No results for “{_esc(query)}”. {ask}</p>')
    body = (f'<h1>Results for “{_esc(query)}”</h1>'
            + _form(query, chosen_services, chosen_tags, f"{root}/search")
            + f'<p class="count" role="status">{count}</p>' + "".join(notes)
            + _facets(found, query, chosen_services, chosen_tags) + listing
            + _pager(found, query, chosen_services, chosen_tags, page))
    return _page(request, title=f"Fieldguide: {query[:80]}", body=body, current="/",
                 body_class="results")
