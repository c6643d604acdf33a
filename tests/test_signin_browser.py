"""Sign-in in real headless Chromium, against the real server (and the real OpenID provider).

1. Pasting a personal key on /signin signs in; the header says who; the widget on the service's
   own page then finds the engineer runbook for a pasted alert, which it does not find signed
   out. The same widget on a wiki of another origin stays anonymous (the documented choice: it
   sends no cookie to another origin). Signing out from the header ends it.
2. Single sign-on through the provider's login form, redirects and all, signs an engineer in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.people import Role
from indexer.embed import Embedder
from tests.browser.harness import HostServer, ServerThread, host_page, strict_csp
from tests.browser.service import person_key, start_service
from tests.test_sso import CLIENT_ID, CLIENT_SECRET, USERS, provider  # noqa: F401 - fixture
from tests.test_widget_browser import chromium, host, pytestmark  # noqa: F401 - fixtures

CONTENT = Path(__file__).resolve().parent.parent / "content"
ALERT = "[FIRING:1] KubePodCrashLooping pod payments-7d9 in namespace prod"
RUNBOOK_TITLE = "Pod in CrashLoopBackOff"
RUNBOOK_ID = "kubernetes-pod-crashloopbackoff"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, kb_index: Path, embedder: Embedder,
            host: HostServer, provider: str) -> Iterator[ServerThread]:  # noqa: F811
    server = start_service(tmp_path_factory.mktemp("signin-service"), CONTENT, kb_index,
                           embedder, [host.origin], oidc_issuer=provider,
                           oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET,
                           oidc_scopes="openid email profile groups",
                           role_groups=["kb-engineers=engineer"])
    httpx.post(f"{provider}/_test/redirect_uri", json=f"{server.url}/signin/oidc/callback",
               timeout=10).raise_for_status()
    yield server
    server.__exit__(None, None, None)



def _found(page: Any, query: str) -> list[str]:
    """Search from the page's widget: the ids the server answered the browser's own request
    with (its cookies, its origin), once the widget has shown them."""
    box = page.get_by_role("combobox").first
    box.fill(query)
    with page.expect_response(lambda r: "/api/search" in r.url and "typeahead" not in r.url
                              ) as answer:
        box.press("Enter")
    ids = [r["id"] for r in answer.value.json()["results"]]
    if RUNBOOK_ID in ids:  # and the widget shows it
        page.locator("[role=option] .title", has_text=RUNBOOK_TITLE).first.wait_for()
    return ids


def test_key_sign_in_widget_finds_runbooks_only_on_our_own_origin(
        chromium: Any, service: ServerThread, host: HostServer) -> None:  # noqa: F811
    ctx = chromium.new_context()
    page = ctx.new_page()
    page.goto(service.url + "/")
    assert page.locator('.who[data-signed-in="false"]').count() == 1
    assert RUNBOOK_ID not in _found(page, ALERT)

    page.get_by_role("link", name="Sign in").click()
    key = person_key(service, "Erin Engineer", "erin@x.example", Role.ENGINEER)
    page.get_by_label("Personal API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(service.url + "/")
    assert page.locator(".who-name").text_content() == "Erin Engineer"
    cookies = {c["name"]: c for c in ctx.cookies()}
    assert cookies["fieldguide_session"]["httpOnly"] is True
    assert cookies["fieldguide_session"]["sameSite"] == "Lax"
    assert RUNBOOK_ID in _found(page, ALERT)

    # The same browser, signed in, on a wiki of another origin: the widget is anonymous there.
    wiki = host.add("/signed-in-wiki", host_page(
        service.url, f'<fieldguide-search endpoint="{service.url}" layout="inline">'
        "</fieldguide-search>"), strict_csp(service.url))
    other = ctx.new_page()
    other.goto(wiki)
    other.wait_for_function("!!customElements.get('fieldguide-search')")
    assert RUNBOOK_ID not in _found(other, ALERT)

    # Sign out from the header: the page's widget is anonymous again.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(service.url + "/")
    assert page.locator('.who[data-signed-in="false"]').count() == 1
    assert RUNBOOK_ID not in _found(page, ALERT)
    ctx.close()


def test_single_sign_on_in_the_browser(chromium: Any,  # noqa: F811
                                       service: ServerThread) -> None:
    ctx = chromium.new_context()
    page = ctx.new_page()
    page.goto(service.url + "/signin?next=/chat")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.wait_for_selector("input[name=username]")  # the provider's own login form
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", USERS["alice"]["password"])
    page.click("button[type=submit]")
    page.wait_for_url(service.url + "/chat")
    assert page.locator(".who-name").text_content() == "Alice"
    assert page.locator(".who").get_attribute("data-role") == "engineer"
    ctx.close()
