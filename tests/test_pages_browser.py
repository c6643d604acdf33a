"""The article page and the freshness page in real headless Chromium, at a phone's width.

1. The article page names the owning team the freshness job uses (vpn-keeps-disconnecting:
   "unassigned (reviewed by team network)"); "Was this helpful?" sends in place through
   static/article.js (no navigation, the answer announced), with zero CSP violations.
2. With JavaScript off the same form posts, and the page it comes back to thanks the reader.
3. The freshness page on a phone keeps the Review-by column inside the screen in every table,
   the tables' columns line up, the trust chart shows; zero CSP violations.
4. A review from that page is recorded under the person whose key it is, and shown.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.db import engine_for, session_factory
from app.people import PersonKeys, Role
from indexer.embed import Embedder
from tests.browser.harness import PageWatch, ServerThread, dump, shot
from tests.browser.service import start_service
from tests.test_widget_browser import chromium, pytestmark  # noqa: F401 - fixtures

CONTENT = Path(__file__).resolve().parent.parent / "content"
DOCS_SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
VPN = "vpn-keeps-disconnecting"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
            embedder: Embedder) -> Iterator[ServerThread]:
    server = start_service(tmp_path_factory.mktemp("pages-service"), CONTENT, kb_index,
                           embedder, [])
    yield server
    server.__exit__(None, None, None)


def open_page(chromium: Any, url: str, **context: Any) -> tuple[Any, PageWatch]:  # noqa: F811
    page = chromium.new_context(**context).new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(url)
    return page, watch


def keep(page: Any, name: str) -> None:
    """A screenshot in tests/artifacts and, for the README, in docs/screenshots."""
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot(page, name), DOCS_SHOTS / f"{name}.png")


def test_article_page_vote_sends_in_place_on_a_phone(chromium: Any,  # noqa: F811
                                                     service: ServerThread) -> None:
    page, watch = open_page(chromium, f"{service.url}/articles/{VPN}", **PHONE)
    meta = page.locator("dl.meta")
    assert "unassigned (reviewed by team network)" in meta.inner_text()
    assert meta.locator("dt:text-is('Team') + dd").inner_text() == "network"
    assert page.locator("h1").count() == 1
    box = page.locator("section.helpful")
    box.scroll_into_view_if_needed()
    with page.expect_response(lambda r: r.url.endswith(f"/articles/{VPN}/helpful")) as sent:
        box.get_by_role("button", name="No").click()
    assert sent.value.status == 200
    assert sent.value.json()["helpful"] is False
    status = box.get_by_role("status")
    status.filter(has_text="Thanks for telling us").wait_for()
    assert page.url == f"{service.url}/articles/{VPN}"  # no navigation: sent in place
    assert box.get_by_role("button", name="No").get_attribute("aria-pressed") == "true"
    assert box.get_by_role("button", name="Yes").get_attribute("aria-pressed") == "false"
    assert watch.violations(page) == [], dump(watch.violations(page))
    assert watch.errors == [], watch.errors
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing runs off a phone's screen
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    keep(page, "article-helpful-phone")


def test_article_page_vote_works_without_javascript(chromium: Any,  # noqa: F811
                                                    service: ServerThread) -> None:
    page, _watch = open_page(chromium, f"{service.url}/articles/{VPN}",
                             java_script_enabled=False)
    with page.expect_navigation():
        page.locator("section.helpful").get_by_role("button", name="Yes").click()
    assert page.url == f"{service.url}/articles/{VPN}?voted=yes#helpful"
    assert page.locator("section.helpful .vote-status").inner_text() == "Thanks: glad it helped."


def _loaded(page: Any, times: int = 1) -> None:
    # A locator, not wait_for_function: polling a string would need 'unsafe-eval'.
    page.locator(f'#fg-freshness[data-loads="{times}"]').wait_for(state="attached")


def test_freshness_page_on_a_phone_keeps_review_by_and_even_tables(
        chromium: Any, service: ServerThread) -> None:  # noqa: F811
    page, watch = open_page(chromium, f"{service.url}/freshness", **PHONE)
    _loaded(page)
    chart = page.locator("svg.trust-chart")
    assert chart.is_visible()
    assert chart.locator("title").text_content() == "Trust score by team"
    assert page.locator("table.trust-table tbody tr").count() >= 2
    tables = page.locator("table.review-list")
    assert tables.count() >= 2
    heads = page.locator("table.review-list th", has_text="Review by")
    boxes = [heads.nth(i).bounding_box() for i in range(heads.count())]
    assert len(boxes) == tables.count()
    for b in boxes:
        assert b is not None and b["width"] > 30 and b["x"] + b["width"] <= 390, b
    assert len({round(b["x"]) for b in boxes if b}) == 1  # the columns line up table to table
    cells = page.locator("table.review-list tbody tr td:nth-child(3)")
    assert cells.first.is_visible() and cells.first.inner_text().strip()
    overflow = page.evaluate("""[...document.querySelectorAll('table')].filter(
        (t) => t.scrollWidth > t.clientWidth + 1).length""")
    assert overflow == 0
    spill = page.evaluate("""[...document.querySelectorAll('td')].filter((td) =>
        [...td.children].some((c) => c.getBoundingClientRect().right >
                                     td.getBoundingClientRect().right + 0.5)).length""")
    assert spill == 0  # no badge or button runs into the next column
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert watch.violations(page) == [], dump(watch.violations(page))
    assert watch.errors == [], watch.errors
    keep(page, "freshness-phone")
    tables.first.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -80)")
    keep(page, "freshness-phone-review")
    desk, _ = open_page(chromium, f"{service.url}/freshness",
                        viewport={"width": 1100, "height": 900})
    _loaded(desk)
    keep(desk, "freshness-trust")


def test_a_review_from_the_page_records_and_shows_the_signed_in_reviewer(
        chromium: Any, service: ServerThread) -> None:  # noqa: F811
    engine = engine_for(service.settings)  # type: ignore[attr-defined]
    try:
        key = PersonKeys(session_factory(engine)).create(
            "Carlos Mendez", "carlos.mendez@brightwater.example", Role.ENGINEER).secret
    finally:
        engine.dispose()
    page, watch = open_page(chromium, f"{service.url}/freshness",
                            viewport={"width": 1100, "height": 900})
    _loaded(page)
    page.get_by_label("Review token").fill(key)
    page.get_by_role("button", name="Use token").click()
    _loaded(page, 2)
    row = page.locator(f'tr[data-id="{VPN}"]')
    with page.expect_response(lambda r: r.url.endswith(f"/api/articles/{VPN}/review")) as done:
        row.get_by_role("button", name="Still accurate").click()
    assert done.value.status == 200, done.value.text()
    assert done.value.json()["reviewer"] == "carlos.mendez@brightwater.example"
    row.get_by_role("status").filter(
        has_text="Reviewed by carlos.mendez@brightwater.example").wait_for()
    assert row.locator(".reviewed-by").inner_text() == (
        "Last reviewed by carlos.mendez@brightwater.example")
    assert watch.violations(page) == [], dump(watch.violations(page))
