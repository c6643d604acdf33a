"""/insights in real headless Chromium against the real server. Properties proved:

1. Signed in as an engineer (a session from /signin), every chart is drawn by the vendored
   Chart.js from its data table under the pages' strict CSP, with no CSP violation, no page
   error and no console error.
2. The keyboard reaches the data: Tab lands on a chart's "Data table" disclosure, Enter opens
   it, and the next Tab lands on the table's scrollable region (a labelled role=region).
3. Without JavaScript (and with a bearer key instead of a session) the tables are all there and
   no empty chart box is shown.
4. Signed out, the page says who may see it and links to sign-in, again without a violation.
Screenshots: tests/artifacts/insights-*.png (copied to docs/screenshots/ for the README).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.people import Role
from indexer.embed import Embedder
from tests.api_support import ADMIN, ADMIN_TOKEN, ENGINEER, ENGINEER_KEY
from tests.browser.harness import ARTIFACTS, PageWatch, ServerThread
from tests.browser.service import person_key, start_service
from tests.hooks_support import TOKEN
from tests.insights_support import seed
from tests.test_widget_browser import chromium, pytestmark  # noqa: F401 - fixtures

CONTENT = Path(__file__).resolve().parent.parent / "content"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
            embedder: Embedder) -> Iterator[ServerThread]:
    server = start_service(tmp_path_factory.mktemp("insights-service"), CONTENT, kb_index,
                           embedder, [], admin_token=ADMIN_TOKEN, engineer_keys=[ENGINEER_KEY],
                           alerts_token=TOKEN, chat_idle_timeout=0.01, chat_sweep_seconds=0.2)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        seed(client, ENGINEER)
        for _ in range(300):  # the server's own sweep closes the helped conversation
            closed = client.get("/api/metrics/deflection", headers=ADMIN).json()["closed"]
            if closed == 2:
                break
            time.sleep(0.1)
        assert closed == 2
    yield server
    server.__exit__(None, None, None)



def _full_shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _quiet(watch: PageWatch, page: Any) -> None:
    assert watch.violations(page) == []
    assert watch.errors == []
    assert [c for c in watch.console if c.startswith("error")] == []


def test_charts_under_the_strict_csp_and_the_keyboard_reaches_the_tables(
        chromium: Any, service: ServerThread) -> None:  # noqa: F811
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(service.url + "/signin?next=/insights")
    key = person_key(service, "Erin engineer", "erin-engineer@x.example", Role.ENGINEER)
    page.get_by_label("Personal API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(service.url + "/insights")
    boxes = page.locator(".chart[data-table]")
    empty = page.locator("figure.insight:not(:has(.chart))").all_text_contents()
    assert boxes.count() == 10, empty  # every figure has rows in the seeded data
    page.wait_for_function(
        "[...document.querySelectorAll('.chart[data-table]')].every(b => b.dataset.drawn)")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        assert box.is_visible()
        size = box.locator("canvas").bounding_box()
        assert size is not None and size["width"] > 100 and size["height"] > 100
    drawn = page.evaluate("Object.fromEntries([...document.querySelectorAll("
                          "'.chart[data-table]')].map(b => [b.dataset.table, b.dataset.drawn]))")
    assert drawn["deflection"] == "4"  # confirmed, potential, first contact, escalation: apart
    assert page.locator("#deflection tbody td[data-value]").evaluate_all(
        "cells => cells.map(c => c.dataset.value)") == ["0.5", "0.0", "0.5", "0.5"]
    assert drawn["ratio-week"] == "2"  # the ratio and its 70% target line
    _quiet(watch, page)
    _full_shot(page, "insights-engineer")

    # Keyboard only: from the top of the page to the first chart's data table.
    page.locator("body").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "SUMMARY":
            break
    assert page.evaluate("document.activeElement.textContent") == (
        "Data table: Incident-to-article ratio per ISO week")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.parentElement.open") is True
    page.keyboard.press("Tab")
    focused = page.evaluate("""(() => { const el = document.activeElement;
        return {role: el.getAttribute('role'), table: el.querySelector('table')?.id,
                label: document.getElementById(el.getAttribute('aria-labelledby'))?.textContent};
    })()""")
    assert focused == {"role": "region", "table": "ratio-week",
                       "label": "Incident-to-article ratio per ISO week"}
    assert page.locator("#ratio-week").is_visible()
    page.locator("#mttr-figure summary").click()
    page.locator("#mttr-figure").scroll_into_view_if_needed()
    page.locator("#mttr-figure").screenshot(path=str(ARTIFACTS / "insights-mttr-table.png"))
    _quiet(watch, page)
    ctx.close()


def test_without_javascript_the_tables_are_the_page(chromium: Any,  # noqa: F811
                                                     service: ServerThread) -> None:
    ctx = chromium.new_context(java_script_enabled=False,
                               extra_http_headers={"Authorization": f"Bearer {ENGINEER_KEY}"})
    page = ctx.new_page()
    page.goto(service.url + "/insights")
    assert page.locator("table").count() == 10
    assert page.locator(".chart[data-table]:visible").count() == 0  # no empty boxes
    page.locator("#trust-figure summary").click()
    assert page.locator("#trust tbody tr").count() >= 3
    ctx.close()


def test_signed_out_it_says_who_may_see_it(chromium: Any,  # noqa: F811
                                           service: ServerThread) -> None:
    ctx = chromium.new_context(viewport={"width": 1000, "height": 500})
    page = ctx.new_page()
    watch = PageWatch()
    watch.attach(page)
    response = page.goto(service.url + "/insights")
    assert response is not None and response.status == 401
    assert page.get_by_role("heading", name="Insights are not available to you").is_visible()
    page.locator("main").get_by_role("link", name="Sign in").click()
    page.wait_for_url("**/signin?next=%2Finsights")
    assert watch.violations(page) == [] and watch.errors == []
    page.go_back()
    _full_shot(page, "insights-signed-out")
    ctx.close()
