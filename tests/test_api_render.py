"""Article HTML is sanitised even though articles are trusted content.

An article carrying ``<script>``, event handlers, ``javascript:`` links (Markdown and raw HTML,
any letter case) and an ``<iframe>`` renders inert in the JSON ``html``, each section's HTML and
the page; relative links to other articles become article URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from indexer.build import build_index
from indexer.embed import Embedder
from tests.api_support import client_for, settings_for

HOSTILE = """---
id: hostile
title: Printer shows "Offline" <script>alert('title')</script>
audience: [end-user]
---

# Printer shows Offline

## Symptom

The printer says offline. <script>alert(1)</script>
<img src="x.png" onerror="alert(2)"> <a href="javascript:alert(3)" onclick="alert(4)">help</a>
[click me](javascript:alert(5)) and <a href="JaVaScRiPt:alert(6)">shout</a>
<iframe src="https://evil.example"></iframe><div onmouseover="alert(7)">hover</div>
<style>body{display:none}</style>

## Resolution

1. See [the other article](friendly.md) or <https://help.example/printers>.
"""

FRIENDLY = """---
id: friendly
title: Printer queue stuck
audience: [end-user]
services: [printing]
tags: [printing, queue]
---

# Printer queue stuck

## Symptom

Jobs stay in the queue.
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
           ) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("hostile")
    content = root / "content"
    content.mkdir()
    (content / "hostile.md").write_text(HOSTILE)
    (content / "friendly.md").write_text(FRIENDLY)
    build_index(content, root / "index", embedder)
    with client_for(settings_for(root, root / "index", content), embedder) as c:
        yield c


def _assert_inert(html: str) -> None:
    lowered = html.lower()
    assert "<script" not in lowered
    # "javascript:" may remain as visible text (a refused Markdown link), never as a URL.
    assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", lowered), html
    assert "<iframe" not in lowered and "<style" not in lowered
    assert not re.search(r"\son[a-z]+\s*=", lowered), html


def test_article_json_html_is_sanitised(client: TestClient) -> None:
    body = client.get("/api/articles/hostile").json()
    _assert_inert(body["html"])
    for section in body["sections"]:
        _assert_inert(section["html"])
    assert "help</a>" in body["html"]  # the link text survives, the handler and URL do not
    assert "<a " in body["html"] and 'href="javascript' not in body["html"].lower()
    assert 'href="/articles/friendly"' in body["html"]
    assert 'href="https://help.example/printers"' in body["html"]


def test_article_page_is_inert(client: TestClient) -> None:
    r = client.get("/articles/hostile")
    assert r.status_code == 200
    # The one script is our own file (the "was this helpful?" enhancement), never content's.
    assert re.findall(r"<script\b[^>]*>", r.text, re.I) == [
        '<script src="/static/article.js" defer>']
    _assert_inert(r.text.split("<article>", 1)[1])  # the page's own head comes before
    assert "&lt;script&gt;" in r.text  # the title is shown escaped, as text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "<style" not in r.text


def test_snippets_are_html_safe(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "printer offline script"}).json()
    assert body["results"]
    for r in body["results"]:
        _assert_inert(r["snippet"])
        assert "<" not in r["snippet"].replace("<mark>", "").replace("</mark>", "")


def test_article_page_prints_its_title_once_with_search_and_back_link(
        client: TestClient) -> None:
    """Issue 17 item 8: the title once, tags not repeated, a search box and a back link."""
    for article_id in ("hostile", "friendly"):
        page = client.get(f"/articles/{article_id}").text
        assert page.count("<h1") == 1, page
        tags = re.findall(r'<li class="tag">([^<]*)</li>', page)
        assert len(tags) == len({t.lower() for t in tags})
        if article_id == "friendly":
            assert tags == ["printing", "queue"]  # the service that is also a tag, once
        assert '<form class="search" action="/" method="get"' in page
        assert '<a class="back" href="/">' in page
    csp = client.get("/articles/friendly").headers["content-security-policy"]
    assert "form-action 'self'" in csp
