"""Incident records through the real app, on SQLite and PostgreSQL (issue 14 item 1).

Properties proved:

1. ``POST /api/incidents`` (engineer or admin) answers 201 with the record; team and channel
   come from its services; a repeat with the same ``source``/``external_id`` returns the first.
   Anonymous callers get a 401 with the error body and see nothing.
2. ``PATCH`` moves it through acknowledged → diagnosed → resolved with who and when, a severity
   change lands in the timeline; a time before the trigger or before an earlier phase is a 409 conflict,
   an unknown incident a 404, wrong types a 422, always with the error body.
3. Searches and article views (JSON and HTML) that carry ``incident=<id>`` are recorded in its
   activity; ``incident=`` naming an unknown incident is a 404 before anything is searched.
4. PagerDuty V3 ``incident.*`` events: triggered opens it (priority P1 mapped to P1, the runbook
   posted recorded with its freshness), acknowledged sets the responder, priority_updated changes
   the severity, resolved resolves it; a redelivered event changes nothing.
5. An Alertmanager group whose severity is configured (``FIELDGUIDE_ALERT_INCIDENTS``) opens an
   incident when it fires and resolves it when it resolves; other groups open none.
6. ``fieldguide incidents open/ack/resolve/list`` work on the same database.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from app.cli import main
from tests import incident_support
from tests.api_support import ADMIN, ENGINEER, assert_error
from tests.hooks_support import BEARER
from tests.incident_support import deliver, pd_event

make_client = incident_support.make_client  # the fixture

T0 = "2026-12-01T09:00:00Z"


def _open(client: Any, **body: Any) -> dict[str, Any]:
    payload = {"title": "Checkout returns 502", "severity": "P2", "services": ["checkout-web"],
               "started_at": T0, **body}
    r = client.post("/api/incidents", json=payload, headers=ENGINEER)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_create_patch_and_bad_input(make_client: Any) -> None:
    client = make_client()
    assert_error(client.post("/api/incidents", json={"title": "x", "severity": "P1"}), 401,
                 "unauthorized")
    assert_error(client.get("/api/incidents"), 401, "unauthorized")
    made = _open(client, external_id="INC-1", source="jira")
    assert made["team"] == "payments" and made["channel"] == "#team-payments"
    assert made["status"] == "triggered" and made["severity"] == "P2"
    assert made["timeline"][0]["kind"] == "triggered"
    again = _open(client, external_id="INC-1", source="jira", title="other")
    assert again["id"] == made["id"] and again["title"] == "Checkout returns 502"
    url = f"/api/incidents/{made['id']}"

    # Bad input: each a 4xx with the error body, nothing changed.
    assert_error(client.patch(url, json={"status": "resolved", "at": "2026-12-01T08:59:59Z"},
                              headers=ENGINEER), 409, "conflict")
    assert_error(client.patch("/api/incidents/999999", json={"status": "acknowledged"},
                              headers=ENGINEER), 404, "not_found")
    assert_error(client.get("/api/incidents/999999", headers=ADMIN), 404, "not_found")
    assert_error(client.patch(url, json={"status": "closed"}, headers=ENGINEER), 422)
    assert_error(client.patch(url, json={"status": "resolved", "at": "yesterday"},
                              headers=ENGINEER), 422)
    assert_error(client.patch(url, json={}, headers=ENGINEER), 422)
    assert_error(client.post("/api/incidents", json={"title": 12, "severity": "P2"},
                             headers=ENGINEER), 422)
    assert_error(client.post("/api/incidents", json={"title": "x", "severity": "P9"},
                             headers=ENGINEER), 422)
    assert_error(client.post("/api/incidents", json={"title": "x", "severity": "P1",
                                                     "services": "vpn"}, headers=ENGINEER), 422)
    assert_error(client.get("/api/incidents/abc", headers=ENGINEER), 422)

    r = client.patch(url, json={"status": "acknowledged", "at": "2026-12-01T09:05:00Z",
                                "by": "ana@example.com"}, headers=ENGINEER)
    assert r.status_code == 200, r.text
    assert r.json()["responder"] == "ana@example.com"
    # Diagnosed before it was acknowledged: refused.
    assert_error(client.patch(url, json={"status": "diagnosed", "at": "2026-12-01T09:04:00Z"},
                              headers=ENGINEER), 409, "conflict")
    r = client.patch(url, json={"severity": "P1", "by": "lead@example.com",
                                "at": "2026-12-01T09:10:00Z"}, headers=ENGINEER)
    assert r.json()["severity"] == "P1"
    client.patch(url, json={"status": "diagnosed", "at": "2026-12-01T09:20:00Z",
                            "note": "bad deploy"}, headers=ENGINEER)
    done = client.patch(url, json={"status": "resolved", "at": "2026-12-01T09:45:00Z",
                                   "by": "ana@example.com"}, headers=ADMIN).json()
    assert done["status"] == "resolved" and done["resolved_at"].startswith("2026-12-01T09:45")
    kinds = [(t["kind"], t["by"]) for t in done["timeline"]]
    assert kinds == [("triggered", None), ("acknowledged", "ana@example.com"),
                     ("severity", "lead@example.com"), ("diagnosed", None),
                     ("resolved", "ana@example.com")]
    assert next(t for t in done["timeline"] if t["kind"] == "diagnosed")["note"] == "bad deploy"
    listed = client.get("/api/incidents?status=resolved", headers=ENGINEER).json()["incidents"]
    assert [i["id"] for i in listed] == [made["id"]]


def test_searches_and_views_carry_the_incident(make_client: Any) -> None:
    client = make_client()
    made = _open(client)
    iid = made["id"]
    r = client.get("/api/search", params={"q": "redis evictions", "incident": iid},
                   headers=ENGINEER)
    assert r.status_code == 200, r.text
    first = r.json()["results"][0]["id"]
    assert client.post("/api/search", json={"q": "pod crashloop", "incident": iid}).status_code \
        == 200
    assert client.get("/api/search", params={"q": "vpn", "incident": iid,
                                             "typeahead": "true"}).status_code == 200
    assert_error(client.get("/api/search", params={"q": "vpn", "incident": 424242}), 404,
                 "not_found")
    assert_error(client.get("/api/search", params={"q": "vpn", "incident": "x"}), 422)
    assert client.get(f"/api/articles/{first}?incident={iid}", headers=ENGINEER).status_code \
        == 200
    page = client.get(f"/articles/kubernetes-pod-crashloopbackoff?incident={iid}",
                      headers=ENGINEER)
    assert page.status_code == 200
    assert_error(client.get(f"/api/articles/{first}?incident=424242", headers=ENGINEER), 404,
                 "not_found")
    got = client.get(f"/api/incidents/{iid}", headers=ENGINEER).json()
    acts = [(a["kind"], a["ref"]) for a in got["activity"]]
    assert acts == [("search", "redis evictions"), ("search", "pod crashloop"),
                    ("view", first), ("view", "kubernetes-pod-crashloopbackoff")]
    assert got["activity"][0]["detail"]["results"][0] == first


def test_pagerduty_incident_events(make_client: Any) -> None:
    client = make_client()
    trig = pd_event("E1", "incident.triggered", occurred="2026-12-01T10:00:00Z", priority="P1")
    runbook = deliver(client, trig)["alerts"][0]["runbook"]["id"]
    [inc] = client.get("/api/incidents", headers=ENGINEER).json()["incidents"]
    assert (inc["source"], inc["external_id"], inc["severity"]) == ("pagerduty", "Q1INC", "P1")
    assert inc["services"] == ["payments-api"] and inc["alerts"] == ["KubePodCrashLooping"]
    assert inc["runbook_id"] == runbook  # the one the intake posted
    assert inc["runbook_status"] in ("fresh", "due_soon", "stale", "unverified", "unknown")
    assert inc["started_at"].startswith("2026-12-01T10:00")
    assert deliver(client, trig)["decision"] == "duplicate"
    deliver(client, pd_event("E2", "incident.acknowledged", occurred="2026-12-01T10:04:00Z",
                             status="acknowledged", agent="Ana Lopez"))
    deliver(client, pd_event("E3", "incident.priority_updated", occurred="2026-12-01T10:06:00Z",
                             status="acknowledged", priority="P2", agent="Ana Lopez"))
    deliver(client, pd_event("E4", "incident.resolved", occurred="2026-12-01T10:40:00Z",
                             status="resolved", priority="P2", agent="Ana Lopez"))
    got = client.get(f"/api/incidents/{inc['id']}", headers=ENGINEER).json()
    assert got["status"] == "resolved" and got["severity"] == "P2"
    assert got["responder"] == "Ana Lopez"
    assert got["acknowledged_at"].startswith("2026-12-01T10:04")
    assert got["resolved_at"].startswith("2026-12-01T10:40")
    assert [t["kind"] for t in got["timeline"]] == ["triggered", "acknowledged", "severity",
                                                    "resolved"]
    assert [a["kind"] for a in got["activity"]] == ["runbook"]


def _group(status: str, severity: str, key: str) -> dict[str, Any]:
    alert = {"status": status, "labels": {"alertname": "RedisMemoryHigh", "service": "redis",
                                          "severity": severity},
             "annotations": {"summary": "Redis memory above 90%"},
             "startsAt": "2026-12-02T08:00:00Z",
             "endsAt": "2026-12-02T08:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
             "fingerprint": "fp-" + key}
    return {"version": "4", "groupKey": key, "status": status, "receiver": "r",
            "alerts": [alert]}


def test_alertmanager_groups_where_configured(make_client: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDGUIDE_ALERT_INCIDENTS", "critical")
    client = make_client()
    url = "/api/hooks/alertmanager"
    assert client.post(url, json=_group("firing", "critical", "g1"), headers=BEARER).status_code \
        == 202
    assert client.post(url, json=_group("firing", "critical", "g1"), headers=BEARER).status_code \
        == 202  # Alertmanager's repeat: no second incident
    client.post(url, json=_group("firing", "warning", "g2"), headers=BEARER)
    [inc] = client.get("/api/incidents", headers=ENGINEER).json()["incidents"]
    assert inc["source"] == "alertmanager" and inc["severity"] == "P1"
    assert inc["title"] == "Redis memory above 90%" and inc["alerts"] == ["RedisMemoryHigh"]
    assert inc["runbook_id"] == "redis-maxmemory-evictions"
    client.post(url, json=_group("resolved", "critical", "g1"), headers=BEARER)
    got = client.get(f"/api/incidents/{inc['id']}", headers=ENGINEER).json()
    assert got["status"] == "resolved" and got["resolved_at"].startswith("2026-12-02T08:30")


def test_cli(db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIELDGUIDE_DATABASE_URL", db_url)
    monkeypatch.setenv("FIELDGUIDE_DATA_DIR", str(tmp_path))
    out = io.StringIO()
    assert main(["incidents", "open", "--title", "VPN down", "--severity", "P1", "--service",
                 "vpn", "--at", "2026-12-01T09:00:00Z", "--json"], out) == 0
    made = json.loads(out.getvalue())
    assert made["team"] == "network"
    iid = str(made["id"])
    assert main(["incidents", "ack", iid, "--by", "ana@example.com",
                 "--at", "2026-12-01T09:02:00Z"], io.StringIO()) == 0
    assert main(["incidents", "resolve", iid, "--at", "2026-12-01T08:00:00Z"],
                io.StringIO()) == 2
    assert "before the trigger" in capsys.readouterr().err
    assert main(["incidents", "resolve", iid, "--at", "2026-12-01T09:30:00Z"], io.StringIO()) == 0
    assert main(["incidents", "show", "4242"], io.StringIO()) == 2
    listed = io.StringIO()
    assert main(["incidents", "list"], listed) == 0
    assert listed.getvalue().split("\t")[:3] == [iid, "P1", "resolved"]


def test_retrospective_and_escalation_packet(make_client: Any) -> None:
    """7. The retrospective is refused before the resolution (409) and for an unknown outcome or
    an ``updated`` without its article (422); the escalation packet carries the alert, the
    runbook with the steps checked off, the searches, the articles opened, timeline and notes."""
    client = make_client()
    runbook = deliver(client, pd_event("X1", "incident.triggered",
                                       occurred="2026-12-01T10:00:00Z", priority="P1"))
    rb = runbook["alerts"][0]["runbook"]["id"]
    [inc] = client.get("/api/incidents", headers=ENGINEER).json()["incidents"]
    url = f"/api/incidents/{inc['id']}"
    client.get("/api/search", params={"q": "crashloop after deploy", "incident": inc["id"]},
               headers=ENGINEER)
    client.get(f"/api/articles/{rb}?incident={inc['id']}", headers=ENGINEER)
    assert client.post(url + "/steps", json={"step": 1, "by": "ana"},
                       headers=ENGINEER).status_code == 200
    assert_error(client.post(url + "/steps", json={"step": "one"}, headers=ENGINEER), 422)
    client.patch(url, json={"note": "rolled back to v41", "by": "ana"}, headers=ENGINEER)
    r = client.post(url + "/escalate", json={"by": "ana", "note": "needs the DB team"},
                    headers=ENGINEER)
    assert r.status_code == 200, r.text
    packet = r.json()
    assert packet["alert"]["alerts"] == ["KubePodCrashLooping"]
    assert packet["alert"]["external_id"] == "Q1INC"
    steps = packet["runbook"]["diagnostic_steps"]
    assert steps and steps[0]["done"] is True and all(not s["done"] for s in steps[1:])
    assert [s["query"] for s in packet["searches"]] == ["crashloop after deploy"]
    assert [a["id"] for a in packet["articles_opened"]] == [rb]
    assert packet["articles_opened"][0]["url"].endswith(f"?incident={inc['id']}")
    assert "rolled back to v41" in packet["notes"] and "needs the DB team" in packet["notes"]
    assert packet["timeline"][-1]["kind"] == "escalated"
    assert_error(client.post("/api/incidents/4242/escalate", headers=ENGINEER), 404, "not_found")
    assert_error(client.post(url + "/escalate"), 401, "unauthorized")

    retro = url + "/retrospective"
    assert_error(client.post(retro, json={"outcome": "used-as-is"}, headers=ENGINEER), 409,
                 "conflict")
    client.patch(url, json={"status": "resolved", "at": "2026-12-01T10:30:00Z"},
                 headers=ENGINEER)
    assert_error(client.post(retro, json={"outcome": "maybe"}, headers=ENGINEER), 422)
    assert_error(client.post(retro, json={"outcome": "updated"}, headers=ENGINEER), 422)
    done = client.post(retro, json={"outcome": "updated", "article_id": rb, "by": "ana"},
                       headers=ENGINEER)
    assert done.status_code == 200, done.text
    assert done.json()["retrospective"]["outcome"] == "updated"
    assert done.json()["retrospective"]["article_id"] == rb


def test_retrospective_question_reminder_and_miss(make_client: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """8. A resolution posts the retrospective question to the incident's channel once (with the
    articles used); unanswered, it is reminded once, then counted as a miss (a timeline line);
    an escalation posts the packet's summary there too."""
    from tests.hooks_support import channel_receiver

    monkeypatch.setenv("FIELDGUIDE_RETRO_REMIND_AFTER_S", "0")
    monkeypatch.setenv("FIELDGUIDE_RETRO_MISS_AFTER_S", "0")
    with channel_receiver() as receiver:
        client = make_client(receiver)
        made = _open(client)
        url = f"/api/incidents/{made['id']}"
        client.get(f"/api/articles/redis-maxmemory-evictions?incident={made['id']}",
                   headers=ENGINEER)
        client.post(url + "/escalate", json={"note": "paging the DBAs"}, headers=ENGINEER)
        client.patch(url, json={"status": "resolved"}, headers=ENGINEER)
        client.patch(url, json={"status": "resolved"}, headers=ENGINEER)  # no second question
        posts = receiver.wait_for(2)
        escalation, question = posts[0].body, posts[1].body
        assert escalation["channel"] == "#team-payments"
        assert "paging the DBAs" in escalation["text"]
        assert "Did the fix need knowledge" in question["text"]
        assert "redis-maxmemory-evictions" in question["text"]
        records = client.app.state.services.incidents.records  # type: ignore[attr-defined]
        assert records.sweep() == (1, 0)
        assert "Reminder:" in receiver.wait_for(3)[2].body["text"]
        assert records.sweep() == (0, 1)
        assert records.sweep() == (0, 0)  # once only
        got = client.get(url, headers=ENGINEER).json()
        assert got["retrospective"]["missed_at"] is not None
        assert got["timeline"][-1]["kind"] == "retrospective-missed"
        assert len(receiver.posts) == 3
