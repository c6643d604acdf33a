"""The incident pages (``GET /incidents``, ``GET /incidents/{id}`` and its forms) over the real
app, on SQLite and PostgreSQL. Properties proved:

1. Engineers and admins (an engineer key, a personal key, a session) see the list and the page;
   a reader gets 403 and an anonymous visitor 401, each an HTML page that says so with a
   sign-in link and nothing of the incident; their form posts are refused the same way.
2. The list puts open incidents first, then resolved ones, and filters by status (an unknown
   status is a 422 page naming the allowed ones).
3. An unknown, malformed or too large id is an HTML 404 page; bad form input is a 4xx page
   that says what is wrong (no traceback, nothing recorded).
4. Every form needs the CSRF field of the page's cookie: without it, with another's, or from
   another origin, a 403 page and nothing recorded.
5. Checking a step off records it as ``POST /api/incidents/{id}/steps`` does (the escalation
   packet lists it done); the page shows it ticked, by whom.
6. Acknowledge, resolve with a note, then the retrospective (refused before the resolution, and
   ``updated`` without an article): recorded as the API records them.
7. Escalating shows the packet; writing a draft writes ``content/drafts/<slug>.md``, shows its
   path, and the draft is not served.
8. A hostile title and note are escaped on both pages.
9. The retrospective and escalation posts link the incident's page.
(Articles of an audience the viewer lacks: ``tests/test_audiences.py`` probes this page too.)
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.people import PersonKeys, Role
from app.routes.pages import PAGE_CSP
from incidents.records import Activity
from tests import incident_support
from tests.api_support import ADMIN, CONTENT, ENGINEER
from tests.hooks_support import channel_receiver
from tests.test_signin import csrf_of, sign_in

make_client = incident_support.make_client  # the fixture

RUNBOOK = "hikari-connection-pool-exhausted"
HERE = "http://localhost"  # an http:// public URL: the CSRF cookie is not Secure, so it comes back


def _client(make_client: Any, **overrides: Any) -> TestClient:
    client: TestClient = make_client(public_url=HERE, **overrides)
    return client


def _open(client: TestClient, title: str = "Checkout returns 502", **extra: Any) -> int:
    r = client.post("/api/incidents", headers=ENGINEER, json={
        "title": title, "severity": "P2", "services": ["payments-api"],
        "alerts": ["PaymentsApiHigh5xxRate"], **extra})
    assert r.status_code == 201, r.text
    iid: int = r.json()["id"]
    return iid


def _with_runbook(client: TestClient) -> int:
    """An incident whose runbook was posted (as the alert intake records it)."""
    iid = _open(client)
    store = client.app.state.services.incidents.records.store  # type: ignore[attr-defined]
    store.record(iid, Activity.RUNBOOK, RUNBOOK, by="intake", detail={"freshness": "fresh"})
    return iid


def _api(client: TestClient, iid: int) -> dict[str, Any]:
    r = client.get(f"/api/incidents/{iid}", headers=ENGINEER)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _page(client: TestClient, iid: int, headers: dict[str, str] = ENGINEER) -> tuple[str, str]:
    r = client.get(f"/incidents/{iid}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-security-policy"] == PAGE_CSP.format(ancestors="'none'")
    return r.text, csrf_of(r.text)


def _post(client: TestClient, iid: int, action: str, data: dict[str, str],
          headers: dict[str, str] = ENGINEER, **kw: Any) -> Any:
    return client.post(f"/incidents/{iid}/{action}", data=data, headers=headers,
                       follow_redirects=False, **kw)


def _html_error(r: Any, status: int, says: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert says in html.unescape(r.text), r.text
    assert "Traceback" not in r.text


# -- 1. who may see it ------------------------------------------------------------------------------
def test_who_may_see_it(make_client: Any) -> None:
    client = _client(make_client)
    iid = _open(client, title="Redis memory high on cache-7")
    keys = PersonKeys(client.app.state.sessions)
    reader = keys.create("Rae Reader", "rae@x.example", Role.READER).secret
    engineer = keys.create("Erin Eng", "erin@x.example", Role.ENGINEER).secret
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {reader}"}, 403)):
        for url in ("/incidents", f"/incidents/{iid}", f"/incidents/{iid}?done=step"):
            r = client.get(url, headers=headers)
            _html_error(r, status, "Incidents are not available to you")
            assert 'href="/signin?next=' in r.text
            assert "Redis memory high" not in r.text
            assert 'href="http://localhost/incidents"' not in r.text  # not in the header either
        r = _post(client, iid, "status", {"status": "resolved", "csrf": "x"}, headers=headers)
        _html_error(r, status, "Incidents are not available to you")
    assert _api(client, iid)["status"] == "triggered"
    for headers in (ENGINEER, ADMIN, {"Authorization": f"Bearer {engineer}"}):
        r = client.get("/incidents", headers=headers)
        assert r.status_code == 200, r.text
        assert f'<a href="/incidents/{iid}">Redis memory high on cache-7</a>' in r.text
        assert '<a href="http://localhost/incidents" aria-current="page">Incidents</a>' in r.text
        assert "Redis memory high on cache-7</h1>" in _page(client, iid, headers)[0]
    # Signed in with a session (the page's own sign-in form).
    assert sign_in(client, engineer, f"/incidents/{iid}").status_code == 303
    r = client.get(f"/incidents/{iid}")
    assert r.status_code == 200 and "Erin Eng" in r.text


# -- 2. the list ---------------------------------------------------------------------------------
def test_the_list_puts_open_incidents_first_and_filters(make_client: Any) -> None:
    client = _client(make_client)
    old = _open(client, title="Old and open", started_at="2026-11-01T08:00:00Z")
    done = _open(client, title="Newer and resolved")
    assert client.patch(f"/api/incidents/{done}", headers=ENGINEER,
                        json={"status": "resolved"}).status_code == 200
    new = _open(client, title="Newest and open")
    r = client.get("/incidents", headers=ENGINEER)
    order = [int(m) for m in re.findall(r'<a href="/incidents/(\d+)">', r.text)]
    assert order == [new, old, done]
    r = client.get("/incidents?status=resolved", headers=ENGINEER)
    assert [int(m) for m in re.findall(r'<a href="/incidents/(\d+)">', r.text)] == [done]
    assert '<option value="resolved" selected>' in r.text
    r = client.get("/incidents?status=acknowledged", headers=ENGINEER)
    assert "No incident acknowledged yet." in r.text
    _html_error(client.get("/incidents?status=closed", headers=ENGINEER), 422,
                "allowed: triggered, acknowledged, diagnosed, resolved")
    r = client.get("/incidents", params={"status": "<b>x</b>" * 40}, headers=ENGINEER)
    _html_error(r, 422, "allowed: triggered")
    assert "<b>x</b>" not in r.text
    r = client.get(f"/incidents/{new}", params={"done": "<i>" * 100}, headers=ENGINEER)
    assert r.status_code == 200 and "<i>" not in r.text  # ?done= only picks a fixed message


# -- 3. not found, bad input --------------------------------------------------------------------------
def test_unknown_incidents_are_a_404_page(make_client: Any) -> None:
    client = _client(make_client)
    for raw in ("999999", "abc", "0", "-1", "99999999999999999999", "1e3"):
        _html_error(client.get(f"/incidents/{raw}", headers=ENGINEER), 404, "No such incident")
    page = client.get("/incidents", headers=ENGINEER)
    token = csrf_of(page.text)
    _html_error(_post(client, 999999, "steps", {"csrf": token, "step": "1"}), 404,
                "No such incident")


def test_bad_form_input_is_a_4xx_page(make_client: Any) -> None:
    client = _client(make_client)
    iid = _with_runbook(client)
    _text, token = _page(client, iid)
    for data, status, says in (
            ({"article_id": RUNBOOK, "step": "0"}, 422, "step: expected a number from 1 to"),
            ({"article_id": RUNBOOK, "step": "99"}, 422, "step: expected a number from 1 to"),
            ({"article_id": RUNBOOK, "step": "two"}, 422, "step: expected a number from 1 to"),
            ({"article_id": "vpn-keeps-disconnecting", "step": "1"}, 422,
             "is not a runbook of incident")):
        r = _post(client, iid, "steps", {"csrf": token, **data})
        _html_error(r, status, says)
        assert 'role="alert"' in r.text and "Checkout returns 502</h1>" in r.text
    _html_error(_post(client, iid, "status", {"csrf": token, "status": "closed"}), 422,
                "status: unknown status")
    _html_error(_post(client, iid, "status", {"csrf": token, "status": ""}), 422,
                "note: write a note, or choose a status")
    r = client.post(f"/incidents/{iid}/status", headers=ENGINEER, follow_redirects=False,
                    json={"csrf": token, "status": "resolved"})
    _html_error(r, 415, "application/x-www-form-urlencoded")
    r = _post(client, iid, "status", {"csrf": token, "note": "x" * 9000})
    _html_error(r, 413, "the form is over 8192 bytes")
    api = _api(client, iid)
    assert api["status"] == "triggered"
    assert not [a for a in api["activity"] if a["kind"] == "step"]


# -- 4. CSRF ----------------------------------------------------------------------------------------
def test_forms_need_the_csrf_field_of_the_page(make_client: Any) -> None:
    client = _client(make_client)
    iid = _with_runbook(client)
    _text, token = _page(client, iid)
    step = {"article_id": RUNBOOK, "step": "1"}
    for data, headers in (
            (step, ENGINEER),  # no field
            ({**step, "csrf": "not-the-token"}, ENGINEER),
            ({**step, "csrf": token}, {**ENGINEER, "Origin": "https://evil.example"}),
            ({**step, "csrf": token}, {**ENGINEER, "Sec-Fetch-Site": "cross-site"})):
        _html_error(_post(client, iid, "steps", data, headers=headers), 403,
                    "This form has expired: reload the page and try again.")
    client.cookies.clear()  # the field of another browser's cookie
    for action, data in (("steps", step), ("status", {"status": "resolved"}),
                         ("escalate", {}), ("draft", {}),
                         ("retrospective", {"outcome": "nothing-to-write"})):
        _html_error(_post(client, iid, action, {**data, "csrf": token}), 403,
                    "This form has expired")
    api = _api(client, iid)
    assert api["status"] == "triggered"
    assert [t["kind"] for t in api["timeline"]] == ["triggered"]
    assert not [a for a in api["activity"] if a["kind"] == "step"]


# -- 5. a step --------------------------------------------------------------------------------------
def test_checking_a_step_off(make_client: Any) -> None:
    client = _client(make_client)
    iid = _with_runbook(client)
    text, token = _page(client, iid)
    assert text.count('class="step-form"') >= 3  # the runbook's diagnostic steps
    assert "0 of " in text and 'checked disabled' not in text
    r = _post(client, iid, "steps", {"csrf": token, "article_id": RUNBOOK, "step": "2"})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/incidents/{iid}?done=step#step-{RUNBOOK}-2"
    steps = [a for a in _api(client, iid)["activity"] if a["kind"] == "step"]
    assert [(s["ref"], s["detail"], s["by"]) for s in steps] == [(RUNBOOK, {"step": 2},
                                                                  "engineer key")]
    text = client.get(r.headers["location"], headers=ENGINEER).text
    assert "Step checked off." in text
    li = re.search(rf'<li id="step-{RUNBOOK}-2" class="step done">(.*?)</li>', text, re.S)
    assert li and "checked disabled" in li.group(1) and "done by engineer key" in li.group(1)
    assert f'<li id="step-{RUNBOOK}-1" class="step">' in text
    packet = client.post(f"/api/incidents/{iid}/escalate", headers=ENGINEER).json()
    assert [s["step"] for s in packet["runbook"]["diagnostic_steps"] if s["done"]] == [2]
    assert packet["incident"]["url"] == f"{HERE}/incidents/{iid}"


# -- 6. status and the retrospective -----------------------------------------------------------------
def test_resolving_and_the_retrospective(make_client: Any) -> None:
    client = _client(make_client)
    iid = _with_runbook(client)
    text, token = _page(client, iid)
    assert "Asked once the incident is resolved" in text
    r = _post(client, iid, "status", {"csrf": token, "status": "acknowledged", "note": ""})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=acknowledged#status")
    r = _post(client, iid, "retrospective", {"csrf": token, "outcome": "used-as-is"})
    _html_error(r, 409, f"incident {iid} is not resolved yet")
    r = _post(client, iid, "status", {"csrf": token, "status": "resolved",
                                      "note": "raised maximumPoolSize to 40"})
    assert r.status_code == 303
    api = _api(client, iid)
    assert api["status"] == "resolved" and api["acknowledged_at"] and api["resolved_at"]
    resolved = [t for t in api["timeline"] if t["kind"] == "resolved"]
    assert [t["note"] for t in resolved] == ["raised maximumPoolSize to 40"]
    text, token = _page(client, iid)
    assert "Did the fix need knowledge the knowledge base did not have?" in text
    assert all(f'name="outcome" value="{o}"' in text
               for o in ("used-as-is", "updated", "created", "nothing-to-write"))
    assert f'<option value="{RUNBOOK}">' in text  # the articles used, offered
    assert 'name="status" value="resolved"' not in text  # no status button once resolved
    r = _post(client, iid, "retrospective", {"csrf": token, "outcome": "updated"})
    _html_error(r, 422, "article_id: required when the outcome is 'updated'")
    r = _post(client, iid, "retrospective", {"csrf": token, "outcome": "maybe"})
    _html_error(r, 422, "outcome: unknown 'maybe'")
    assert _api(client, iid)["retrospective"]["outcome"] is None
    r = _post(client, iid, "retrospective", {"csrf": token, "outcome": "updated",
                                             "article_id": RUNBOOK})
    assert r.status_code == 303 and r.headers["location"].endswith(
        "?done=retrospective#retrospective")
    retro = _api(client, iid)["retrospective"]
    assert (retro["outcome"], retro["article_id"]) == ("updated", RUNBOOK)
    text, _ = _page(client, iid)
    assert "Answered: <strong>updated</strong>" in text
    assert 'value="updated" required checked' in text


# -- 7. escalation and the draft --------------------------------------------------------------------
def test_escalating_shows_the_packet(make_client: Any) -> None:
    client = _client(make_client)
    iid = _with_runbook(client)
    _text, token = _page(client, iid)
    r = _post(client, iid, "escalate", {"csrf": token, "note": "paging the DBAs"})
    assert r.status_code == 200, r.text
    assert "Escalation packet" in r.text and "0 of " in r.text
    assert "&quot;diagnostic_steps&quot;" in r.text and "paging the DBAs" in r.text
    escalated = [t for t in _api(client, iid)["timeline"] if t["kind"] == "escalated"]
    assert [(t["note"], t["by"]) for t in escalated] == [("paging the DBAs", "engineer key")]


def test_writing_a_draft(make_client: Any, tmp_path: Path) -> None:
    content = shutil.copytree(CONTENT, tmp_path / "content")
    client = _client(make_client, content_dir=content)
    iid = _with_runbook(client)
    text, token = _page(client, iid)
    assert 'name="branch"' not in text  # not a Git work tree: no branch to offer
    r = _post(client, iid, "draft", {"csrf": token})
    assert r.status_code == 201, r.text
    assert '<code class="draft-path">drafts/checkout-returns-502.md</code>' in r.text
    assert "draft-branch" not in r.text
    written = content / "drafts" / "checkout-returns-502.md"
    assert written.read_text().startswith("---\n") and "Checkout returns 502" in written.read_text()
    drafts = [t for t in _api(client, iid)["timeline"] if t["kind"] == "draft"]
    assert [t["value"] for t in drafts] == ["drafts/checkout-returns-502.md"]
    for path in ("/articles/drafts/checkout-returns-502", "/articles/checkout-returns-502",
                 "/api/articles/drafts/checkout-returns-502"):
        assert client.get(path, headers=ENGINEER).status_code == 404, path
    found = client.get("/api/search", params={"q": "Checkout returns 502"}, headers=ENGINEER)
    assert all(not h["path"].startswith("drafts/") for h in found.json()["results"])


def test_a_draft_on_a_branch_when_content_is_a_git_work_tree(
        make_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):  # the identity git commits under, here and
        monkeypatch.setenv(f"{var}_NAME", "Test")  # in the server (the same process)
        monkeypatch.setenv(f"{var}_EMAIL", "test@x.example")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=True).stdout

    repo = tmp_path / "repo"
    content = shutil.copytree(CONTENT, repo / "content")
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "the knowledge base")
    client = _client(make_client, content_dir=content)
    iid = _with_runbook(client)
    text, token = _page(client, iid)
    assert 'name="branch" value="1" checked' in text
    r = _post(client, iid, "draft", {"csrf": token, "branch": "1"})
    assert r.status_code == 201, r.text
    branch = f"kb-draft/incident-{iid}-checkout-returns-502"
    assert f'<code class="draft-branch">{branch}</code>' in r.text
    assert git("show", "--name-only", "--format=", branch).split() == [
        "content/drafts/checkout-returns-502.md"]
    assert git("branch", "--show-current").strip() == "main"


# -- 8. escaping ------------------------------------------------------------------------------------
def test_a_hostile_title_and_note_are_escaped(make_client: Any) -> None:
    client = _client(make_client)
    hostile = '<script>alert(1)</script> "quoted" <img src=x onerror=alert(2)>'
    iid = _open(client, title=hostile, services=["<b>svc</b>"])
    assert client.patch(f"/api/incidents/{iid}", headers=ENGINEER,
                        json={"note": "</textarea><script>alert(3)</script>"}).status_code == 200
    assert client.get("/api/search", params={"q": "<script>alert(4)</script>",
                                             "incident": iid}, headers=ENGINEER).status_code == 200
    for r in (client.get("/incidents", headers=ENGINEER),
              client.get(f"/incidents/{iid}", headers=ENGINEER)):
        assert r.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert "<script>alert" not in r.text and "<img src=x" not in r.text
        assert "<b>svc</b>" not in r.text and "&lt;b&gt;svc&lt;/b&gt;" in r.text
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
        assert all('src="' in attrs and not body.strip() for attrs, body in scripts)
        assert " style=" not in r.text and "<style" not in r.text
    text = client.get(f"/incidents/{iid}", headers=ENGINEER).text
    assert "&lt;/textarea&gt;&lt;script&gt;alert(3)" in text
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in text
    assert "/static/incident.js?v=" in text


# -- 9. the channel posts link the page -----------------------------------------------------------------
def test_the_channel_posts_link_the_page(make_client: Any) -> None:
    with channel_receiver() as receiver:
        client = make_client(receiver)
        iid = _open(client)
        page = f"{incident_support.PUBLIC}/incidents/{iid}"
        client.post(f"/api/incidents/{iid}/escalate", headers=ENGINEER)
        client.patch(f"/api/incidents/{iid}", headers=ENGINEER, json={"status": "resolved"})
        escalation, question = (p.body for p in receiver.wait_for(2))
        assert page in escalation["text"]
        assert f"on the incident's page, {page}" in question["text"]
        assert page in str(question)
