"""The search panel's server side (issue 17 item 9), through the real app.

1. `GET /api/search` carries facets over every result: picking one (service= / tag=) narrows
   the query to exactly the count it showed.
2. `GET /search` ("See all N results") lists every result the caller may see, a page at a
   time: the count matches the API's total, anonymous readers never see an engineer article,
   titles and snippets are escaped (only <mark> survives), facets are links that narrow.
3. `HEAD /` (and the other pages) answers like GET without a body; the JSON API keeps its
   documented methods.
4. A browser call from an origin missing from FIELDGUIDE_CORS_ORIGINS is logged with the origin
   and the setting, once per origin per ten minutes; allowed and own origins never are.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.origins import LOG_EVERY_S, RateLimitedLog
from app.routes.results import PER_PAGE, marked
from indexer.build import build_index
from indexer.embed import Embedder
from tests.api_support import CONTENT, ENGINEER, client_for, settings_for

WIKI = "https://wiki.example"
HOSTILE = '<img src=x onerror=alert(1)> Printer jams'
ARTICLE = """\
---
id: {id}
title: {title}
audience: {audience}
services: [printing]
tags: [{tag}]
---
## Symptom
The floor printer jams <b>on every page</b> after the tray is opened.

## Resolution
1. Remove the paper and restart the printer.
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("results")
    settings = settings_for(tmp, kb_index, cors_origins=[WIKI])
    with client_for(settings, embedder) as c:
        yield c


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("results-tiny")
    content = root / "content"
    content.mkdir()
    shutil.copy(CONTENT / "teams.yaml", content / "teams.yaml")
    for i, (title, audience, tag) in enumerate([
            (f'"{HOSTILE}"', "end-user", "paper"),
            ("Printer jams in the engineering lab", "engineer", "lab"),
            ("Printer jams with the duplex unit", "end-user", "duplex")]):
        (content / f"p{i}.md").write_text(ARTICLE.format(id=f"printer-{i}", title=title,
                                                         audience=audience, tag=tag),
                                          encoding="utf-8")
    index = root / "index"
    build_index(content, index, embedder.with_cache(index / "embeddings.sqlite"))
    with client_for(settings_for(root, index, content_dir=content), embedder) as c:
        yield c


def _ids(page: str) -> list[str]:
    return re.findall(r'<li class="result"><h2><a href="[^"]*/articles/([^"]+)"', page)


# ---- 1. facets ----

def test_facets_count_every_result_and_narrow_to_that_count(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "vpn", "limit": 3}).json()
    assert len(body["results"]) == 3 < body["total"]
    services = body["facets"]["services"]
    assert services and set(body["facets"]) == {"services", "tags"}
    counts = [f["count"] for f in services]
    assert counts == sorted(counts, reverse=True)
    for facet, name in ((services[0], "service"), (body["facets"]["tags"][0], "tag")):
        narrowed = client.get("/api/search", params={"q": "vpn", name: facet["value"]}).json()
        assert narrowed["total"] == facet["count"]
        assert all(facet["value"] in r[f"{name}s"] for r in narrowed["results"])


# ---- 2. the results page ----

def test_see_all_lists_every_result_a_page_at_a_time(client: TestClient) -> None:
    api = client.get("/api/search", params={"q": "connection", "limit": 50},
                     headers=ENGINEER).json()
    assert api["total"] > PER_PAGE  # two pages at least
    first = client.get("/search", params={"q": "connection"}, headers=ENGINEER)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in first.headers["content-security-policy"]
    assert f'<p class="count" role="status">{api["total"]} results</p>' in first.text
    page1 = _ids(first.text)
    assert page1 == [r["id"] for r in api["results"][:PER_PAGE]]
    second = client.get("/search", params={"q": "connection", "page": 2}, headers=ENGINEER).text
    assert _ids(second) == [r["id"] for r in api["results"][PER_PAGE:2 * PER_PAGE]]
    assert '<ol class="results" start="21">' in second
    assert 'rel="prev"' in second and "Page 2 of" in second


