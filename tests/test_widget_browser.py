"""The widget in real headless Chromium, against the real server, embedded in a wiki of another
origin that sends the strict CSP of the issue.

What this proves, in order:
1. the widget on a strict-CSP wiki (another origin) searches as you type, with zero CSP violations;
2. keyboard: `/` and Ctrl-K open it, arrows move the aria-selected option, Enter opens the
   article (and the click is recorded), Esc closes; recent searches come back in the idle state;
3. no results: the did-you-mean / "Ask the assistant" screen; a 500 shows the error state;
4. an article titled `<img src=x onerror=alert(1)>` renders as text; unverified shows its badge;
5. the Ask tab answers, shows sources, takes feedback and escalates;
6. the service's own pages (/, /chat, /embed, /freshness) run under their CSP with no violation;
7. strings, open()/close()/destroy(), the loud error for a missing endpoint, a phone-sized screen.
A control test shows the CSP recorder does catch a violation, so "zero" means something.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from indexer.build import build_index
from indexer.embed import Embedder
from tests.browser.harness import (
    CHROMIUM,
    HostServer,
    PageWatch,
    ServerThread,
    browser,
    host_page,
    shot,
    strict_csp,
)
from tests.browser.service import has_route, start_service
from tests.test_chat_handoff import Receiver

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: apt-get install "
                       "chromium chromium-driver"),
]

CONTENT = Path(__file__).resolve().parent.parent / "content"
XSS_TITLE = "<img src=x onerror=alert(1)>"
WIDGET = "fieldguide-search"
ADMIN_TOKEN = "widget-tests-admin-token-0123"


# ---- fixtures: one host server, one browser, the kb service, a tiny hostile service ----

@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    with HostServer() as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def kb_service(tmp_path_factory: pytest.TempPathFactory, kb_index: Path, embedder: Embedder,
               host: HostServer) -> Iterator[ServerThread]:
    server = start_service(tmp_path_factory.mktemp("kb-service"), CONTENT, kb_index, embedder,
                           [host.origin], admin_token=ADMIN_TOKEN)
    yield server
    server.__exit__(None, None, None)


ARTICLE = """\
---
id: {id}
title: {title}
audience: end-user
services: [printing]
tags: [printer]
owner: alice@brightwater.example
last_reviewed: {reviewed}
---
## Symptom
{symptom}

## Likely causes
1. Paper is stuck in the tray.

## Diagnostic steps
1. Open the tray.

## Resolution
1. Remove the paper and restart the printer.

## Escalation criteria
The printer still jams after two tries.
"""


@pytest.fixture(scope="module")
def helpdesk() -> Iterator[Receiver]:
    """The tiny service's ticket system: a real HTTP receiver (``fail``: it answers 503)."""
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def tiny_service(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder,
                 host: HostServer, helpdesk: Receiver) -> Iterator[ServerThread]:
    """Two end-user articles: one with a hostile title, one last reviewed years ago."""
    root = tmp_path_factory.mktemp("tiny")
    content = root / "content"
    content.mkdir()
    shutil.copy(CONTENT / "teams.yaml", content / "teams.yaml")
    (content / "hostile.md").write_text(ARTICLE.format(
        id="printer-hostile", title=f'"Printer jam {XSS_TITLE}"',
        reviewed="2026-11-01",
        symptom="The R&D floor printer jams and shows <b>jam</b> on the panel."),
        encoding="utf-8")
    (content / "toner.md").write_text(ARTICLE.format(
        id="printer-toner", title="Printer toner streaks on every page", reviewed="2020-01-01",
        symptom="Grey toner streaks on every printed page."), encoding="utf-8")
    index = root / "index"
    cached = embedder.with_cache(index / "embeddings.sqlite")  # the session's model, loaded once
    build_index(content, index, cached)
    server = start_service(root, content, index, embedder, [host.origin],
                           ticket_webhook_url=helpdesk.url, ticket_retries=1,
                           ticket_backoff_seconds=0.01)
    yield server
    server.__exit__(None, None, None)


