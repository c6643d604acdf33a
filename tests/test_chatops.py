"""``/kb`` in Slack and Teams (issue 13, item 4). What this proves:

1. Slack requests signed exactly as Slack documents (``v0=`` HMAC-SHA256 of
   ``v0:{timestamp}:{raw body}``, here computed by ``slack_sdk``'s own signer) are answered with
   an ephemeral Block Kit message: title, link, snippet, freshness, a "Post to channel" button.
2. A stale timestamp, a replayed request and a wrong secret are each a 401 with the error body;
   no secret configured is a 403 with the error body, never an open door.
3. Teams' ``Authorization: HMAC <base64 HMAC-SHA256 of the body>`` (keyed with the base64-decoded
   secret) is verified the same way; a wrong one is a 401.
4. A workspace configured ``end-user`` (the default) never gets an engineer article, title or
   snippet, even when the query names an engineer-only alert or error code; one configured
   ``engineer`` does (so the check can fail).
5. What users type is escaped in mrkdwn (``&``, ``<``, ``>``); ``/kb`` alone gives usage; no
   results says so and links to search and to asking for an article.
6. "Post to channel" posts the article in the channel through Slack's ``response_url``, and only
   to Slack's host.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine

from app.db import session_factory
from app.routes import chatops as chatops_route
from app.routes.chatops import first_use
from freshness.policy import Freshness, Status
from incidents.chatops import KbAnswer, KbHit, slack_reply, snippet_mrkdwn, teams_query, teams_reply
from incidents.config import IncidentsConfig
from indexer.article import Audience
from indexer.embed import Embedder
from tests.api_support import assert_error, client_for, settings_for
from tests.test_freshness_notify import Receiver

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the example secret of Slack's docs
TEAMS_SECRET = base64.b64encode(b"teams-outgoing-webhook-secret-01").decode()
ENGINEER_ID = "alertmanager-notifications-not-delivered"
ENGINEER_TITLE = "Alertmanager not delivering notifications"
PUBLIC = "https://kb.example"


def slack_form(text: str, **extra: str) -> bytes:
    fields = {"token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0001", "team_domain": "example",
              "channel_id": "C2147483705", "channel_name": "incidents", "user_id": "U2147483697",
              "user_name": "steve", "command": "/kb", "text": text,
              "response_url": "https://hooks.slack.com/commands/1234/5678",
              "trigger_id": f"13345224609.{time.time_ns()}", **extra}  # unique per command
    return urllib.parse.urlencode(fields).encode()


def slack_headers(body: bytes, secret: str = SLACK_SECRET, at: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}


def teams_headers(body: bytes, secret_b64: str = TEAMS_SECRET) -> dict[str, str]:
    digest = hmac.new(base64.b64decode(secret_b64), body, hashlib.sha256).digest()
    return {"Authorization": f"HMAC {base64.b64encode(digest).decode()}",
            "Content-Type": "application/json"}


def teams_body(text: str) -> bytes:
    return json.dumps({"type": "message", "id": f"{time.time_ns()}", "text": text,
                       "from": {"id": "29:1", "name": "Steve"},
                       "channelData": {"teamsTeamId": "19:x", "channel": {"id": "19:y"}}}).encode()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[TestClient]:
    settings = settings_for(tmp_path_factory.mktemp("chatops"), kb_index, public_url=PUBLIC)
    with client_for(settings, embedder) as c:
        configure(c)
        yield c


def configure(client: TestClient, **values: Any) -> None:
    base = {"slack_signing_secret": SLACK_SECRET, "teams_outgoing_secret": TEAMS_SECRET,
            "public_url": PUBLIC}
    # The service reads its config once in the lifespan; a test swaps it for each case.
    client.app.state.services.incidents.config = IncidentsConfig(**{**base, **values})


def kb(client: TestClient, text: str) -> dict[str, Any]:
    body = slack_form(text)
    r = client.post("/api/chatops/slack", content=body, headers=slack_headers(body))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


# -- 1. the answer ---------------------------------------------------------------------------

def test_signed_slash_command_gets_an_ephemeral_block_kit_answer(client: TestClient) -> None:
    data = kb(client, "VPN keeps disconnecting")
    assert data["response_type"] == "ephemeral" and data["text"]
    sections = [b for b in data["blocks"] if b["type"] == "section"]
    links = [b["text"]["text"] for b in sections if f"<{PUBLIC}/articles/" in b["text"]["text"]]
    assert 1 <= len(links) <= 3
    assert all(b["text"]["type"] == "mrkdwn" for b in sections)
    buttons = [e for b in data["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert len(buttons) == len(links) and buttons[0]["text"]["text"] == "Post to channel"
    assert json.loads(buttons[0]["value"])["q"] == "VPN keeps disconnecting"
    context = [e["text"] for b in data["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert any(("Fresh" in t or "review" in t or "Unverified" in t) for t in context)


def test_no_text_gives_usage_and_no_result_says_so(client: TestClient) -> None:
    usage = kb(client, "   ")
    assert usage["text"].startswith("Usage: `/kb")
    none = kb(client, "qqxzv wqpfj zzkrrt")
    text = json.dumps(none["blocks"])
    assert "No article matches" in none["text"]
    assert f"{PUBLIC}/chat" in text and f"{PUBLIC}/?q=" in text


# -- 2. verification -------------------------------------------------------------------------

def test_stale_timestamp_is_refused(client: TestClient) -> None:
    body = slack_form("vpn")
    r = client.post("/api/chatops/slack", content=body,
                    headers=slack_headers(body, at=time.time() - 6 * 60))
    assert "300 s" in assert_error(r, 401, "unauthorized")["error"]["message"]


def test_replayed_request_is_refused(client: TestClient) -> None:
    body = slack_form("printer offline")
    headers = slack_headers(body)
    assert client.post("/api/chatops/slack", content=body, headers=headers).status_code == 200
    body2 = client.post("/api/chatops/slack", content=body, headers=headers)
    assert "replayed" in assert_error(body2, 401, "unauthorized")["error"]["message"]


def test_a_delivery_key_is_taken_once(engine: Engine) -> None:
    """The replay guard on SQLite and PostgreSQL: the first use wins, every later one loses."""
    sessions = session_factory(engine)
    assert first_use(sessions, "slack:abc") is True
    assert first_use(sessions, "slack:abc") is False
    assert first_use(sessions, "teams:abc") is True


def test_wrong_secret_or_tampered_body_is_refused(client: TestClient) -> None:
    body = slack_form("vpn")
    assert_error(client.post("/api/chatops/slack", content=body,
                             headers=slack_headers(body, secret="not-the-secret")), 401, "unauthorized")
    headers = slack_headers(body)
    assert_error(client.post("/api/chatops/slack", content=slack_form("vpn!"), headers=headers),
                 401, "unauthorized")
    assert_error(client.post("/api/chatops/slack", content=body), 401, "unauthorized")


def test_without_a_secret_the_door_is_shut(client: TestClient) -> None:
    configure(client, slack_signing_secret=None, teams_outgoing_secret=None)
    try:
        body = slack_form("vpn")
        msg = assert_error(client.post("/api/chatops/slack", content=body,
                                       headers=slack_headers(body)), 403, "forbidden")
        assert "FIELDGUIDE_SLACK_SIGNING_SECRET" in msg["error"]["message"]
        tb = teams_body("vpn")
        msg = assert_error(client.post("/api/chatops/teams", content=tb,
                                       headers=teams_headers(tb)), 403, "forbidden")
        assert "FIELDGUIDE_TEAMS_OUTGOING_SECRET" in msg["error"]["message"]
    finally:
        configure(client)


def test_oversized_body_is_413(client: TestClient) -> None:
    body = slack_form("x" * 70_000)
    assert_error(client.post("/api/chatops/slack", content=body, headers=slack_headers(body)),
                 413, "payload_too_large")


# -- 3. Teams --------------------------------------------------------------------------------

def test_teams_hmac_valid_and_wrong(client: TestClient) -> None:
    body = teams_body("<at>Fieldguide</at> printer is offline")
    r = client.post("/api/chatops/teams", content=body, headers=teams_headers(body))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["type"] == "message" and f"]({PUBLIC}/articles/" in data["text"]
    other = base64.b64encode(b"another-secret-entirely-32-bytes").decode()
    body = teams_body("<at>Fieldguide</at> vpn")
    assert_error(client.post("/api/chatops/teams", content=body,
                             headers=teams_headers(body, other)), 401, "unauthorized")
    assert_error(client.post("/api/chatops/teams", content=body,
                             headers={"Authorization": "Bearer x"}), 401, "unauthorized")


# -- 4. audiences ----------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["AlertmanagerFailedToSendAlerts", "channel_not_found",
                                   ENGINEER_TITLE])
def test_end_user_workspace_never_sees_engineer_articles(client: TestClient, query: str) -> None:
    slack = json.dumps(kb(client, query)).lower()
    assert ENGINEER_ID not in slack and ENGINEER_TITLE.lower() not in slack.replace(
        query.lower(), "")
    body = teams_body(f"<at>Fieldguide</at> {query}")
    teams = client.post("/api/chatops/teams", content=body, headers=teams_headers(body)).json()
    text = teams["text"].lower().replace(query.lower().replace("_", "\\_"), "")
    assert ENGINEER_ID not in text and ENGINEER_TITLE.lower() not in text


def test_engineer_workspace_does_see_them(client: TestClient) -> None:
    configure(client, slack_audience=Audience.ENGINEER)
    try:
        assert ENGINEER_ID in json.dumps(kb(client, "AlertmanagerFailedToSendAlerts"))
    finally:
        configure(client)


def test_post_to_channel_cannot_fetch_an_engineer_article(client: TestClient) -> None:
    payload = {"type": "block_actions", "user": {"id": "U1"},
               "response_url": "https://example.invalid/x",
               "actions": [{"action_id": "fieldguide_post_1",
                            "value": json.dumps({"id": ENGINEER_ID, "q": "x"})}]}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    assert_error(client.post("/api/chatops/slack", content=body, headers=slack_headers(body)),
                 404, "not_found")


# -- 5. rendering ----------------------------------------------------------------------------

def _shown(value: Any) -> list[str]:
    """Every text Slack renders in ``value`` (blocks), button values left out."""
    if isinstance(value, list):
        return [t for v in value for t in _shown(v)]
    if isinstance(value, dict):
        return [t for k, v in value.items() if k != "value" for t in
                ([v] if k == "text" and isinstance(v, str) else _shown(v))]
    return []


def _hit(title: str, snippet: str, fresh: Freshness) -> KbHit:
    return KbHit("a", title, f"{PUBLIC}/articles/a", snippet, fresh)


def test_user_text_is_escaped_in_mrkdwn() -> None:
    hit = _hit("<!channel> Fix & <b>win</b>", "use <mark>vpn</mark> &amp; &lt;!here&gt;",
               Freshness(Status.FRESH, dt.date(2027, 1, 1), False))
    reply = slack_reply(KbAnswer("<@U123> & <!everyone>", (hit,), PUBLIC))
    text = json.dumps(_shown(reply["blocks"]))  # button values are data, not shown
    assert "<!channel>" not in text and "<!here>" not in text and "<!everyone>" not in text
    assert "&lt;!channel&gt; Fix &amp; &lt;b&gt;win&lt;/b&gt;" in text
    assert snippet_mrkdwn("use <mark>vpn</mark> &amp; &lt;!here&gt;") == "use *vpn* &amp; &lt;!here&gt;"


def test_unverified_runbook_carries_the_warning_everywhere() -> None:
    hit = _hit("Old runbook", "text", Freshness(Status.UNVERIFIED, dt.date(2020, 1, 1), True))
    answer = KbAnswer("old", (hit,), PUBLIC)
    assert "Unverified" in json.dumps(slack_reply(answer)["blocks"])
    assert "Unverified" in teams_reply(answer)["text"]


def test_teams_mention_is_not_part_of_the_question() -> None:
    assert teams_query("<at>Fieldguide</at>&nbsp;ORA-12154 <b>now</b>") == "ORA-12154 now"
    assert teams_query("<at>Fieldguide KB</at> /kb vpn") == "vpn"


# -- 6. Post to channel ----------------------------------------------------------------------

@pytest.fixture
def slack_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A real local HTTP server standing in for Slack's response_url host."""
    with Receiver() as receiver:
        monkeypatch.setattr(chatops_route, "SLACK_RESPONSE_PREFIXES", (receiver.url,))
        yield receiver


def test_post_to_channel_posts_in_channel_through_response_url(client: TestClient,
                                                               slack_hooks: Receiver) -> None:
    answer = kb(client, "printer is offline")
    button = next(e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"])
    payload = {"type": "block_actions", "user": {"id": "U2147483697"},
               "response_url": slack_hooks.url + "/actions/T1/1/x",
               "actions": [{"action_id": button["action_id"], "value": button["value"]}]}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    r = client.post("/api/chatops/slack", content=body, headers=slack_headers(body))
    assert r.status_code == 200, r.text
    assert len(slack_hooks.bodies) == 1
    posted = slack_hooks.bodies[0]
    assert posted["response_type"] == "in_channel" and "<@U2147483697> shared" in json.dumps(posted)
    # A response_url off Slack's host gets nothing.
    payload["response_url"] = "http://169.254.169.254/latest"
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    assert client.post("/api/chatops/slack", content=body,
                       headers=slack_headers(body)).status_code == 200
    assert len(slack_hooks.bodies) == 1
