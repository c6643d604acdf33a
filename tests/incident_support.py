"""Helpers for the incident tests: PagerDuty V3 incident events as PagerDuty signs them, and a
client factory over the real app with alert intake configured."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexer.embed import Embedder
from tests.api_support import client_for, settings_for
from tests.hooks_support import TOKEN, ChannelReceiver

PUBLIC = "https://kb.example"
PD_SECRET = "pagerduty-secret-for-incidents"


def pd_event(event_id: str, event_type: str, *, occurred: str, incident: str = "Q1INC",
             status: str = "triggered", priority: str | None = None, urgency: str = "high",
             agent: str | None = None, title: str = "KubePodCrashLooping") -> bytes:
    data: dict[str, Any] = {
        "id": incident, "type": "incident", "number": 7, "status": status,
        "html_url": f"https://acme.pagerduty.com/incidents/{incident}", "title": title,
        "urgency": urgency,
        "service": {"id": "PF9KMXH", "summary": "payments-api", "type": "service_reference"},
        "teams": [{"id": "PFCVPS0", "summary": "payments", "type": "team_reference"}]}
    if priority:
        data["priority"] = {"id": "PSO75BM", "type": "priority_reference", "summary": priority}
    return json.dumps({"event": {
        "id": event_id, "event_type": event_type, "resource_type": "incident",
        "occurred_at": occurred, "client": None, "data": data,
        "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": agent} if agent else None,
    }}).encode()


def pd_headers(body: bytes) -> dict[str, str]:
    sig = hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-PagerDuty-Signature": f"v1={sig}", "Content-Type": "application/json"}


def deliver(client: TestClient, body: bytes) -> dict[str, Any]:
    r = client.post("/api/hooks/pagerduty", content=body, headers=pd_headers(body))
    assert r.status_code == 202, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.fixture
def make_client(tmp_path: Path, kb_index: Path, embedder: Embedder, db_url: str,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``make(receiver=None, **settings)``: a started client over ``db_url``."""
    monkeypatch.setenv("FIELDGUIDE_POST_RETRIES", "1")
    monkeypatch.setenv("FIELDGUIDE_POST_BACKOFF_S", "0.05")
    monkeypatch.setenv("FIELDGUIDE_RETRO_SWEEP_S", "0")
    contexts: list[Any] = []

    def make(receiver: ChannelReceiver | None = None, content_dir: Path | None = None,
             index_dir: Path | None = None, **overrides: Any) -> TestClient:
        values: dict[str, Any] = {"database_url": db_url, "public_url": PUBLIC,
                                  "alerts_token": TOKEN, "pagerduty_secret": PD_SECRET}
        if receiver is not None:
            values["slack_webhook_url"] = receiver.url + "/slack"
        values.update(overrides)
        extra = {"content_dir": content_dir} if content_dir is not None else {}
        ctx = client_for(settings_for(tmp_path / f"data{len(contexts)}", index_dir or kb_index,
                                      **extra,
                                      **values), embedder)
        contexts.append(ctx)
        return ctx.__enter__()

    yield make
    for ctx in reversed(contexts):
        ctx.__exit__(None, None, None)