def wiki(host: HostServer, service: str, name: str, body: str | None = None,
         csp: str | None = None) -> str:
    body = body if body is not None else f'<{WIDGET} endpoint="{service}"></{WIDGET}>'
    return host.add(f"/{name}", host_page(service, body), csp or strict_csp(service))


def open_page(chromium: Any, url: str, **context: Any) -> tuple[Any, PageWatch]:
    ctx = chromium.new_context(**context)
    page = ctx.new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(url)
    page.wait_for_function(f"!!customElements.get('{WIDGET}')")
    return page, watch


def state(page: Any) -> str:
    value: str = page.locator(WIDGET).first.get_attribute("data-state") or ""
    return value


def wait_state(page: Any, wanted: str) -> None:
    page.wait_for_selector(f"{WIDGET}[data-state={wanted}]", state="attached")


def no_violations(page: Any, watch: PageWatch) -> None:
    assert watch.violations(page) == []
    assert watch.errors == []


# ---- 0. the recorder catches a violation (so the zero-violation checks can fail) ----

def test_csp_recorder_catches_an_inline_style(chromium: Any, host: HostServer,
                                              kb_service: ServerThread) -> None:
    url = wiki(host, kb_service.url, "control",
               body=f'<style>h1{{color:red}}</style><{WIDGET} endpoint="{kb_service.url}">'
                    f'</{WIDGET}>')
    page, watch = open_page(chromium, url)
    assert any("style-src" in str(v) for v in watch.violations(page))
    page.context.close()


# ---- 1. search as you type, under the wiki's CSP ----

def test_search_as_you_type_on_a_strict_csp_wiki(chromium: Any, host: HostServer,
                                                 kb_service: ServerThread) -> None:
    url = wiki(host, kb_service.url, "search")
    page, watch = open_page(chromium, url, viewport={"width": 1100, "height": 820})
    assert state(page) == "idle"
    page.get_by_role("button", name="Search the knowledge base").click()
    box = page.get_by_role("combobox")
    assert box.is_visible()
    shot(page, "widget-idle")

    # A slow network (CDP throttling, the real server behind it) makes "loading" observable.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 1500,
                                                  "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    box.press_sequentially("forgot my password", delay=20)
    wait_state(page, "loading")
    assert page.get_by_role("status").first.text_content() == "Searching…"
    shot(page, "widget-loading")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                  "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    wait_state(page, "results")
    options = page.get_by_role("option")
    assert options.count() >= 3
    titles = [t.lower() for t in page.locator("[role=option] .title").all_text_contents()]
    assert any("password" in t for t in titles[:3]), titles
    marks = page.locator("[role=option] .snippet mark").all_text_contents()
    assert any(m.lower().startswith("password") for m in marks), marks
    assert box.get_attribute("aria-expanded") == "true"
    status = page.locator(f"{WIDGET} [role=status][aria-live=polite]").first.text_content()
    assert status and status.endswith("results")
    shot(page, "widget-results")
    no_violations(page, watch)
    page.context.close()


# ---- 2. keyboard end to end ----

def test_snippets_name_their_section_and_titles_are_marked(chromium: Any, host: HostServer,
                                                           kb_service: ServerThread) -> None:
    page, watch = open_page(chromium, wiki(host, kb_service.url, "snippets"),
                            viewport={"width": 1100, "height": 820})
    page.keyboard.press("Control+k")
    page.get_by_role("combobox").fill("choose a level to share my calendar with a delegate")
    wait_state(page, "results")
    first = page.get_by_role("option").first
    assert first.locator(".snippet .section").text_content() == "Resolution › "
    assert "calendar" in [m.lower() for m in first.locator(".title mark").all_text_contents()]
    marks = page.locator("[role=option] mark").all_text_contents()
    assert marks and all(len(m) > 1 for m in marks), marks  # whole words, no fragments
    assert "|" not in "".join(page.locator("[role=option] .snippet").all_text_contents())
    shot(page, "widget-snippets")
    no_violations(page, watch)
    page.context.close()


