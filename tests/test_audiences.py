"""A third audience (``security``) is kept exactly like the engineer one (issue 15, item 2).

The organisation adds ``security`` to FIELDGUIDE_AUDIENCES and writes one article for it. What
this proves, over a real index of content/ plus that article, on SQLite and PostgreSQL:
1. Anonymous callers, a reader, an engineer (personal key, the old engineer key, a session) never
   get the security article, its id, title or a word of its body on any route: search (GET and
   POST, explain, suggestion), article JSON and page, click events, chat, ChatOps in Slack and
   Teams, freshness, runbook coverage, incidents and their page (an incident whose runbook step
   is the security article), the embed page; the metrics routes stay the admin's.
2. A person given ``security`` (a personal key with ``--audience security``, signed in too)
   finds it on those same routes, and a ``security`` ChatOps workspace gets it: each check can
   fail.
3. An article naming an audience outside the vocabulary is reported at its line by lint and the
   indexer and stays out of the index; unknown audiences in the settings stop the start with
   the allowed values, on one line.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db import engine_for, session_factory, upgrade
from app.people import PersonKeys, Role
from app.settings import Settings, settings_error
from indexer.article import Audience, audience_vocabulary
from indexer.build import build_index
from indexer.embed import Embedder
from tests.api_support import ADMIN, CONTENT, ENGINEER, assert_error, client_for, copy_index, settings_for
from tests.hooks_support import TOKEN
from tests.test_chatops import (
    SLACK_SECRET,
    TEAMS_SECRET,
    slack_form,
    slack_headers,
    teams_body,
    teams_headers,
)
from tests.test_signin import sign_in
from tests.test_sso import CLIENT_ID, CLIENT_SECRET, provider, sign_on  # noqa: F401 (fixture)

SECRET_ID = "security/hsm-seed-rotation"
SECRET_TITLE = "Rotate the hardware security module seeds after a Quetzalcoatl leak"
BODY_WORD = "xochimilco"  # only in the article's body: never in a query
ALERT = "SecurityHsmSeedLeak"
SECRET_ARTICLE = f"""---
id: {SECRET_ID}
title: {SECRET_TITLE}
audience: [security]
symptoms:
  - HSM seed exposed in the Quetzalcoatl leak
  - hardware security module seed rotation needed
alerts: [{ALERT}]
error_codes: [HSM-SEED-4711]
owner: sec-lead@brightwater.example
team: security
last_reviewed: 2025-06-01
---

## Symptom
The {ALERT} alert fires: a hardware security module seed (HSM-SEED-4711) was found in the
Quetzalcoatl leak.

## Likely causes
1. A seed exported for the {BODY_WORD} migration was kept on a laptop.
2. A backup of the HSM partition was copied outside the vault.

## Diagnostic steps
1. List the partitions whose seed fingerprints appear in the leak.
2. Check the {BODY_WORD} export log for who exported them.

## Resolution
Rotate every seed named in the leak and re-wrap the keys under the new seeds.

