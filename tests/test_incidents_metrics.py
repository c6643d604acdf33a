"""Incident metrics (issue 14 item 2). Properties proved:

1. Business days: a P3 target of 2 business days from a Friday 16:00 ends on Tuesday 16:00; a
   weekend start counts from Monday.
2. An incident that spans weeks counts in the ISO week it resolved in, once.
3. Covered: an article linked to the incident changed between its start and ``cover_days`` after
   its resolution; a change after that window does not count; a retrospective *used-as-is* counts
   only when an article was opened; an uncovered incident whose window is still open is pending,
   out of the ratio.
4. MTTR is per severity only (P1..P4 keys, no total) with acknowledge, diagnose, resolve and n;
   the repeat rate sees the same service within the window and not past it.
5. The whole loop through the real app on SQLite and PostgreSQL: a PagerDuty incident, searches
   and a view carrying ``incident=``, a severity changed mid-incident, the resolution, the
   runbook edited and reindexed: ``GET /api/metrics/incidents`` counts it covered under its
   final severity; the route is engineer-only and refuses bad ``days``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from incidents.metrics import MetricsConfig, add_business_days, incident_metrics, within_target
from incidents.records import Activity, ActivityEntry, Incident, Phase
from incidents.severity import Severity, parse_targets
from tests import incident_support
from tests.api_support import CONTENT, ENGINEER, assert_error, copy_index
from tests.incident_support import deliver, pd_event

make_client = incident_support.make_client  # the fixture
UTC = dt.UTC
CONFIG = MetricsConfig(parse_targets("P1=1h,P2=4h,P3=2bd"))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def inc(n: int, sev: str, start: str, resolved: str | None, *, ack: str | None = None,
        services: tuple[str, ...] = (), alerts: tuple[str, ...] = (), runbook: str | None = None,
        opened: tuple[str, ...] = (), retro: str | None = None) -> Incident:
    activity = tuple(ActivityEntry(at(start), Activity.VIEW, a, {}, None) for a in opened)
    return Incident(n, "api", None, f"incident {n}", Severity(sev),
                    Phase.RESOLVED if resolved else Phase.TRIGGERED, services, alerts, "payments",
                    None, None, runbook, "fresh" if runbook else "missing", at(start),
                    at(ack) if ack else None, None, at(resolved) if resolved else None, retro,
                    None, None, None, None, (), activity)


def test_business_days() -> None:
    friday = at("2026-11-27T16:00:00")
    assert add_business_days(friday, 2) == at("2026-12-01T16:00:00")  # Tuesday
    assert add_business_days(at("2026-11-28T10:00:00"), 1) == at("2026-12-01T10:00:00")
    target = parse_targets("P3=2bd")[Severity.P3]
    assert within_target(target, friday, at("2026-12-01T15:59:00"))
    assert not within_target(target, friday, at("2026-12-01T16:01:00"))


def test_ratio_weeks_coverage_and_repeats() -> None:
    now = at("2026-12-20T12:00:00")
    incidents = [
        # Sunday of W48 to Monday of W49: counted in W49; its runbook changed 2 days later.
        inc(1, "P1", "2026-11-29T23:30:00", "2026-11-30T00:20:00", ack="2026-11-29T23:35:00",
            services=("checkout-web",), runbook="rb-a"),
        # Its runbook changed 8 days after the resolution: too late.
        inc(2, "P3", "2026-12-01T09:00:00", "2026-12-01T10:00:00", runbook="rb-b"),
        # Used as is, with an article opened: covered. Same service as #1 within 90 days.
        inc(3, "P2", "2026-12-03T09:00:00", "2026-12-03T09:30:00", services=("checkout-web",),
            opened=("rb-a",), retro="used-as-is"),
        # Used as is, nothing opened: not covered.
        inc(4, "P2", "2026-12-04T09:00:00", "2026-12-04T09:30:00", retro="used-as-is"),
        # Resolved 2 days ago, nothing yet: pending.
        inc(5, "P4", "2026-12-18T09:00:00", "2026-12-18T10:00:00"),
        # Still open: neither resolved nor in MTTR.
        inc(6, "P1", "2026-12-19T09:00:00", None, alerts=("X",)),
    ]
    changes = {"rb-a": [at("2026-12-02T00:00:00")], "rb-b": [at("2026-12-09T10:00:01")]}
    out = incident_metrics(incidents, changes, {}, CONFIG, now, days=30)
    ratio = out["ratio"]
    assert (ratio["covered"], ratio["resolved"], ratio["pending"]) == (2, 5, 1)
    assert ratio["value"] == 0.5 and ratio["target"] == 0.7
    weeks = {w["week"]: (w["covered"], w["resolved"]) for w in ratio["by_week"]}
    assert weeks == {"2026-W49": (2, 4), "2026-W51": (0, 1)}
    assert ratio["by_severity"]["P1"]["value"] == 1.0
    assert ratio["by_team"]["payments"]["resolved"] == 5
    assert set(out["mttr"]) == {"P1", "P2", "P3", "P4"}  # never one figure across them
    p1 = out["mttr"]["P1"]
    assert (p1["n"], p1["acknowledge_s"], p1["resolve_s"]) == (1, 300.0, 3000.0)
    assert p1["within_target"] == 1.0 and out["mttr"]["P2"]["resolve_s"] == 1800.0
    assert out["repeat_rate"]["repeats"] == 1 and out["repeat_rate"]["incidents"] == 6
    # Past the window, the same service is no repeat.
    late = [incidents[0], inc(9, "P2", "2027-03-01T09:00:00", None, services=("checkout-web",))]
    assert incident_metrics(late, {}, {}, CONFIG, at("2027-03-02T00:00:00"),
                            days=10)["repeat_rate"]["repeats"] == 0
    assert out["runbooks"]["fresh"]["P1"]["n"] == 1
    assert out["runbooks"]["stale_or_missing"]["P2"]["n"] == 2


def test_the_whole_loop(make_client: Any, tmp_path: Path, kb_index: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    client = make_client(content_dir=content, index_dir=copy_index(kb_index,
                                                                      tmp_path / "index"))
    assert_error(client.get("/api/metrics/incidents"), 401, "unauthorized")
    assert_error(client.get("/api/metrics/incidents?days=0", headers=ENGINEER), 422)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    start = (now - dt.timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    runbook = deliver(client, pd_event("L1", "incident.triggered", occurred=start,
                                       priority="P2"))["alerts"][0]["runbook"]["id"]
    [made] = client.get("/api/incidents", headers=ENGINEER).json()["incidents"]
    iid = made["id"]
    assert client.get("/api/search", params={"q": "pod keeps restarting", "incident": iid},
                      headers=ENGINEER).status_code == 200
    assert client.get(f"/api/articles/{runbook}?incident={iid}",
                      headers=ENGINEER).status_code == 200
    later = (now - dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    deliver(client, pd_event("L2", "incident.priority_updated", occurred=later,
                             priority="P1", status="acknowledged"))
    deliver(client, pd_event("L3", "incident.resolved", occurred=now.isoformat().replace(
        "+00:00", "Z"), status="resolved", priority="P1"))
    before = client.get("/api/metrics/incidents?days=7", headers=ENGINEER).json()
    assert before["ratio"]["covered"] == 0 and before["ratio"]["pending"] == 1
    # The responder updates the runbook; the indexer sees its content hash move.
    path = client.get(f"/api/articles/{runbook}", headers=ENGINEER).json()["path"]
    with (content / path).open("a", encoding="utf-8") as f:
        f.write("\n\nAlso check the image tag of the last deploy.\n")
    client.app.state.index.reindex(wait=True)  # type: ignore[attr-defined]
    after = client.get("/api/metrics/incidents?days=7", headers=ENGINEER).json()
    ratio = after["ratio"]
    assert (ratio["covered"], ratio["resolved"], ratio["value"]) == (1, 1, 1.0)
    assert ratio["by_severity"] == {"P1": {"covered": 1, "resolved": 1, "pending": 0,
                                           "value": 1.0, "target": 0.7}}
    assert after["mttr"]["P1"]["n"] == 1 and after["mttr"]["P2"]["n"] == 0
    assert after["mttr"]["P1"]["resolve_s"] == 7200.0
