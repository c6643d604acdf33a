"""Helpers for the insights tests: seed incidents, searches and chats through the real HTTP API,
and read the page's data tables back."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from typing import Any

from tests.api_support import ENGINEER
from tests.hooks_support import BEARER

RUNBOOK = "kubernetes-pod-crashloopbackoff"


def _z(when: dt.datetime) -> str:
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def seed(client: Any, headers: dict[str, str] = ENGINEER) -> None:
    """Two resolved incidents past their 7-day window (one covered by its retrospective, one
    not), one still open; two alerts received (one with a runbook, one without); a search that
    finds nothing and one that does; a chat conversation that was told it helped, one handed
    off to a person."""
    now = dt.datetime.now(dt.UTC)
    alerts = [{"status": "firing", "labels": {"alertname": name, "severity": "warning", **labels},
               "annotations": {"summary": summary}, "startsAt": _z(now), "fingerprint": fp,
               "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/"}
              for name, fp, labels, summary in (
                  ("RedisMemoryHigh", "aaa1", {"service": "redis"},
                   "Redis memory above 90% of maxmemory"),
                  ("EtcdNoLeader", "ccc3", {}, "etcd cluster has no leader"))]
    r = client.post("/api/hooks/alertmanager", headers=BEARER, json={
        "version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "fieldguide",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0, "alerts": alerts})
    assert r.status_code in (200, 202), r.text

    def incident(sev: str, days_ago: float, minutes: float, retro: bool) -> int:
        start = now - dt.timedelta(days=days_ago)
        r = client.post("/api/incidents", headers=headers, json={
            "title": f"checkout {sev}", "severity": sev, "services": ["payments-api"],
            "alerts": ["KubePodCrashLooping"], "started_at": _z(start)})
        assert r.status_code == 201, r.text
        iid: int = r.json()["id"]
        for status, after in (("acknowledged", minutes / 10), ("resolved", minutes)):
            r = client.patch(f"/api/incidents/{iid}", headers=headers, json={
                "status": status, "at": _z(start + dt.timedelta(minutes=after))})
            assert r.status_code == 200, r.text
        if retro:
            assert client.get(f"/api/articles/{RUNBOOK}?incident={iid}",
                              headers=headers).status_code == 200
            r = client.post(f"/api/incidents/{iid}/retrospective", headers=headers,
                            json={"outcome": "used-as-is"})
            assert r.status_code == 200, r.text
        return iid

    incident("P1", 10, 50, retro=True)
    incident("P2", 9, 180, retro=False)
    r = client.post("/api/incidents", headers=headers, json={"title": "still open",
                                                            "severity": "P3"})
    assert r.status_code == 201, r.text
    for q in ("qqzx wibble frobnicate", "qqzx wibble frobnicate", "printer offline"):
        assert client.get("/api/search", params={"q": q}).status_code == 200
    chat = client.post("/api/chat", json={"message": "printer shows offline"})
    assert chat.status_code == 200, chat.text
    sid = chat.json()["session_id"]
    assert client.post(f"/api/chat/{sid}/feedback", json={"helpful": True}).status_code == 200
    chat = client.post("/api/chat", json={"message": "my vpn keeps disconnecting"})
    assert chat.status_code == 200, chat.text
    r = client.post(f"/api/chat/{chat.json()['session_id']}/escalate",
                    json={"description": "reconnected twice"})
    assert r.status_code == 200, r.text


class Tables(HTMLParser):
    """Every ``<table id>``: its header cells (with ``data-series``) and rows of
    (label, [(text, data-value or None)])."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, Any]] = {}
        self.charts: dict[str, dict[str, str]] = {}
        self._table: dict[str, Any] | None = None
        self._cell: list[str] | None = None
        self._value: str | None = None
        self._row: list[Any] | None = None
        self._head = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div" and "data-table" in a:
            self.charts[a["data-table"] or ""] = {k: v or "" for k, v in a.items()}
        if tag == "table" and a.get("id"):
            self._table = {"head": [], "series": [], "rows": []}
            self.tables[a["id"] or ""] = self._table
        elif self._table is not None:
            if tag == "thead":
                self._head = True
            elif tag == "tr" and not self._head:
                self._row = []
            elif tag in ("th", "td"):
                self._cell, self._value = [], a.get("data-value")
                if self._head and "data-series" in a:
                    self._table["series"].append(len(self._table["head"]))

    def handle_endtag(self, tag: str) -> None:
        if self._table is None:
            return
        if tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._head:
                self._table["head"].append(text)
            elif self._row is not None:
                self._row.append((text, self._value))
            self._cell = None
        elif tag == "thead":
            self._head = False
        elif tag == "tr" and self._row is not None:
            self._table["rows"].append((self._row[0][0], self._row[1:]))
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def values(self, table: str, column: str) -> dict[str, float | None]:
        """``column``'s drawn values by row label."""
        t = self.tables[table]
        i = t["head"].index(column) - 1
        return {label: None if cells[i][1] in (None, "") else float(cells[i][1])
                for label, cells in t["rows"]}