def test_a_query_that_finds_nothing_shows_its_suggestions_results(
        chromium: Any, host: HostServer, kb_service: ServerThread) -> None:
    page, watch = open_page(chromium, wiki(host, kb_service.url, "showing-for"),
                            viewport={"width": 1100, "height": 820})
    page.keyboard.press("Control+k")
    page.get_by_role("combobox").fill("pasword resett")
    wait_state(page, "results")
    assert page.locator(".showing-for").text_content() == "Showing results for “password reset”"
    titles = page.locator("[role=option] .title").all_text_contents()
    assert titles and "password" in titles[0].lower(), titles
    shot(page, "widget-showing-for")
    no_violations(page, watch)
    page.context.close()


def _clicks(service: ServerThread, article_id: str) -> list[Any]:
    from sqlalchemy import select

    from app.db import engine_for, session_factory
    from app.models import ClickEventRow

    engine = engine_for(service.settings)  # type: ignore[attr-defined]
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(ClickEventRow).where(
                ClickEventRow.article_id == article_id)))
    finally:
        engine.dispose()


def test_keyboard_navigation_end_to_end(chromium: Any, host: HostServer,
                                        kb_service: ServerThread) -> None:
    url = wiki(host, kb_service.url, "keyboard")
    page, watch = open_page(chromium, url)
    page.locator("h1").click()  # focus on the page, not in a field
    page.keyboard.press("/")
    box = page.get_by_role("combobox")
    assert box.evaluate("el => el.getRootNode().activeElement === el")
    page.keyboard.type("VPN")
    wait_state(page, "results")
    options = page.get_by_role("option")
    ids = [options.nth(i).get_attribute("id") for i in range(options.count())]
    assert len(ids) >= 2

    def selected() -> list[str]:
        return [o.get_attribute("id") or "" for o in
                page.locator("[role=option][aria-selected=true]").all()]

    assert selected() == []
    page.keyboard.press("ArrowDown")
    assert selected() == [ids[0]]
    assert box.get_attribute("aria-activedescendant") == ids[0]
    page.keyboard.press("ArrowDown")
    assert selected() == [ids[1]]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # wraps to the last one
    assert selected() == [ids[-1]]
    page.keyboard.press("ArrowDown")  # and back to the first
    assert selected() == [ids[0]]
    page.keyboard.press("ArrowDown")
    chosen = options.nth(1).get_attribute("data-id")
    assert chosen
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.startswith(f"{kb_service.url}/articles/")
    assert page.url.endswith(chosen.split("/")[-1])
    no_violations(page, watch)

    # The click reached the analytics table (the writer thread is asynchronous: poll).
    deadline = time.monotonic() + 20
    while not _clicks(kb_service, chosen) and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = _clicks(kb_service, chosen)
    assert rows and rows[0].rank == 2 and rows[0].query == "VPN"

    # Back on the wiki: Ctrl-K opens on the idle screen with the recent search; Esc closes.
    page.goto(url)
    page.wait_for_function(f"!!customElements.get('{WIDGET}')")
    page.keyboard.press("Control+k")
    dialog = page.locator(f"{WIDGET} dialog")
    assert dialog.evaluate("d => d.open")
    assert page.get_by_role("button", name="VPN", exact=True).is_visible()
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    trigger = page.get_by_role("button", name="Search the knowledge base")
    assert trigger.evaluate("el => el.getRootNode().activeElement === el")
    # Tabs are real tabs: two of them, arrow keys switch.
    page.keyboard.press("Control+k")
    tabs = page.get_by_role("tab")
    assert tabs.count() == 2
    tabs.first.focus()
    page.keyboard.press("ArrowRight")
    assert tabs.nth(1).get_attribute("aria-selected") == "true"
    no_violations(page, watch)
    page.context.close()


# ---- 3. empty and error states ----

