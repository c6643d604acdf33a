"""The incident page in real headless Chromium against the real server. Properties proved:

1. Signed in as an engineer (a session from /signin), the list links the incident; on its page,
   ticking a diagnostic step's box sends the step (static/incident.js submits its form) and the
   page comes back with the step ticked, by that person; escalating shows the packet; "Write a
   draft" writes ``drafts/<slug>.md`` into the content directory and shows its path. No CSP
   violation, no page error, no console error on the way.
2. Without JavaScript (a bearer key instead of a session) each step's "Mark done" button posts
   the same form.
3. At a phone's width nothing runs off the screen.
Screenshots: docs/screenshots/incident.png and incident-phone.png (and tests/artifacts/).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.people import Role
from incidents.records import Activity
from indexer.embed import Embedder
from tests.api_support import ENGINEER, ENGINEER_KEY
from tests.browser.harness import ARTIFACTS, PageWatch, ServerThread, dump
from tests.browser.service import person_key, start_service
from tests.test_pages_browser import DOCS_SHOTS, PHONE, keep
from tests.test_widget_browser import chromium, pytestmark  # noqa: F401 - fixtures

CONTENT = Path(__file__).resolve().parent.parent / "content"
RUNBOOK = "hikari-connection-pool-exhausted"
TITLE = "Checkout returns 502: HikariPool-1 connection is not available"


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of content/: the drafts the page writes land there, not in the repository."""
    return shutil.copytree(CONTENT, tmp_path_factory.mktemp("incident-kb") / "content")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, kb_index: Path, embedder: Embedder,
            content: Path) -> Iterator[ServerThread]:
    server = start_service(tmp_path_factory.mktemp("incident-service"), content, kb_index,
                           embedder, [], engineer_keys=[ENGINEER_KEY])
    yield server
    server.__exit__(None, None, None)


def _incident(service: ServerThread) -> int:
    """An incident as the alert intake and a responder leave it: the runbook posted, a search
    and an article opened during it, acknowledged with a note."""
    with httpx.Client(base_url=service.url, timeout=60, headers=ENGINEER) as client:
        r = client.post("/api/incidents", json={
            "title": TITLE, "severity": "P2", "services": ["payments-api"],
            "alerts": ["PaymentsApiHigh5xxRate"]})
        assert r.status_code == 201, r.text
        iid: int = r.json()["id"]
        app: Any = service.server.config.app  # the app the server thread runs
        app.state.services.incidents.records.store.record(
            iid, Activity.RUNBOOK, RUNBOOK, by="intake",
            detail={"freshness": "fresh", "alert": "PaymentsApiHigh5xxRate"})
        assert client.get("/api/search", params={
            "q": "HikariPool-1 - Connection is not available, request timed out after 30000ms",
            "incident": iid}).status_code == 200
        assert client.get("/api/articles/high-p99-latency",
                          params={"incident": iid}).status_code == 200
        assert client.patch(f"/api/incidents/{iid}", json={
            "status": "acknowledged", "by": "elena.petrova@brightwater.example",
            "note": "pool at 30/30 on every pod"}).status_code == 200
    return iid



