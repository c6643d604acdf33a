"""The service's own pages (/, /chat, /embed, /freshness) and /static, all under a strict CSP.

Pages carry no inline script or style: each is a shell that loads ``/static/widget.js`` (and,
for the owners' page, ``/static/freshness.js``); data reaches scripts through ``data-*`` and
element attributes only. ``create_app`` includes ``router`` and calls ``mount(app)``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import os
from pathlib import Path
from string import Template
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app import csrf
from app.access import ANONYMOUS
from app.links import link_base
from app.settings import Settings
from app.signin_view import page_caller, who
from app.trust_view import trust_section
from freshness.report import build_report

TEMPLATE = Template((Path(__file__).resolve().parents[1] / "templates" / "shell.html")
                    .read_text(encoding="utf-8"))

# 'self' only: no inline code, no eval, no third parties. The widget's styles are constructable
# stylesheets, which CSP does not treat as inline.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors {ancestors}")

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
}

router = APIRouter(include_in_schema=False)


class StaticAssets(StaticFiles):
    """StaticFiles with explicit content types and cache headers.

    ``?v=<hash>`` URLs (what our pages emit) never change, so they are immutable for a year; a
    bare ``/static/widget.js`` (what wikis paste) is revalidated every 5 minutes through its ETag,
    so a deploy reaches every wiki quickly.
    """

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        kind = CONTENT_TYPES.get(Path(full_path).suffix.lower())
        if kind:
            response.headers["content-type"] = kind
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["cache-control"] = ("public, max-age=31536000, immutable" if versioned
                                             else "public, max-age=300")
        response.headers["x-content-type-options"] = "nosniff"
        # Wikis load widget.js cross-origin; allow it under COEP/CORP and with crossorigin=.
        response.headers["cross-origin-resource-policy"] = "cross-origin"
        response.headers["access-control-allow-origin"] = "*"
        return response


_VERSIONS: dict[tuple[str, int], str] = {}


def asset_version(static_dir: Path, name: str) -> str:
    """A short content hash, so our own pages can cache the assets forever."""
    path = static_dir / name
    try:
        key = (name, path.stat().st_mtime_ns)
        if key not in _VERSIONS:
            _VERSIONS[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return _VERSIONS[key]
    except OSError:
        return "0"


def _endpoint(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _esc(value: str) -> str:
    return html.escape(value, quote=True)


def _header(current: str, base: str, who_html: str = "", engineer: bool = False) -> str:
    links = [("/", "Search"), ("/chat", "Ask"), ("/freshness", "Freshness")]
    if engineer:  # the pages only engineers and admins may open
        links += [("/incidents", "Incidents"), ("/insights", "Insights")]
    current_attr = ' aria-current="page"'
    items = "".join(
        f'<a href="{_esc(base + href)}"{current_attr if href == current else ""}>{label}</a>'
        for href, label in links)
    return (f'<header class="site"><a class="brand" href="{_esc(base)}/">Fieldguide</a>'
            f'<nav aria-label="Site">{items}</nav>{who_html}</header>')


def _page(request: Request, *, title: str, body: str, current: str = "", body_class: str = "",
          scripts: tuple[str, ...] = (), header: bool = True,
          ancestors: str = "'none'") -> Response:
    base = _endpoint(request)
    settings: Settings = request.app.state.settings

    def asset(name: str) -> str:
        return _esc(f"{base}/static/{name}?v={asset_version(settings.static_dir, name)}")

    tags = "\n".join(f'<script src="{asset(name)}" defer></script>' for name in scripts)
    caller = page_caller(request) if header else None
    text = TEMPLATE.substitute(
        title=_esc(title), css_href=asset("pages.css"), widget_src=asset("widget.js"),
        endpoint=_esc(base), scripts=tags, body=body, body_class=_esc(body_class),
        header=_header(current, base, who(request, caller),
                       caller is not None and caller.engineer) if header else "")
    return csrf.attach(request, HTMLResponse(text, headers={
        "content-security-policy": PAGE_CSP.format(ancestors=ancestors),
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
        # The header says who is signed in: no shared cache may keep a page for the next one.
        "cache-control": "private, no-cache",
        "vary": "Cookie",
    }))


def _widget(request: Request, *, tab: str = "search", query: str = "", theme: str = "",
            target: str = "_self") -> str:
    attrs = {"endpoint": _endpoint(request), "layout": "inline", "tab": tab, "target": target}
    if query:
        attrs["query"] = query
    if theme and theme != "auto":
        attrs["theme"] = theme
    rendered = " ".join(f'{k}="{_esc(v)}"' for k, v in attrs.items())
    return f"<fieldguide-search {rendered}></fieldguide-search>"


QueryText = Annotated[str, Query(max_length=8192, description="A query to run on load.")]


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request, q: QueryText = "") -> Response:
    body = ('<h1>Search the knowledge base</h1>'
            '<p class="lede">Paste an error message, an alert name or a question. '
            'Press <kbd>/</kbd> or <kbd>Ctrl K</kbd> from anywhere on the page.</p>'
            + _widget(request, query=q))
    return _page(request, title="Fieldguide: search", body=body, current="/",
                 body_class="full")


@router.get("/chat", response_class=HTMLResponse)
def chat_page(request: Request) -> Response:
    body = ('<h1>Ask the assistant</h1>'
            '<p class="lede">It answers from the knowledge base, says so when it does not know, '
            'and hands you over to a person with everything you already tried.</p>'
            + _widget(request, tab="ask"))
    return _page(request, title="Fieldguide: ask", body=body, current="/chat", body_class="full")


@router.get("/embed", response_class=HTMLResponse)
def embed_page(
    request: Request,
    tab: Annotated[Literal["search", "ask"], Query(description="Initial tab.")] = "search",
    theme: Annotated[Literal["auto", "light", "dark"],
                     Query(description="Colour scheme.")] = "auto",
    target: Annotated[Literal["_blank", "_top"], Query(
        description="Where results open: a new tab (default) or the whole wiki page.")] = "_blank",
    q: QueryText = "",
) -> Response:
    """The iframe embed, for wikis that forbid third-party scripts (Confluence Cloud...)."""
    settings: Settings | None = getattr(request.app.state, "settings", None)
    origins = list(settings.cors_origins) if settings is not None else []
    # Framing is allowed from the wikis that may call the API, or anywhere when none are set.
    ancestors = " ".join(origins) if origins and "*" not in origins else "*"
    return _page(request, title="Fieldguide", body=_widget(request, tab=tab, query=q, theme=theme,
                                                           target=target),
                 body_class=f"embed theme-{theme}", header=False, ancestors=ancestors)


def _trust(request: Request) -> str:
    """The trust section for what this caller may read (anonymous: end-user articles)."""
    services = request.app.state.services
    caller = page_caller(request)
    audiences = caller.audiences if caller is not None else ANONYMOUS
    now = dt.datetime.now(dt.UTC)
    rows = services.freshness.assess(list(services.index.searcher.articles(audiences)), now)
    report = build_report(rows, link_base(request))
    names = {t.id: t.name for t in services.freshness.teams().teams.values()}
    return trust_section(report, names)


@router.get("/freshness", response_class=HTMLResponse)
def freshness_page(request: Request) -> Response:
    body = ('<h1>Articles due for review</h1>'
            '<p class="lede">Stale and unverified articles, and those readers voted unhelpful, '
            'by team and owner. Mark one reviewed once you have read it: still accurate, '
            'updated, or retire it.</p>'
            + _trust(request) +
            '<h2 class="to-review">To review</h2>'
            '<form id="fg-token" class="token" autocomplete="off">'
            '<label for="fg-token-input">Review token</label>'
            '<input id="fg-token-input" type="password" name="token" '
            'placeholder="Paste your review token">'
            '<button type="submit">Use token</button>'
            '<span id="fg-token-state" role="status"></span></form>'
            '<div class="filters"><label><input type="checkbox" id="fg-show-due" checked> '
            'Include due soon</label></div>'
            f'<div id="fg-freshness" data-endpoint="{_esc(_endpoint(request))}" aria-live="polite">'
            '<p class="loading">Loading…</p></div>')
    return _page(request, title="Fieldguide: freshness", body=body, current="/freshness",
                 scripts=("freshness.js",), body_class="full")


def mount(app: FastAPI, static_dir: Path) -> None:
    """Mount ``/static`` (from ``static_dir``) on ``app``; ``create_app`` calls this after
    including ``router``."""
    app.mount("/static", StaticAssets(directory=static_dir, check_dir=False), name="static")