def test_no_results_offers_the_assistant(chromium: Any, host: HostServer,
                                         kb_service: ServerThread) -> None:
    # The hybrid search always returns its nearest articles, so "nothing" takes a scope that
    # matches no article: a wiki page's box limited to a service the KB does not know.
    body = f'<{WIDGET} endpoint="{kb_service.url}" service="no-such-service"></{WIDGET}>'
    page, watch = open_page(chromium, wiki(host, kb_service.url, "empty", body=body))
    page.keyboard.press("Control+k")
    page.keyboard.type("pasword reset")
    wait_state(page, "empty")
    assert page.locator(".screen.empty p").first.text_content() == "No results for “pasword reset”."
    assert page.get_by_role("button", name="Ask the assistant").is_visible()
    shot(page, "widget-empty")
    no_violations(page, watch)
    page.context.close()


def test_a_weak_match_says_so_and_keeps_the_nearest_articles(
        chromium: Any, host: HostServer, kb_service: ServerThread) -> None:
    # Nothing in the knowledge base covers parking permits: the API flags the search
    # weak_match, and the widget says so instead of presenting unrelated articles as answers.
    body = f'<{WIDGET} endpoint="{kb_service.url}"></{WIDGET}>'
    page, watch = open_page(chromium, wiki(host, kb_service.url, "weak", body=body))
    page.keyboard.press("Control+k")
    page.keyboard.type("how do I apply for a parking permit")
    wait_state(page, "weak")
    assert page.locator(".screen.empty.weak p").first.text_content().startswith(
        "No good match for “how do I apply for a parking permit”")
    assert page.get_by_role("button", name="Ask the assistant").is_visible()
    shot(page, "widget-weak")
    page.get_by_role("button", name="Show the nearest articles anyway").click()
    wait_state(page, "results")
    assert page.locator("[role=option]").count() >= 1
    no_violations(page, watch)
    page.context.close()


