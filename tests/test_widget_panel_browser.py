"""The search panel in real headless Chromium (issue 17 item 9), on a strict-CSP wiki of another
origin, against the real server.

1. The panel shows how many results the query has and its service/tag facets; a facet narrows
   the results to the count it showed and can be dropped again.
2. "See all N results" opens the service's results page, which lists all N, under its CSP,
   and fits a phone's width.
3. `/` opens the widget again after Esc closed it (focus is then on the widget's own button).
4. A wiki whose origin is missing from FIELDGUIDE_CORS_ORIGINS: the widget says plainly that
   the site is not allowed to use the knowledge base (not "Failed to fetch"), and the server
   logs that origin with the setting to change.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from indexer.embed import Embedder
from tests.browser.harness import ARTIFACTS, CHROMIUM, HostServer, ServerThread, browser, shot
from tests.browser.service import start_service
from tests.test_widget_browser import WIDGET, no_violations, open_page, wait_state, wiki

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install "
                       "chromium chromium-driver"),
]

CONTENT = Path(__file__).resolve().parent.parent / "content"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
DESKTOP = {"width": 1100, "height": 860}


@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    with HostServer() as server:
        yield server


@pytest.fixture(scope="module")
def stranger() -> Iterator[HostServer]:
    """A wiki on an origin the service was not told about."""
    with HostServer() as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, kb_index: Path, embedder: Embedder,
            host: HostServer) -> Iterator[ServerThread]:
    server = start_service(tmp_path_factory.mktemp("panel"), CONTENT, kb_index, embedder,
                           [host.origin])
    yield server
    server.__exit__(None, None, None)


def keep(page: Any, name: str, full_page: bool = False) -> None:
    """A screenshot for the README (docs/screenshots) as well as the test artifacts."""
    if full_page:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
    else:
        path = shot(page, name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / path.name)


def api(server: ServerThread, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/search", params={"limit": 8, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# ---- 1 and 2 ----

def test_count_facets_and_see_all(chromium: Any, host: HostServer,
                                  service: ServerThread) -> None:
    expected = api(service, q="vpn")
    assert expected["total"] > len(expected["results"])
    page, watch = open_page(chromium, wiki(host, service.url, "panel"), viewport=DESKTOP)
    page.keyboard.press("Control+k")
    page.get_by_role("combobox").fill("vpn")
    wait_state(page, "results")
    expect(page.locator(f"{WIDGET} .summary .count")).to_have_text(
        f"{expected['total']} results")
    chips = page.locator(f"{WIDGET} .facet[data-facet=service]")
    assert chips.count() >= 2
    see_all = page.get_by_role("link", name=f"See all {expected['total']} results")
    assert see_all.is_visible()
    keep(page, "widget-count-facets")

    # A facet narrows to exactly its count, and shows as pressed; pressing it again widens.
    facet = expected["facets"]["services"][1]
    page.locator(f"{WIDGET} .facet[data-facet=service][aria-pressed=false]",
                 has_text=re.compile(rf"^{re.escape(facet['value'])}\d+$")).click()
    expect(page.locator(f"{WIDGET} .facet[aria-pressed=true]")).to_have_count(1)
    wait_state(page, "results")
    narrowed = api(service, q="vpn", service=facet["value"])
    assert narrowed["total"] == facet["count"]
    expect(page.locator(f"{WIDGET} .summary .count")).to_have_text(
        re.compile(rf"^{facet['count']} results?$"))
    ids = [page.get_by_role("option").nth(i).get_attribute("data-id")
           for i in range(page.get_by_role("option").count())]
    assert ids == [r["id"] for r in narrowed["results"]]
    keep(page, "widget-facet-picked")
    page.locator(f"{WIDGET} .facet[aria-pressed=true]").click()
    expect(page.locator(f"{WIDGET} .summary .count")).to_have_text(
        f"{expected['total']} results")

    # "See all N results": the service's own page lists all of them.
    see_all = page.get_by_role("link", name=f"See all {expected['total']} results")
    with page.expect_navigation():
        see_all.click()
    assert page.url.startswith(f"{service.url}/search?q=vpn")
    assert page.locator("p.count").text_content() == f"{expected['total']} results"
    assert page.locator("ol.results li.result").count() == expected["total"]
    assert page.locator("ol.results h2 a").first.get_attribute("href") == \
        expected["results"][0]["url"]
    keep(page, "results-page", full_page=True)
    no_violations(page, watch)
    page.context.close()

    phone, phone_watch = open_page(chromium, f"{service.url}/search?q=vpn",
                                   viewport={"width": 390, "height": 844}, is_mobile=True)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    keep(phone, "results-page-phone")
    no_violations(phone, phone_watch)
    phone.context.close()


# ---- 3 ----

def test_slash_reopens_the_widget_after_escape(chromium: Any, host: HostServer,
                                               service: ServerThread) -> None:
    page, watch = open_page(chromium, wiki(host, service.url, "slash"))
    dialog = page.locator(f"{WIDGET} dialog")
    page.locator("h1").click()
    page.keyboard.press("/")
    assert dialog.evaluate("d => d.open")
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    trigger = page.get_by_role("button", name="Search the knowledge base")
    assert trigger.evaluate("el => el.getRootNode().activeElement === el")  # focus came back
    page.keyboard.press("/")
    assert dialog.evaluate("d => d.open")
    box = page.get_by_role("combobox")
    assert box.evaluate("el => el.getRootNode().activeElement === el")
    page.keyboard.type("/")  # typed in the box, it is a character, not a shortcut
    assert box.input_value() == "/"
    no_violations(page, watch)
    page.context.close()


# ---- 4 ----

def test_a_wiki_missing_from_cors_is_told_so_plainly(
        chromium: Any, stranger: HostServer, service: ServerThread,
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fieldguide.cors"):
        page, watch = open_page(chromium, wiki(stranger, service.url, "not-allowed"),
                                viewport=DESKTOP)
        page.keyboard.press("Control+k")
        page.get_by_role("combobox").fill("printer offline")
        wait_state(page, "error")
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("not allowed")
        text = alert.text_content() or ""
        assert "This site is not allowed to use this knowledge base." in text
        assert stranger.origin in text and "Failed to fetch" not in text
        assert page.get_by_role("button", name="Try again").count() == 0
        keep(page, "widget-origin-refused")
        no_violations(page, watch)
        page.context.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "fieldguide.cors"]
    assert any(repr(stranger.origin) in line and "FIELDGUIDE_CORS_ORIGINS" in line
               for line in lines), lines