## Escalation criteria
- Any production partition is affected: page the security on-call.
"""
SECURITY = ["end-user", "engineer", "security"]
QUERIES = [SECRET_TITLE, "quetzalcoatl leak hsm seed", ALERT, "HSM-SEED-4711",
           "hardware security module seed rotation"]


@pytest.fixture(scope="module")
def security_kb(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
                embedder: Embedder) -> tuple[Path, Path]:
    """content/ plus the security article, indexed with the organisation's vocabulary (only
    the new article is embedded: the vectors of the others come with the copied cache)."""
    root = tmp_path_factory.mktemp("security-kb")
    content = root / "content"
    shutil.copytree(CONTENT, content)
    (content / "security").mkdir()
    (content / "security" / "hsm-seed-rotation.md").write_text(SECRET_ARTICLE)
    index = copy_index(kb_index, root / "index")
    report = build_index(content, index, embedder, audiences=audience_vocabulary(["security"]))
    assert report.articles >= 70 and not report.skipped
    return content, index


@dataclasses.dataclass
class Probe:
    client: TestClient
    headers: dict[str, str]
    name: str

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)


def _leaks(text: str, asked: bool = False) -> bool:
    """Whether ``text`` names the article: its id (unless the caller ``asked`` for it by id, and
    the error echoes it), its title or a word of its body."""
    low = text.lower()
    return (SECRET_ID in text and not asked) or BODY_WORD in low or SECRET_TITLE.lower() in low


def _search_ids(probe: Probe, query: str) -> tuple[list[str], str]:
    r = probe.get("/api/search", params={"q": query, "explain": "true", "limit": 50})
    assert r.status_code == 200, r.text
    body = r.json()
    # Everything but the query echoed back (as typed, and normalised under explain).
    shown = json.dumps([body["results"], body["suggestion"], body["showing_results_for"],
                        body["explain"]["weights"]])
    return [x["id"] for x in body["results"]], shown


def _reads(probe: Probe, incident: int) -> dict[str, bool]:
    """Route by route: whether the security article reaches this caller."""
    seen: dict[str, bool] = {}
    hits = []
    for query in QUERIES:
        ids, shown = _search_ids(probe, query)
        hits.append(SECRET_ID in ids)
        if SECRET_ID not in ids:
            assert not _leaks(shown), (probe.name, query, shown)
    seen["search"] = all(hits)
    r = probe.post("/api/search", json={"q": "quetzalcoatl leak hsm seed", "limit": 50})
    assert r.status_code == 200
    seen["search_post"] = SECRET_ID in [x["id"] for x in r.json()["results"]]
    # "did you mean": a misspelt word of the article is never corrected towards it.
    r = probe.get("/api/search", params={"q": "quetzalcoatel"})
    assert r.status_code == 200
    body = r.json()
    suggestion = (body["suggestion"] or "") + (body["showing_results_for"] or "")
    seen["suggest"] = ("quetzalcoatl" in suggestion.lower()
                       or SECRET_ID in [x["id"] for x in body["results"]])
    if not seen["suggest"]:
        assert not _leaks(json.dumps(body["results"]))
    # The article itself, as JSON, as a page, as a click.
    r = probe.get(f"/api/articles/{SECRET_ID}")
    seen["article"] = r.status_code == 200
    if not seen["article"]:
        assert_error(r, 404, "not_found")
        assert not _leaks(r.text, asked=True)
    r = probe.get(f"/articles/{SECRET_ID}", headers={"Accept": "text/html"})
    seen["page"] = r.status_code == 200 and BODY_WORD in r.text.lower()
    if not seen["page"]:
        assert r.status_code == 404 and "text/html" in r.headers["content-type"]
        assert BODY_WORD not in r.text.lower() and SECRET_TITLE not in r.text
    r = probe.post("/api/events/click", json={"article_id": SECRET_ID, "rank": 1})
    seen["click"] = r.status_code == 202
    if not seen["click"]:
        assert_error(r, 404, "not_found")
    # The chatbot: the reply's sources and text.
    r = probe.post("/api/chat", json={"message": "How do I rotate the HSM seeds after the "
                                                 "Quetzalcoatl leak?"})
    assert r.status_code == 200, r.text
    reply = r.json()["reply"]
    seen["chat"] = SECRET_ID in [s["id"] for s in reply["sources"]]
    if not seen["chat"]:
        assert not _leaks(json.dumps(reply)), reply
    # Freshness and runbook coverage (engineers only: a reader or anonymous caller gets 401/403).
    r = probe.get("/api/freshness")
    assert r.status_code == 200
    seen["freshness"] = SECRET_ID in r.text
    if not seen["freshness"]:
        assert not _leaks(r.text)
    for url in ("/api/coverage", "/coverage"):
        r = probe.get(url)
        seen[url] = r.status_code == 200 and SECRET_ID in r.text
        assert r.status_code in (200, 401, 403)
        if not seen[url]:
            assert not _leaks(r.text)
    # An incident worked with the security runbook: named to those who may read it only.
    r = probe.get(f"/api/incidents/{incident}")
    assert r.status_code in (200, 401), r.text
    seen["incident"] = r.status_code == 200 and SECRET_ID in r.text
    if not seen["incident"]:
        assert not _leaks(r.text)
    # Its page: the security article's views, search hits and links for those who may read it.
    r = probe.get(f"/incidents/{incident}")
    assert r.status_code in (200, 401, 403), r.text
    seen["incident page"] = r.status_code == 200 and SECRET_ID in r.text
    if not seen["incident page"]:
        assert not _leaks(r.text)
        assert r.status_code != 200 or "HSM seeds in a leak" in r.text  # the page, without it
    r = probe.get("/api/incidents")  # the list (its items say less than the incident itself)
    assert r.status_code in (200, 401) and (seen["incident"] or not _leaks(r.text))
    r = probe.post(f"/api/incidents/{incident}/escalate", json={"note": "probe"})
    seen["escalation packet"] = r.status_code == 200 and SECRET_ID in r.text
    if not seen["escalation packet"]:
        assert not _leaks(r.text)
    r = probe.get("/embed")
    assert r.status_code == 200 and not _leaks(r.text)
    # Metrics that name articles and queries are the admin's alone.
    for url in ("/api/metrics/search", "/api/metrics/deflection"):
        assert probe.get(url).status_code in (401, 403)
    return seen


def _chatops(client: TestClient, workspace: Audience) -> tuple[bool, bool]:
    """Whether ``/kb`` in Slack and in Teams, configured for ``workspace``, shows the article."""
    services = client.app.state.services  # type: ignore[attr-defined]
    config = services.incidents.config
    # ChatOps reads its secrets from the environment (IncidentsConfig); the vocabulary comes
    # from the settings, as in the service.
    assert Audience("security") in config.audience_vocabulary
    services.incidents.config = dataclasses.replace(
        config, slack_signing_secret=SLACK_SECRET, teams_outgoing_secret=TEAMS_SECRET,
        slack_audience=workspace, teams_audience=workspace)
    try:
        shown = []
        for query in QUERIES[1:]:
            body = slack_form(query)
            r = client.post("/api/chatops/slack", content=body, headers=slack_headers(body))
            assert r.status_code == 200, r.text
            slack = r.json()
            body = teams_body(f"<at>Fieldguide</at> {query}")
            r = client.post("/api/chatops/teams", content=body, headers=teams_headers(body))
            assert r.status_code == 200, r.text
            teams = r.json()
            shown.append((SECRET_ID in json.dumps(slack), SECRET_ID in json.dumps(teams)))
            for answer in (slack, teams):
                if SECRET_ID not in json.dumps(answer):
                    assert not _leaks(json.dumps(answer))
        # The "Post to channel" button cannot fetch it either.
        payload = {"type": "block_actions", "user": {"id": "U1"},
                   "trigger_id": f"1.{time.time_ns()}",  # a new request each time
                   "response_url": "https://example.invalid/x",
                   "actions": [{"action_id": "fieldguide_post_1",
                                "value": json.dumps({"id": SECRET_ID, "q": "x"})}]}
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        r = client.post("/api/chatops/slack", content=body, headers=slack_headers(body))
        if workspace != Audience("security"):
            assert_error(r, 404, "not_found")
        return all(s for s, _ in shown), all(t for _, t in shown)
    finally:
        services.incidents.config = config


@pytest.fixture
def client(db_url: str, tmp_path: Path, security_kb: tuple[Path, Path],
           embedder: Embedder) -> Iterator[TestClient]:
    content, index = security_kb
    settings = settings_for(tmp_path, index, content, database_url=db_url, audiences=SECURITY,
                            public_url="http://localhost", alerts_token=TOKEN,
                            role_groups=["sec-team=engineer:security"],
                            auth_failures_per_minute=0)  # the probe is refused on purpose
    with client_for(settings, embedder) as c:
        yield c


def _key(client: TestClient, role: Role, *audiences: str) -> dict[str, str]:
    sessions = client.app.state.services.sessions  # type: ignore[attr-defined]
    created = PersonKeys(sessions).create(f"{role.value} person", f"{role.value}@x.example",
                                          role, (), [Audience(a) for a in audiences])
    return {"Authorization": f"Bearer {created.secret}"}


def _incident(client: TestClient, security: dict[str, str]) -> int:
    """An incident opened by the HSM alert, whose runbook step the security engineer did."""
    r = client.post("/api/incidents", headers=security,
                    json={"title": "HSM seeds in a leak", "severity": "P2", "alerts": [ALERT]})
    assert r.status_code == 201, r.text
    incident = int(r.json()["id"])
    r = client.post(f"/api/incidents/{incident}/steps", headers=security,
                    json={"article_id": SECRET_ID, "step": 1})
    assert r.status_code == 200, r.text
    assert client.get(f"/articles/{SECRET_ID}", params={"incident": incident},
                      headers=security).status_code == 200
    r = client.get("/api/search", params={"q": ALERT, "incident": incident}, headers=security)
    assert r.status_code == 200
    # The alert arrives too, so runbook coverage has it.
    alert = {"status": "firing", "labels": {"alertname": ALERT, "severity": "critical"},
             "annotations": {"summary": "HSM seed fingerprint seen in a leak"},
             "startsAt": "2026-12-03T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "fingerprint": "5ec0"}
    r = client.post("/api/hooks/alertmanager", headers={"Authorization": f"Bearer {TOKEN}"},
                    json={"version": "4", "groupKey": "{}:{alertname=\"hsm\"}",
                          "status": "firing", "receiver": "fieldguide", "groupLabels": {},
                          "commonLabels": {}, "commonAnnotations": {},
                          "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
                          "alerts": [alert]})
    assert r.status_code == 202, r.text
    # The incident channel reads what an engineer reads: the alert names the security runbook
    # (its front matter's alerts), and the intake posts no runbook rather than that one.
    assert SECRET_ID not in r.text and SECRET_TITLE not in r.text
    return incident


def test_a_third_audience_reaches_only_those_given_it(client: TestClient) -> None:
    security = _key(client, Role.ENGINEER, "security")
    incident = _incident(client, security)
    callers = {"anonymous": {}, "reader": _key(client, Role.READER),
               "engineer": _key(client, Role.ENGINEER), "engineer key": ENGINEER}
    for name, headers in callers.items():
        seen = _reads(Probe(client, headers, name), incident)
        assert not any(seen.values()), (name, {k: v for k, v in seen.items() if v})
    seen = _reads(Probe(client, security, "security"), incident)
    assert all(seen.values()), {k: v for k, v in seen.items() if not v}
    # The admin reads every audience.
    assert client.get(f"/api/articles/{SECRET_ID}", headers=ADMIN).status_code == 200
    # ChatOps: an engineer (or end-user) workspace never, a security workspace always.
    assert _chatops(client, Audience.ENGINEER) == (False, False)
    assert _chatops(client, Audience.END_USER) == (False, False)
    assert _chatops(client, Audience("security")) == (True, True)


def test_sessions_follow_the_key_and_the_page_says_what_it_reads(client: TestClient) -> None:
    engineer = _key(client, Role.ENGINEER)["Authorization"].split()[1]
    assert sign_in(client, engineer).status_code == 303
    seen = _reads(Probe(client, {}, "engineer session"), _incident(
        client, _key(client, Role.ENGINEER, "security")))
    assert not any(seen.values()), {k: v for k, v in seen.items() if v}
    assert "sees end-user, engineer<" in client.get("/").text
    client.cookies.clear()
    reader = _key(client, Role.READER, "security")["Authorization"].split()[1]
    assert sign_in(client, reader).status_code == 303
    assert "sees end-user, security<" in client.get("/").text
    assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
    # A security reader is no engineer: engineer runbooks stay closed.
    assert_error(client.get("/api/articles/alertmanager-notifications-not-delivered"), 404)


def test_unknown_audiences_are_reported_at_their_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    content = tmp_path / "content"
    content.mkdir()
    (content / "ok.md").write_text(SECRET_ARTICLE)
    (content / "typo.md").write_text(SECRET_ARTICLE.replace("id: security/hsm-seed-rotation",
                                                            "id: typo")
                                     .replace("audience: [security]", "audience: [securty]"))
    monkeypatch.setenv("FIELDGUIDE_CONTENT_DIR", str(content))
    monkeypatch.setenv("FIELDGUIDE_AUDIENCES", "security")
    monkeypatch.setenv("FIELDGUIDE_DATA_DIR", str(tmp_path / "var"))
    assert main(["lint", "--errors-only"]) == 1
    out = capsys.readouterr().out
    assert ("typo.md:4: unknown-audience unknown audience 'securty' (allowed: end-user, "
            "engineer, security)") in out
    assert "ok.md" not in out


@pytest.mark.parametrize(("values", "needle"), [
    ({"role_groups": ["sec=engineer:security"]},
     "FIELDGUIDE_ROLE_GROUPS: unknown audience 'security' (allowed: end-user, engineer)"),
    ({"audiences": SECURITY, "role_groups": ["sec=engineer:secret"]},
     "FIELDGUIDE_ROLE_GROUPS: unknown audience 'secret' (allowed: end-user, engineer, security)"),
    ({"slack_audience": "security"},
     "FIELDGUIDE_SLACK_AUDIENCE: unknown audience 'security' (allowed: end-user, engineer)"),
    ({"audiences": SECURITY, "teams_audience": "ops"},
     "FIELDGUIDE_TEAMS_AUDIENCE: unknown audience 'ops' (allowed: end-user, engineer, security)"),
    ({"default_audience": "security"},
     "FIELDGUIDE_DEFAULT_AUDIENCE: unknown audience 'security' (allowed: end-user, engineer)"),
    ({"audiences": ["end-user", "Security Team"]}, "FIELDGUIDE_AUDIENCES: audience 'Security Team'"),
])
def test_unknown_audiences_in_the_settings_stop_the_start(tmp_path: Path, values: dict[str, Any],
                                                          needle: str) -> None:
    with pytest.raises(ValueError) as info:
        Settings(data_dir=tmp_path, **values)
    message = settings_error(info.value)
    assert message.startswith(needle) and "\n" not in message, message


def test_the_vocabulary_always_holds_the_built_in_audiences(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, audiences="security, end-user")
    assert settings.audiences == ["end-user", "engineer", "security"]


def test_keys_carry_their_audiences(db_url: str) -> None:
    engine = engine_for(Settings(database_url=db_url))
    try:
        upgrade(engine)
        keys = PersonKeys(session_factory(engine))
        created = keys.create("Sam", "sam@x.example", Role.READER, (), [Audience("security")])
        assert created.info.audiences == ("security",)
        person = keys.person_for(created.secret)
        assert person is not None and person.audiences == {Audience.END_USER, Audience("security")}
        plain = keys.create("Pat", "pat@x.example", Role.ENGINEER)
        person = keys.person_for(plain.secret)
        assert person is not None and person.audiences == {Audience.END_USER, Audience.ENGINEER}
    finally:
        engine.dispose()


# -- single sign-on: groups give the audience; a settings change applies to open sessions ------

def test_a_sign_on_group_gives_security_until_the_mapping_drops_it(
        tmp_path: Path, security_kb: tuple[Path, Path], embedder: Embedder, provider: str  # noqa: F811
) -> None:
    """Through the real provider (tests/oidc_provider.py): sven's group ``sec-team`` gives
    ``security``; the service restarted with a mapping that no longer gives it narrows his open
    session at its next request (the session keeps his groups, not what they gave)."""
    content, index = security_kb

    def settings(*role_groups: str) -> Settings:
        return settings_for(tmp_path, index, content, audiences=SECURITY,
                            public_url="http://localhost", oidc_issuer=provider,
                            oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET,
                            oidc_scopes="openid email profile groups",
                            role_groups=list(role_groups))

    with client_for(settings("sec-team=engineer:security"), embedder) as client:
        assert sign_on(client, "sven").status_code == 303
        assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
        assert "sees end-user, engineer, security<" in client.get("/").text
        cookies = dict(client.cookies)
    with client_for(settings("sec-team=engineer"), embedder, cookies=cookies) as client:
        assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404, "not_found")
        page = client.get("/").text
        assert 'data-role="engineer"' in page and "sees end-user, engineer<" in page
        assert client.get("/api/articles/alertmanager-notifications-not-delivered").status_code == 200
    with client_for(settings(), embedder, cookies=cookies) as client:
        assert_error(client.get("/api/articles/alertmanager-notifications-not-delivered"), 404)
        assert 'data-role="reader"' in client.get("/").text