def test_search_analytics_record_the_settled_query_not_each_keystroke(
        chromium: Any, host: HostServer, kb_service: ServerThread) -> None:
    query = "where is my bitlocker recovery key"
    page, watch = open_page(chromium, wiki(host, kb_service.url, "typeahead"))
    page.keyboard.press("Control+k")
    page.keyboard.type(query, delay=220)  # a person typing: several searches as they go
    wait_state(page, "results")
    page.wait_for_timeout(2600)  # left standing: the settled query is recorded once

    def recorded() -> dict[str, int]:
        r = httpx.get(f"{kb_service.url}/api/metrics/search", params={"top": 100},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert r.status_code == 200, r.text
        return {q["query"]: q["count"] for q in r.json()["top_queries"]}

    deadline = time.monotonic() + 15  # the event writer flushes in the background
    while query not in recorded() and time.monotonic() < deadline:
        time.sleep(0.3)
    counts = recorded()
    assert counts.get(query) == 1, counts
    prefixes = [q for q in counts if q != query and query.startswith(q)]
    assert prefixes == [], prefixes
    no_violations(page, watch)
    page.context.close()


def test_server_error_shows_the_error_state(chromium: Any, host: HostServer,
                                            kb_service: ServerThread) -> None:
    page, watch = open_page(chromium, wiki(host, kb_service.url, "error"))
    body = '{"error": {"code": "internal_error", "message": "internal error; the details are ' \
           'in the server log"}}'
    page.route("**/api/search?**", lambda route: route.fulfill(
        status=500, body=body, content_type="application/json",
        headers={"Access-Control-Allow-Origin": host.origin}))
    page.keyboard.press("Control+k")
    page.keyboard.type("printer")
    wait_state(page, "error")
    alert = page.get_by_role("alert")
    assert "Search is unavailable right now." in (alert.text_content() or "")
    assert "internal error" in (alert.text_content() or "")
    shot(page, "widget-error")
    # The server is back: "Try again" recovers without retyping.
    page.unroute("**/api/search?**")
    page.get_by_role("button", name="Try again").click()
    wait_state(page, "results")
    no_violations(page, watch)
    page.context.close()


# ---- 4. hostile content, the unverified badge ----

def test_hostile_title_renders_as_text(chromium: Any, host: HostServer,
                                       tiny_service: ServerThread) -> None:
    page, watch = open_page(chromium, wiki(host, tiny_service.url, "hostile"))
    page.keyboard.press("Control+k")
    page.keyboard.type("printer jams panel")
    wait_state(page, "results")
    title = page.locator("[role=option][data-id=printer-hostile] .title")
    assert title.text_content() == f"Printer jam {XSS_TITLE}"
    shadow = page.locator(WIDGET).evaluate(
        "el => ({imgs: el.shadowRoot.querySelectorAll('img').length, "
        "scripts: el.shadowRoot.querySelectorAll('script').length})")
    assert shadow == {"imgs": 0, "scripts": 0}
    snippet = page.locator("[role=option][data-id=printer-hostile] .snippet").text_content()
    assert snippet and "R&D floor printer" in snippet  # &amp; from the server, decoded once
    page.wait_for_timeout(300)  # give a would-be onerror handler its chance to fire
    assert watch.dialogs == []
    shot(page, "widget-hostile-title")
    no_violations(page, watch)
    page.context.close()


@pytest.mark.skipif(not has_route("freshness"),
                    reason="no freshness routes: search results carry no status")
def test_unverified_article_shows_its_badge(chromium: Any, host: HostServer,
                                           tiny_service: ServerThread) -> None:
    page, watch = open_page(chromium, wiki(host, tiny_service.url, "badge"))
    page.keyboard.press("Control+k")
    page.keyboard.type("toner streaks")
    wait_state(page, "results")
    old = page.locator("[role=option][data-id=printer-toner]")
    badge = old.locator(".badge.unverified")
    assert badge.text_content() == "Unverified"
    assert badge.is_visible()
    fresh = page.locator("[role=option][data-id=printer-hostile] .badge")
    assert fresh.count() == 0
    shot(page, "widget-unverified")
    no_violations(page, watch)
    page.context.close()


# ---- 5. the Ask tab ----

def ask(chromium: Any, url: str, message: str) -> tuple[Any, PageWatch, Any]:
    """Open the widget's Ask tab on ``url``, ask ``message``; the answer's turn (an answer)."""
    page, watch = open_page(chromium, url, viewport={"width": 1100, "height": 900})
    page.keyboard.press("Control+k")
    page.get_by_role("tab", name="Ask").click()
    question = page.get_by_label("Your question")
    question.fill(message)
    question.press("Enter")
    answer = page.locator(".turn.bot[data-kind]").last
    answer.wait_for()
    assert answer.get_attribute("data-kind") == "answer", answer.text_content()
    return page, watch, answer


@pytest.mark.skipif(not has_route("chat"), reason="the chatbot routes (app/routes/chat.py, "
                    "POST /api/chat) do not exist yet")
def test_ask_answers_takes_feedback_and_escalates(chromium: Any, host: HostServer,
                                                 kb_service: ServerThread) -> None:
    page, watch, answer = ask(chromium, wiki(host, kb_service.url, "ask"),
                              "I forgot my password and cannot sign in to my laptop")
    assert (answer.locator(".text").text_content() or "").strip()
    sources = answer.locator(".sources a")
    assert sources.count() >= 1
    assert (sources.first.get_attribute("href") or "").startswith(f"{kb_service.url}/articles/")
    shot(page, "widget-ask-answer")
    answer.get_by_role("button", name="Not helpful").click()
    page.get_by_text("Thanks for the feedback.").wait_for()
    page.get_by_role("button", name="Talk to a person").first.click()
    description = page.get_by_label("What have you tried so far?")
    assert "forgot my password" in description.input_value()
    description.fill("Tried the self-service reset twice; the link expired.")
    page.get_by_label("How can we reach you?").fill("pat@brightwater.example")
    page.get_by_role("button", name="Send to support").click()
    # No ticket system is configured on this service: the widget says so, not "sent".
    done = page.locator(".done[data-outcome=stored]")
    done.wait_for()
    text = done.text_content() or ""
    assert "no ticket system is configured" in text and "FG-" in text
    assert "sent to the support team" not in text
    shot(page, "widget-ask-escalated")
    no_violations(page, watch)
    page.context.close()


@pytest.mark.skipif(not has_route("chat"), reason="no chatbot routes yet")
def test_ask_keeps_nested_steps_and_asks_once(chromium: Any, host: HostServer,
                                              kb_service: ServerThread) -> None:
    page, watch, answer = ask(chromium, wiki(host, kb_service.url, "ask-nested"),
                              "outlook won't sync on my iphone")
    question = page.get_by_label("Your question")
    text = answer.locator(".text").inner_text()
    # The sub-steps are there, indented under their step (white space kept on screen).
    assert "\n   - iPhone:" in text or "iPhone:\n\n1. " in text, text
    assert answer.get_by_text("Did this help?").count() == 1
    assert (answer.text_content() or "").count("Did this help") == 1
    answer.evaluate("e => e.scrollIntoView()")
    shot(page, "widget-ask-steps")
    question.fill("I want to talk to a person")
    question.press("Enter")
    page.locator(".turn.bot[data-kind=handoff]").wait_for()
    handoff = page.locator(".turn.bot[data-kind=handoff]")
    assert "Talk to a person" in (handoff.locator(".text").text_content() or "")
    assert page.get_by_role("button", name="Talk to a person").count() >= 1
    assert page.get_by_role("button", name="Talk to a human").count() == 0
    no_violations(page, watch)
    page.context.close()


@pytest.mark.skipif(not has_route("chat"), reason="no chatbot routes yet")
@pytest.mark.parametrize("outcome", ["delivered", "failed"])
def test_escalation_says_what_really_happened(chromium: Any, host: HostServer,
                                              tiny_service: ServerThread, helpdesk: Receiver,
                                              outcome: str) -> None:
    helpdesk.fail = outcome == "failed"
    page, watch, _ = ask(chromium, wiki(host, tiny_service.url, f"escalate-{outcome}"),
                         "grey toner streaks on every printed page")
    page.get_by_role("button", name="Talk to a person").first.click()
    description = page.get_by_label("What have you tried so far?")
    assert description.input_value() == "grey toner streaks on every printed page\n\nWhat I tried: "
    page.keyboard.type("I tried a new cartridge")  # where the cursor was left: after the prompt
    page.get_by_role("button", name="Send to support").click()
    done = page.locator(f".done[data-outcome={outcome}]")
    done.wait_for()
    text = done.text_content() or ""
    ticket = text.split("FG-", 1)[1][:8]
    if outcome == "delivered":
        assert text.startswith("Your request was sent to the support team.")
        sent = next(b for b in helpdesk.bodies if b.get("reference") == f"FG-{ticket}")
        assert sent["description"] == ("grey toner streaks on every printed page\n\n"
                                       "What I tried: I tried a new cartridge")
    else:
        assert "did not answer" in text and "kept for a retry" in text
        assert "sent to the support team" not in text
        assert not any(b.get("reference") == f"FG-{ticket}" for b in helpdesk.bodies)
    shot(page, f"widget-escalation-{outcome}")
    no_violations(page, watch)
    page.context.close()


# ---- 6. the service's own pages ----

@pytest.mark.parametrize("path", ["/", "/chat", "/embed?tab=ask&theme=dark", "/freshness"])
def test_service_pages_run_under_their_csp(chromium: Any, kb_service: ServerThread,
                                           path: str) -> None:
    ctx = chromium.new_context(viewport={"width": 1100, "height": 800})
    page = ctx.new_page()
    watch = PageWatch()
    watch.attach(page)
    response = page.goto(kb_service.url + path)
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    if path == "/freshness":
        page.locator("#fg-freshness table, #fg-freshness .error, #fg-freshness .summary"
                     ).first.wait_for()
    else:
        page.wait_for_function(f"!!customElements.get('{WIDGET}')")
        expected_tab = "Ask" if "ask" in path or path == "/chat" else "Search"
        assert page.get_by_role("tab", name=expected_tab).get_attribute("aria-selected") == "true"
    if path == "/":
        page.get_by_role("combobox").fill("outlook")
        wait_state(page, "results")
    shot(page, "page-" + (path.strip("/").split("?")[0] or "search"))
    no_violations(page, watch)
    ctx.close()


def test_owner_reviews_an_article_from_the_freshness_page(chromium: Any,
                                                          kb_service: ServerThread) -> None:
    import httpx

    ctx = chromium.new_context()
    page = ctx.new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(kb_service.url + "/freshness")
    row = page.locator("#fg-freshness tr[data-id]").first
    row.wait_for()
    article_id = row.get_attribute("data-id")
    row.get_by_role("button", name="Still accurate").click()
    assert row.get_by_role("status").text_content() == "Paste your review token first."
    page.get_by_label("Review token").fill(ADMIN_TOKEN)
    # The report reloads with what the token may read: find the same article again.
    page.get_by_role("button", name="Use token").click()
    page.wait_for_selector("#fg-freshness[data-loads='2']", state="attached")
    row = page.locator(f'#fg-freshness tr[data-id="{article_id}"]')
    row.get_by_role("button", name="Still accurate").click()
    page.wait_for_function("id => document.querySelector(`tr[data-id=\"${id}\"] "
                           "[role=status]`).textContent.startsWith('Reviewed')", arg=article_id)
    report = httpx.get(kb_service.url + "/api/freshness").json()
    after = {a["id"]: a["status"] for a in report["articles"]}
    assert after[article_id] == "fresh"
    no_violations(page, watch)
    ctx.close()


# ---- 7. strings, instance API, bad endpoint, phone, dark ----

def test_strings_and_instance_api(chromium: Any, host: HostServer,
                                  kb_service: ServerThread) -> None:
    strings = '{"tabSearch": "Suchen", "tabAsk": "Fragen", "triggerLabel": "Wissensbasis"}'
    body = (f'<{WIDGET} endpoint="{kb_service.url}" strings=\'{strings}\'></{WIDGET}>')
    page, watch = open_page(chromium, wiki(host, kb_service.url, "strings", body=body))
    assert page.get_by_role("button", name="Wissensbasis").is_visible()
    page.locator(WIDGET).evaluate("el => el.open({tab: 'ask'})")
    assert page.get_by_role("tab", name="Fragen").get_attribute("aria-selected") == "true"
    page.locator(WIDGET).evaluate("el => { el.strings = {tabAsk: 'Poser'}; }")
    assert page.get_by_role("tab", name="Poser").count() == 1
    page.locator(WIDGET).evaluate("el => el.close()")
    assert not page.locator(f"{WIDGET} dialog").evaluate("d => d.open")
    page.locator(WIDGET).evaluate("el => el.destroy()")
    assert page.locator(WIDGET).count() == 0
    page.keyboard.press("Control+k")  # the global shortcut went with it
    no_violations(page, watch)
    page.context.close()


def test_missing_endpoint_is_a_loud_error(chromium: Any, host: HostServer,
                                          kb_service: ServerThread) -> None:
    page, watch = open_page(chromium, wiki(host, kb_service.url, "noendpoint",
                                           body=f"<{WIDGET} layout=\"inline\"></{WIDGET}>"))
    errors = [c for c in watch.console if c.startswith("error:") and WIDGET in c]
    assert errors and "no endpoint" in errors[0]
    assert state(page) == "error"
    assert "not configured" in (page.get_by_role("alert").text_content() or "")
    page.context.close()


def test_phone_sized_and_dark(chromium: Any, host: HostServer, kb_service: ServerThread) -> None:
    page, watch = open_page(chromium, wiki(host, kb_service.url, "phone"),
                            viewport={"width": 390, "height": 844}, color_scheme="dark",
                            has_touch=True, is_mobile=True)
    page.get_by_role("button", name="Search the knowledge base").click()
    page.get_by_role("combobox").fill("wifi")
    wait_state(page, "results")
    box = page.locator(f"{WIDGET} dialog").bounding_box()
    assert box is not None and box["width"] == 390
    bg = page.locator(f"{WIDGET} dialog").evaluate("d => getComputedStyle(d).backgroundColor")
    assert bg == "rgb(27, 29, 33)"  # the dark palette
    shot(page, "widget-phone-dark")
    no_violations(page, watch)
    page.context.close()
