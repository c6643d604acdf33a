"""Alert payloads and signatures, checked before anything is stored. Properties proved:

1. Alertmanager's documented webhook body (version 4) parses into typed alerts; Go's nanosecond
   times and its zero time ("not resolved") are read; Grafana's extra fields are kept.
2. A body that is not the documented shape (no ``alerts``, wrong types, too many alerts, too many
   bytes) is a ``PayloadError`` with a message; one malformed alert does not drop the others.
3. PagerDuty V3: ``v1=`` hex HMAC-SHA256 of the raw body; several signatures during a rotation,
   any one matching; a wrong secret or a changed body fails.
4. Slack: ``v0=`` HMAC of ``v0:{timestamp}:{body}``; older than 5 minutes fails even when
   correctly signed; a wrong secret fails.
5. Teams: base64 HMAC-SHA256 of the body with the base64-decoded secret, ``Authorization: HMAC``.
6. Bearer tokens: missing, wrong scheme and wrong token all fail; no token configured fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest

from incidents.payloads import AlertStatus, PayloadError, parse_alertmanager, parse_pagerduty
from incidents.signatures import (
    SignatureError,
    verify_bearer,
    verify_pagerduty,
    verify_slack,
    verify_teams,
)

AM_BODY = {
    "version": "4", "groupKey": '{}:{alertname="RedisDown"}', "truncatedAlerts": 0,
    "status": "firing", "receiver": "fieldguide", "groupLabels": {"alertname": "RedisDown"},
    "commonLabels": {"alertname": "RedisDown", "severity": "critical"},
    "commonAnnotations": {"summary": "Redis is down"}, "externalURL": "http://am:9093",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "RedisDown", "instance": "cache-01"},
         "annotations": {"summary": "Redis is down on cache-01"},
         "startsAt": "2026-12-02T20:01:02.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prom:9090/graph?g0.expr=up", "fingerprint": "abc123"},
    ],
}


def test_alertmanager_body_parses() -> None:
    group = parse_alertmanager(json.dumps(AM_BODY).encode())
    assert group.group_key == '{}:{alertname="RedisDown"}'
    assert group.status is AlertStatus.FIRING
    (alert,) = group.alerts
    assert alert.alertname == "RedisDown" and alert.fingerprint == "abc123"
    assert alert.starts_at == dt.datetime(2026, 12, 2, 20, 1, 2, 123456, tzinfo=dt.UTC)
    assert alert.ends_at is None
    assert alert.text == "Redis is down on cache-01"


def test_grafana_extra_fields_are_kept() -> None:
    body = dict(AM_BODY, orgId=1, title="[FIRING:1] RedisDown", state="alerting", message="m")
    body["alerts"] = [dict(AM_BODY["alerts"][0], silenceURL="http://g/silence", values={"A": 1})]
    group = parse_alertmanager(body)
    assert group.extra["orgId"] == 1 and group.extra["state"] == "alerting"
    assert group.alerts[0].alertname == "RedisDown"


@pytest.mark.parametrize(("body", "message"), [
    ({"version": "4", "groupKey": "g"}, "alerts is missing"),
    ({"version": "4", "groupKey": "g", "alerts": {"a": 1}}, "alerts must be a list"),
    ({"version": "3", "groupKey": "g", "alerts": []}, "unsupported webhook version"),
    ({"version": "4", "alerts": []}, "groupKey"),
    ({"version": "4", "groupKey": "g", "alerts": [], "truncatedAlerts": "x"}, "truncatedAlerts"),
    ({"version": "4", "groupKey": "g", "alerts": [{"labels": {}}]}, "no valid alert"),
])
def test_bad_shapes_are_rejected_with_a_message(body: dict[str, object], message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_alertmanager(json.dumps(body))


def test_size_limits() -> None:
    many = dict(AM_BODY, alerts=[AM_BODY["alerts"][0]] * 10_000)
    with pytest.raises(PayloadError, match="over the limit") as err:
        parse_alertmanager(many)
    assert err.value.code == "payload_too_large"
    with pytest.raises(PayloadError, match="byte limit"):
        parse_alertmanager(b"{" + b" " * 10_000_000 + b"}")
    with pytest.raises(PayloadError, match="not JSON"):
        parse_alertmanager(b"{nope")


def test_one_malformed_alert_does_not_drop_the_others() -> None:
    good = AM_BODY["alerts"][0]
    body = dict(AM_BODY, alerts=[good, {"labels": {"alertname": 7, "x": []}}, "junk",
                                 dict(good, startsAt="yesterday")])
    group = parse_alertmanager(body)
    assert [a.fingerprint for a in group.alerts] == ["abc123"]
    assert len(group.rejected) == 3
    assert any("alerts[3].startsAt" in r for r in group.rejected)


# From PagerDuty's V3 webhook documentation (an incident.triggered event, trimmed).
PD_BODY = json.dumps({"event": {
    "id": "01BZZ5BHV2XDS0CFJDJ0I5BH2M", "event_type": "incident.triggered",
    "resource_type": "incident", "occurred_at": "2020-10-02T18:45:22.169Z",
    "agent": {"html_url": "https://acme.pagerduty.com/users/PLH1HKV", "id": "PLH1HKV",
              "self": "https://api.pagerduty.com/users/PLH1HKV", "summary": "Tenex Engineer",
              "type": "user_reference"},
    "client": {"name": "PagerDuty"},
    "data": {"id": "PGR0VU2", "type": "incident", "self": "https://api.pagerduty.com/incidents/PGR0VU2",
             "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2", "number": 2,
             "status": "triggered", "incident_key": "d3640fbd41094207a1c11e58e46b1662",
             "created_at": "2020-04-09T15:16:27Z", "title": "A little bump in the road",
             "service": {"html_url": "https://acme.pagerduty.com/services/PF9KMXH",
                         "id": "PF9KMXH", "self": "https://api.pagerduty.com/services/PF9KMXH",
                         "summary": "API Service", "type": "service_reference"},
             "assignees": [], "escalation_policy": {"id": "PYO3W1R", "summary": "Default"},
             "teams": [{"id": "PFCVPS0", "summary": "Engineering", "type": "team_reference"}],
             "priority": None, "urgency": "high", "conference_bridge": None,
             "resolve_reason": None}}}).encode()


def _pd_sig(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_pagerduty_event_parses_and_becomes_an_alert() -> None:
    event = parse_pagerduty(PD_BODY)
    assert event.event_type == "incident.triggered" and event.service == "API Service"
    alert = event.as_alert()
    assert alert.status is AlertStatus.FIRING and alert.labels["team"] == "Engineering"
    assert alert.fingerprint == "PGR0VU2"
    with pytest.raises(PayloadError, match="event is missing"):
        parse_pagerduty(b'{"messages": []}')


def test_pagerduty_signature_with_rotation() -> None:
    verify_pagerduty("new-secret", _pd_sig("new-secret", PD_BODY), PD_BODY)
    rotating = f"{_pd_sig('old-secret', PD_BODY)},{_pd_sig('new-secret', PD_BODY)}"
    verify_pagerduty("new-secret", rotating, PD_BODY)
    verify_pagerduty("old-secret", rotating, PD_BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_pagerduty("other", rotating, PD_BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify_pagerduty("new-secret", _pd_sig("new-secret", PD_BODY), PD_BODY + b" ")
    with pytest.raises(SignatureError, match="missing"):
        verify_pagerduty("new-secret", None, PD_BODY)
    with pytest.raises(SignatureError, match="no v1"):
        verify_pagerduty("new-secret", "v0=abc", PD_BODY)


SLACK_BODY = b"token=x&team_id=T1&command=%2Fkb&text=vpn+error+809&response_url=https%3A%2F%2Fh"


def _slack_sig(secret: str, ts: str, body: bytes) -> str:
    base = b"v0:" + ts.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def test_slack_signature_and_replay_window() -> None:
    now = 1_790_000_000.0
    ts = str(int(now) - 10)
    verify_slack("sekrit", ts, _slack_sig("sekrit", ts, SLACK_BODY), SLACK_BODY, now=now)
    with pytest.raises(SignatureError, match="does not match"):
        verify_slack("other", ts, _slack_sig("sekrit", ts, SLACK_BODY), SLACK_BODY, now=now)
    old = str(int(now) - 301)
    with pytest.raises(SignatureError, match="300 s"):
        verify_slack("sekrit", old, _slack_sig("sekrit", old, SLACK_BODY), SLACK_BODY, now=now)
    with pytest.raises(SignatureError, match="missing"):
        verify_slack("sekrit", None, None, SLACK_BODY, now=now)


def test_teams_signature() -> None:
    secret = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    body = b'{"type":"message","text":"<at>kb</at> vpn 809"}'
    mac = base64.b64encode(hmac.new(base64.b64decode(secret), body, hashlib.sha256).digest())
    verify_teams(secret, "HMAC " + mac.decode(), body)
    with pytest.raises(SignatureError, match="does not match"):
        verify_teams(secret, "HMAC " + mac.decode(), body + b"x")
    with pytest.raises(SignatureError, match="missing"):
        verify_teams(secret, "Bearer " + mac.decode(), body)


def test_bearer_token() -> None:
    verify_bearer("tok", "Bearer tok")
    for header in (None, "", "Basic tok", "Bearer nope", "Bearer "):
        with pytest.raises(SignatureError):
            verify_bearer("tok", header)
    with pytest.raises(SignatureError, match="disabled"):
        verify_bearer(None, "Bearer tok")
