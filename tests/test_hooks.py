"""Alert intake through the real app, posts checked at a real local webhook receiver (issue 13).

Properties proved, on SQLite and PostgreSQL:

1. An Alertmanager group answers 202 with each alert's runbook and how it was found
   (``runbook_url``, ``alert``, none); the team's channel gets one post with the alert (name,
   severity, key labels, summary, link to ``generatorURL``), the runbook (title, link, freshness,
   first diagnostic steps, escalation criteria), and for the alert without one a link to a
   prefilled template.
2. Dedupe by ``groupKey``: the same group again posts nothing; a changed firing set posts again;
   the resolution posts "resolved after N min" once.
3. A missing or wrong token is a 401 with the error body and nothing is stored; no token
   configured is a 503 naming the setting.
4. Bad input (no ``alerts``, not JSON, over the byte or alert limits) is a 4xx with the error
   body; one malformed alert does not drop the others.
5. A channel that is down loses nothing: the post stays pending, is retried, arrives later.
6. PagerDuty V3: a signed event posts; the same event redelivered does nothing; a bad signature
   is a 401; Grafana's webhook shape goes through the Alertmanager route; Teams gets a card.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import make_engine
from freshness.policy import Freshness, Status
from incidents.models import AlertGroupRow, AlertSeenRow, ChannelPostRow
from incidents.posts import AlertView, render_firing, runbook_view
from indexer.embed import Embedder
from indexer.search import Searcher
from tests.api_support import assert_error, client_for, settings_for
from tests.hooks_support import BEARER, TOKEN, ChannelReceiver, channel_receiver

PUBLIC = "https://kb.example"
PD_SECRET = "pagerduty-secret-for-tests"
URL = "/api/hooks/alertmanager"


def alert(name: str, fp: str, *, status: str = "firing", labels: dict[str, str] | None = None,
          summary: str = "", runbook_url: str | None = None,
          ends: str = "0001-01-01T00:00:00Z") -> dict[str, Any]:
    annotations = {"summary": summary} if summary else {}
    if runbook_url:
        annotations["runbook_url"] = runbook_url
    return {"status": status, "labels": {"alertname": name, **(labels or {})},
            "annotations": annotations, "startsAt": "2026-12-03T00:00:00.123456789Z",
            "endsAt": ends, "generatorURL": f"http://prometheus:9090/graph?g0.expr={name}",
            "fingerprint": fp}


def group(alerts: list[dict[str, Any]], key: str = '{}:{service="redis"}') -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {"version": "4", "groupKey": key, "status": "firing" if firing else "resolved",
            "receiver": "fieldguide", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "truncatedAlerts": 0, "alerts": alerts}


REDIS = alert("RedisMemoryHigh", "aaa1", labels={"service": "redis", "severity": "critical",
                                                  "instance": "redis-sessions-0"},
              summary="Redis memory above 90% of maxmemory")
ARGO = alert("SomethingArgo", "bbb2", labels={"severity": "warning"},
             runbook_url=f"{PUBLIC}/articles/argocd-app-outofsync")
ETCD = alert("EtcdNoLeader", "ccc3", labels={"severity": "critical"},
             summary="etcd cluster has no leader")


@pytest.fixture
def receiver() -> Iterator[ChannelReceiver]:
    with channel_receiver() as r:
        yield r


@pytest.fixture
def make_client(tmp_path: Path, kb_index: Path, embedder: Embedder, db_url: str,
                receiver: ChannelReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("FIELDGUIDE_POST_RETRIES", "1")
    monkeypatch.setenv("FIELDGUIDE_POST_BACKOFF_S", "0.05")
    clients: list[Any] = []

    def make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {"database_url": db_url, "public_url": PUBLIC,
                                  "alerts_token": TOKEN, "pagerduty_secret": PD_SECRET,
                                  "slack_webhook_url": receiver.url + "/slack"}
        values.update(overrides)
        ctx = client_for(settings_for(tmp_path, kb_index, **values), embedder)
        clients.append(ctx)
        return ctx.__enter__()

    yield make
    for ctx in reversed(clients):
        ctx.__exit__(None, None, None)


def rows(db_url: str, table: Any) -> int:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return int(s.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        engine.dispose()


def post_rows(db_url: str) -> list[ChannelPostRow]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(ChannelPostRow).order_by(ChannelPostRow.id)))
    finally:
        engine.dispose()


def all_sent(db_url: str, count: int, timeout: float = 10.0) -> list[ChannelPostRow]:
    """The outbox once ``count`` rows are sent (the receiver hears a post just before)."""
    deadline = time.monotonic() + timeout
    while True:
        found = post_rows(db_url)
        if sum(p.status == "sent" for p in found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_group_posts_its_runbooks_to_the_team_channel(make_client: Any,
                                                      receiver: ChannelReceiver) -> None:
    client = make_client()
    r = client.post(URL, json=group([REDIS, ARGO, ETCD]), headers=BEARER)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["decision"] == "new"
    got = {a["alertname"]: a for a in body["alerts"]}
    assert got["RedisMemoryHigh"]["runbook"]["id"] == "redis-maxmemory-evictions"
    assert got["RedisMemoryHigh"]["runbook"]["how"] == "alert"
    assert got["RedisMemoryHigh"]["runbook"]["url"] == f"{PUBLIC}/articles/redis-maxmemory-evictions"
    assert set(got["RedisMemoryHigh"]["runbook"]["freshness"]) == {"status", "review_by", "banner"}
    assert got["SomethingArgo"]["runbook"]["how"] == "runbook_url"
    assert got["SomethingArgo"]["runbook"]["id"] == "argocd-app-outofsync"
    assert got["EtcdNoLeader"]["runbook"] is None
    assert got["RedisMemoryHigh"]["fingerprint"] == "aaa1"

    post = receiver.wait_for(1)[0]
    assert post.path == "/slack"
    assert post.body["channel"] == "#team-platform"  # redis is Platform's (teams.yaml)
    text = post.body["text"]
    assert "RedisMemoryHigh" in text and "[critical]" in text
    assert "service=redis" in text and "instance=redis-sessions-0" in text
    assert "Redis memory above 90% of maxmemory" in text
    assert "<http://prometheus:9090/graph?g0.expr=RedisMemoryHigh|source>" in text
    assert f"<{PUBLIC}/articles/redis-maxmemory-evictions|" in text
    assert "freshness: " in text
    assert "*First diagnostic steps*" in text and "1. Check memory and eviction stats" in text
    assert "*Escalate when*" in text and "page Platform on-call" in text
    assert "No runbook found for *EtcdNoLeader*" in text
    assert f"<{PUBLIC}/api/hooks/template?alertname=EtcdNoLeader" in text
    blocks = post.body["blocks"]
    assert blocks[0]["type"] == "header" and "RedisMemoryHigh" in blocks[0]["text"]["text"]
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")

    template = client.get("/api/hooks/template", params={"alertname": "EtcdNoLeader",
                                                         "summary": "etcd cluster has no leader"})
    assert template.status_code == 200
    assert template.headers["content-type"].startswith("text/markdown")
    assert "alerts: [EtcdNoLeader]" in template.text and "## Diagnostic steps" in template.text


def test_dedupe_by_group_key_and_resolution(make_client: Any, receiver: ChannelReceiver,
                                            db_url: str) -> None:
    client = make_client()
    assert client.post(URL, json=group([REDIS]), headers=BEARER).json()["decision"] == "new"
    receiver.wait_for(1)
    # Alertmanager re-sends an unchanged group every repeat_interval: silence.
    again = client.post(URL, json=group([REDIS]), headers=BEARER)
    assert again.status_code == 202 and again.json()["decision"] == "unchanged"
    # Another group is another post; the same group with one more firing alert is an update.
    pods = alert("KubePodCrashLooping", "ddd4", labels={"team": "payments",
                                                         "namespace": "payments"},
                 summary="Pod payments-api is restarting")
    changed = client.post(URL, json=group([REDIS, pods]), headers=BEARER)
    assert changed.json()["decision"] == "changed"
    posts = receiver.wait_for(2)
    assert posts[1].body["text"].count("KubePodCrashLooping") >= 1
    assert "Still firing, changed" in posts[1].body["blocks"][0]["text"]["text"]
    # Resolution: every alert resolved (endsAt 23 minutes after startsAt).
    ends = "2026-12-03T00:23:00Z"
    resolved = [dict(REDIS, status="resolved", endsAt=ends), dict(pods, status="resolved", endsAt=ends)]
    first = client.post(URL, json=group(resolved), headers=BEARER)
    assert first.json()["decision"] == "resolved"
    assert {a["status"] for a in first.json()["alerts"]} == {"resolved"}
    posts = receiver.wait_for(3)
    assert "resolved after 23 min" in posts[2].body["text"]
    assert client.post(URL, json=group(resolved), headers=BEARER).json()["decision"] == "unchanged"
    # It fires again: a new episode, a new post.
    assert client.post(URL, json=group([REDIS]), headers=BEARER).json()["decision"] == "new"
    receiver.wait_for(4)
    outbox = all_sent(db_url, 4)
    assert len(outbox) == 4
    assert all(p.status == "sent" and p.sent_at is not None for p in outbox)
    assert [p.kind for p in outbox] == ["firing", "firing", "resolved", "firing"]
    assert rows(db_url, AlertGroupRow) == 1 and rows(db_url, AlertSeenRow) == 2


def test_token_checked_before_anything_is_stored(make_client: Any, db_url: str,
                                                 receiver: ChannelReceiver) -> None:
    client = make_client()
    body = group([REDIS])
    assert_error(client.post(URL, json=body), 401, "unauthorized")
    assert_error(client.post(URL, json=body, headers={"Authorization": "Bearer nope"}), 401,
                 "unauthorized")
    assert_error(client.post(URL, json=body, headers={"Authorization": TOKEN}), 401)
    assert rows(db_url, AlertGroupRow) == 0 and rows(db_url, AlertSeenRow) == 0
    assert rows(db_url, ChannelPostRow) == 0 and receiver.posts == []


def test_not_configured_refuses_and_says_which_setting(make_client: Any, db_url: str) -> None:
    client = make_client(alerts_token=None, pagerduty_secret=None)
    err = assert_error(client.post(URL, json=group([REDIS]), headers=BEARER), 503, "unavailable")
    assert "FIELDGUIDE_ALERTS_TOKEN" in err["error"]["message"]
    err = assert_error(client.post("/api/hooks/pagerduty", content=b"{}"), 503, "unavailable")
    assert "FIELDGUIDE_PAGERDUTY_SECRET" in err["error"]["message"]
    assert rows(db_url, AlertGroupRow) == 0


def test_bad_input_is_a_4xx_and_one_bad_alert_keeps_the_others(
        make_client: Any, db_url: str, monkeypatch: pytest.MonkeyPatch,
        receiver: ChannelReceiver) -> None:
    monkeypatch.setenv("FIELDGUIDE_MAX_BODY_BYTES", str(20_000_000))  # to reach the alert limit
    client = make_client()
    assert_error(client.post(URL, json={"version": "4", "groupKey": "g"}, headers=BEARER), 400,
                 "bad_request")
    assert_error(client.post(URL, content=b"{nope", headers=BEARER), 400, "bad_request")
    assert_error(client.post(URL, json=group([REDIS] * 10_000), headers=BEARER), 413,
                 "payload_too_large")
    big = b'{"alerts": [' + b" " * 21_000_000 + b"]}"
    assert_error(client.post(URL, content=big, headers=BEARER), 413, "payload_too_large")
    assert rows(db_url, AlertGroupRow) == 0

    mixed = group([REDIS, {"labels": {"severity": "x"}}, "not an alert", ETCD])
    r = client.post(URL, json=mixed, headers=BEARER)
    assert r.status_code == 202, r.text
    assert [a["alertname"] for a in r.json()["alerts"]] == ["RedisMemoryHigh", "EtcdNoLeader"]
    assert len(r.json()["rejected"]) == 2
    assert rows(db_url, AlertSeenRow) == 2
    receiver.wait_for(1)


def test_the_default_body_limit_is_enforced(make_client: Any) -> None:
    client = make_client()
    err = assert_error(client.post(URL, content=b"x" * 10_000_000, headers=BEARER), 413)
    assert "FIELDGUIDE_MAX_BODY_BYTES" in err["error"]["message"]


def test_a_channel_that_is_down_loses_nothing(make_client: Any, receiver: ChannelReceiver,
                                              db_url: str) -> None:
    receiver.down = True
    client = make_client()
    assert client.post(URL, json=group([REDIS]), headers=BEARER).status_code == 202
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # tried, refused, recorded, tried again
        found = post_rows(db_url)
        if found and found[0].attempts >= 2:
            break
        time.sleep(0.05)
    assert receiver.refused >= 2
    [pending] = post_rows(db_url)
    assert pending.status == "pending" and pending.attempts >= 2
    assert pending.error and "503" in pending.error
    receiver.down = False
    [post] = receiver.wait_for(1, timeout=20)
    assert "RedisMemoryHigh" in post.body["text"]
    [sent] = all_sent(db_url, 1)
    assert sent.status == "sent" and sent.error is None


def pd_event(event_id: str, event_type: str = "incident.triggered",
             status: str = "triggered") -> bytes:
    return json.dumps({"event": {
        "id": event_id, "event_type": event_type, "resource_type": "incident",
        "occurred_at": "2026-12-03T00:00:00.000Z", "agent": None, "client": None,
        "data": {"id": "PGR0VU2", "type": "incident", "number": 2, "status": status,
                 "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                 "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                 "title": "KubePodCrashLooping", "urgency": "high",
                 "service": {"id": "PF9KMXH", "summary": "payments-api", "type": "service_reference"},
                 "teams": [{"id": "PFCVPS0", "summary": "payments", "type": "team_reference"}]}}}
    ).encode()


def pd_headers(body: bytes, secret: str = PD_SECRET) -> dict[str, str]:
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-PagerDuty-Signature": f"v1=0000,v1={sig}", "Content-Type": "application/json"}


def test_pagerduty_signed_events(make_client: Any, receiver: ChannelReceiver, db_url: str) -> None:
    client = make_client()
    body = pd_event("01DEN2QZ2D8Z3TJ8C3Y3KM5QXS")
    assert_error(client.post("/api/hooks/pagerduty", content=body,
                             headers=pd_headers(body, "wrong")), 401, "unauthorized")
    assert_error(client.post("/api/hooks/pagerduty", content=body), 401, "unauthorized")
    assert rows(db_url, AlertGroupRow) == 0
    r = client.post("/api/hooks/pagerduty", content=body, headers=pd_headers(body))
    assert r.status_code == 202, r.text
    [a] = r.json()["alerts"]
    assert a["alertname"] == "KubePodCrashLooping" and a["runbook"]["how"] == "alert"
    assert a["team"] == "payments"  # PagerDuty's team
    post = receiver.wait_for(1)[0]
    assert post.body["channel"] == "#team-payments"
    assert "<https://acme.pagerduty.com/incidents/PGR0VU2|source>" in post.body["text"]
    redelivered = client.post("/api/hooks/pagerduty", content=body, headers=pd_headers(body))
    assert redelivered.json()["decision"] == "duplicate"
    done = pd_event("01DEN2QZ2D8Z3TJ8C3Y3KM5QXT", "incident.resolved", "resolved")
    assert client.post("/api/hooks/pagerduty", content=done,
                       headers=pd_headers(done)).json()["decision"] == "resolved"
    assert "resolved after" in receiver.wait_for(2)[1].body["text"]


def test_grafana_shape_and_teams_cards(make_client: Any, receiver: ChannelReceiver) -> None:
    client = make_client(teams_webhook_url=receiver.url + "/teams")
    grafana = dict(group([dict(REDIS, silenceURL="http://grafana/silence", dashboardURL="",
                               panelURL="", values={"B": 0.93})]),
                   version="1", orgId=1, title="[FIRING:1] RedisMemoryHigh", state="alerting",
                   message="Redis memory above 90%")
    r = client.post(URL, json=grafana, headers=BEARER)
    assert r.status_code == 202, r.text
    assert r.json()["alerts"][0]["runbook"]["id"] == "redis-maxmemory-evictions"
    posts = {p.path: p.body for p in receiver.wait_for(2)}
    card = posts["/teams"]
    assert card["@type"] == "MessageCard" and "RedisMemoryHigh" in card["title"]
    assert "[Redis maxmemory" in card["text"] or "Redis OOM" in card["text"]
    assert any(a["targets"][0]["uri"].endswith("/articles/redis-maxmemory-evictions")
               for a in card["potentialAction"])
    assert "blocks" in posts["/slack"]


def test_unverified_runbook_carries_the_warning(searcher: Searcher) -> None:
    article = searcher.article("redis-maxmemory-evictions")
    assert article is not None
    stale = Freshness(Status.UNVERIFIED, dt.date(2026, 1, 1), True)
    view = runbook_view(article, "alert", f"{PUBLIC}/articles/{article.id}", stale)
    message = render_firing([AlertView("RedisMemoryHigh", "firing", "critical", (), "", None, view,
                                       f"{PUBLIC}/api/hooks/template?alertname=RedisMemoryHigh")],
                            None, flavor="slack")
    assert "freshness: unverified (review by 2026-01-01)" in message.text
    assert "*Unverified*" in message.text
    fresh = runbook_view(article, "alert", "u", Freshness(Status.FRESH, dt.date(2027, 1, 1), False))
    assert "Unverified" not in render_firing(
        [AlertView("RedisMemoryHigh", "firing", None, (), "", None, fresh, "t")], None,
        flavor="slack").text