def _keep(page: Any, name: str) -> None:
    """The whole page, in tests/artifacts and, for the README, in docs/screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACTS / f"{name}.png", DOCS_SHOTS / f"{name}.png")


def _quiet(watch: PageWatch, page: Any) -> None:
    assert watch.violations(page) == [], dump(watch.violations(page))
    assert watch.errors == [], watch.errors
    assert [c for c in watch.console if c.startswith("error")] == [], watch.console


def test_check_a_step_escalate_and_write_a_draft(chromium: Any, service: ServerThread,  # noqa: F811
                                                 content: Path) -> None:
    iid = _incident(service)
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(service.url + "/signin?next=/incidents")
    key = person_key(service, "Elena Petrova", "elena.petrova@brightwater.example", Role.ENGINEER)
    page.get_by_label("Personal API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(service.url + "/incidents")
    page.get_by_role("link", name=TITLE).click()
    page.wait_for_url(f"{service.url}/incidents/{iid}")
    assert page.get_by_role("heading", level=1).inner_text() == TITLE
    steps = page.locator("ol.steps li.step")
    assert steps.count() >= 3
    assert page.locator("ol.steps form.auto").count() == steps.count()  # the script took over
    assert not steps.first.get_by_role("button", name="Mark done").is_visible()

    with page.expect_navigation():
        steps.first.get_by_role("checkbox").click()  # the box, not a button: the script sends
    assert page.url == f"{service.url}/incidents/{iid}?done=step#step-{RUNBOOK}-1"
    assert page.get_by_role("status").inner_text() == "Step checked off."
    first = page.locator(f"#step-{RUNBOOK}-1")
    assert first.get_by_role("checkbox").is_checked() and first.get_by_role("checkbox").is_disabled()
    assert "done by Elena Petrova <elena.petrova@brightwater.example>" in first.inner_text()
    assert page.locator(f"#step-{RUNBOOK}-2").get_by_role("checkbox").is_checked() is False
    _quiet(watch, page)

    with page.expect_navigation():
        page.get_by_role("button", name="Escalate").click()
    packet = page.locator("#packet")
    assert packet.is_visible() and "1 of " in packet.inner_text()
    assert page.evaluate("document.activeElement.id") == "packet"

    with page.expect_navigation():
        page.get_by_role("button", name="Write a draft").click()
    made = page.locator("#draft-made")
    path = made.locator("code.draft-path").inner_text()
    assert path.startswith("drafts/checkout-returns-502") and path.endswith(".md")
    front = yaml.safe_load((content / path).read_text().split("---\n")[1])
    assert front["title"] == TITLE and front["alerts"] == ["PaymentsApiHigh5xxRate"]
    timeline = page.locator("#timeline").inner_text()
    assert "escalated" in timeline and f"draft article written: {path}" in timeline
    _quiet(watch, page)
    page.evaluate("window.scrollTo(0, 0)")
    _keep(page, "incident")
    ctx.close()


def test_without_javascript_the_buttons_post(chromium: Any, service: ServerThread) -> None:  # noqa: F811
    iid = _incident(service)
    ctx = chromium.new_context(java_script_enabled=False,
                               extra_http_headers={"Authorization": f"Bearer {ENGINEER_KEY}"})
    page = ctx.new_page()
    page.goto(f"{service.url}/incidents/{iid}")
    second = page.locator(f"#step-{RUNBOOK}-2")
    with page.expect_navigation():
        second.get_by_role("button", name="Mark done").click()
    assert page.url.endswith(f"?done=step#step-{RUNBOOK}-2")
    assert page.locator(f"#step-{RUNBOOK}-2").get_by_role("checkbox").is_checked()
    with page.expect_navigation():
        page.get_by_label("Note (what was found, what fixed it)").fill("raised maximumPoolSize")
        page.get_by_role("button", name="Resolve").click()
    assert page.get_by_role("status").inner_text().startswith("Resolved")
    with page.expect_navigation():
        page.get_by_label("Used as is: the articles had what the fix needed").check()
        page.get_by_role("button", name="Answer").click()
    assert "Answered: used-as-is" in page.locator("#retrospective").inner_text()
    ctx.close()


def test_on_a_phone_nothing_runs_off_the_screen(chromium: Any,  # noqa: F811
                                                service: ServerThread) -> None:
    iid = _incident(service)
    ctx = chromium.new_context(**PHONE,
                               extra_http_headers={"Authorization": f"Bearer {ENGINEER_KEY}"})
    page = ctx.new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(f"{service.url}/incidents/{iid}")
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(
        (el) => el.getBoundingClientRect().right > 390).map(
        (el) => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))""")
    assert width <= 390, (width, wide)
    _quiet(watch, page)
    keep(page, "incident-phone")
    page.goto(f"{service.url}/incidents")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ctx.close()