def test_the_results_page_respects_audiences(client: TestClient) -> None:
    anonymous = _ids(client.get("/search", params={"q": "database connection pool"}).text)
    engineer = _ids(client.get("/search", params={"q": "database connection pool"},
                               headers=ENGINEER).text)
    assert not any(i.startswith("engineering/") or "pool" in i for i in anonymous)
    assert any("pool" in i for i in engineer)


def test_the_results_page_escapes_titles_and_snippets(tiny: TestClient) -> None:
    page = tiny.get("/search", params={"q": "printer jams"}).text
    assert "<img" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<mark>" in page  # the marks are kept
    assert _ids(page) and "printer-1" not in _ids(page)  # the engineer article stays hidden
    assert '<p class="count" role="status">2 results</p>' in page
    # A tag facet is a link that narrows the page to that tag.
    href = re.search(r'<a class="facet" href="([^"]*tag=duplex[^"]*)"', page)
    assert href is not None
    narrowed = tiny.get("/search" + href.group(1).replace("&amp;", "&")).text
    assert _ids(narrowed) == ["printer-2"]
    assert 'aria-pressed="true"' in narrowed  # the filter in use, its link removes it


def test_marked_keeps_only_marks() -> None:
    assert marked("<mark>VPN</mark> &lt;script&gt;") == "<mark>VPN</mark> &lt;script&gt;"
    assert marked("<script>x</script><mark>a</mark>") == "&lt;script&gt;x&lt;/script&gt;" \
        "<mark>a</mark>"


def test_an_empty_query_shows_the_search_form(client: TestClient) -> None:
    page = client.get("/search").text
    assert '<form class="results-search" method="get"' in page and 'class="result"' not in page


# ---- 3. HEAD ----

@pytest.mark.parametrize("path", ["/", "/chat", "/embed", "/search?q=vpn"])
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == 200 == get.status_code
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]


def test_the_api_keeps_its_documented_methods(client: TestClient) -> None:
    assert client.head("/api/search", params={"q": "vpn"}).status_code == 405


# ---- 4. a wiki missing from CORS is named in the log ----

def test_a_refused_origin_is_logged_once_with_the_setting(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fieldguide.cors"):
        for _ in range(3):
            client.get("/api/search", params={"q": "vpn"},
                       headers={"Origin": "https://other-wiki.example"})
        client.options("/api/chat", headers={"Origin": "https://third.example",
                                              "Access-Control-Request-Method": "POST"})
        client.get("/api/search", params={"q": "vpn"}, headers={"Origin": WIKI})
        client.get("/api/search", params={"q": "vpn"}, headers={"Origin": "http://localhost"})
        client.get("/", headers={"Origin": "https://pages.example"})  # not the API
    lines = [r.getMessage() for r in caplog.records if r.name == "fieldguide.cors"]
    assert len(lines) == 2, lines
    assert "'https://other-wiki.example'" in lines[0] and "FIELDGUIDE_CORS_ORIGINS" in lines[0]
    assert "'https://third.example'" in lines[1]


def test_the_log_limit_is_per_origin_per_ten_minutes() -> None:
    now = [0.0]
    limit = RateLimitedLog(clock=lambda: now[0], size=2)
    assert limit.should("a") and not limit.should("a") and limit.should("b")
    now[0] = LOG_EVERY_S - 1
    assert not limit.should("a")
    now[0] = LOG_EVERY_S
    assert limit.should("a")
    assert limit.should("c")  # a third origin pushes out the oldest ("b")
    assert limit.should("b")


def test_an_incident_id_past_sqlite_integers_is_a_404(client: TestClient) -> None:
    """Found by schemathesis's stateful run: ``incident=`` on a search or an article page with an
    id no database integer holds answered 500 (SQLite could not bind it)."""
    huge = "2631530448677887927106332804153081856"
    for url in (f"/api/search?q=vpn&incident={huge}",
                f"/api/articles/vpn-keeps-disconnecting?incident={huge}",
                f"/articles/vpn-keeps-disconnecting?incident={huge}"):
        r = client.get(url)
        assert r.status_code == 404, (url, r.text)
        assert r.json()["error"]["code"] == "not_found"
