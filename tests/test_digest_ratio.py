"""The incident-to-article line of the weekly team summary (issue 14 item 4), on SQLite and
PostgreSQL. Properties proved:

1. Each team's summary says how many of its incidents resolved in the last 28 days produced a
   new or updated article, against the 70% target: the very figures of
   ``GET /api/metrics/incidents``' ``ratio.by_team`` (one computation, ``incidents.report``).
2. Incidents still within their cover window are named as such and left out of the ratio; a
   team with only those gets "no resolved incident to count yet"; a team without incidents
   gets no line.
3. The line rides on the real job's summary as sent to a real webhook receiver.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.db import session_factory
from freshness.job import Job, with_ratio
from freshness.notify import Message, SlackWebhookNotifier
from incidents.config import IncidentsConfig
from incidents.records import Activity, IncidentCreate, IncidentStore, Phase
from incidents.report import stored_metrics, team_ratios
from incidents.severity import Severity
from indexer.content import ContentScan
from tests.test_freshness_job import NOW
from tests.test_freshness_notify import Receiver

RUNBOOK = "kubernetes-pod-crashloopbackoff"


def _incident(store: IncidentStore, team: str, days_ago: float, *, opened: bool) -> None:
    start = NOW - dt.timedelta(days=days_ago)
    made = store.create(IncidentCreate(f"{team} down", Severity.P2, started_at=start, team=team))
    if opened:
        store.record(made.id, Activity.VIEW, RUNBOOK, at=start + dt.timedelta(minutes=5))
    store.transition(made.id, Phase.RESOLVED, at=start + dt.timedelta(hours=1))
    if opened:
        store.update(made.id, retro_outcome="used-as-is")


def _seed(engine: Engine) -> None:
    store = IncidentStore(session_factory(engine), IncidentsConfig().severities)
    _incident(store, "payments", 12, opened=True)  # covered: used as is, runbook opened
    _incident(store, "payments", 10, opened=False)  # counted, not covered
    _incident(store, "network", 2, opened=False)  # resolved 2 days ago: within its window


def test_the_line_text() -> None:
    base = Message(kind="summary", recipient="payments", email=None, channel=None,
                   subject="s", text="Weekly freshness summary.")
    below = with_ratio(base, 1, 2, 1, 0.7)
    assert below.text.endswith(
        "Incident-to-article ratio (last 28 days): 1/2 resolved incidents produced a new or "
        "updated article (50%, target 70%); 1 still within their window - below target.")
    assert below.extra["incident_ratio"] == {"covered": 1, "counted": 2, "pending": 1,
                                             "value": 0.5, "target": 0.7, "days": 28}
    assert ("incident-to-article", "1/2") in below.facts
    assert with_ratio(base, 7, 10, 0, 0.7).text.endswith("(70%, target 70%) - on target.")
    assert with_ratio(base, 0, 0, 2, 0.7).text.endswith(
        "no resolved incident to count yet; 2 still within their window.")


def test_ratios_per_team_are_the_apis(engine: Engine, kb: ContentScan) -> None:
    _seed(engine)
    with Session(engine) as s:
        ratios = team_ratios(s, kb.articles, NOW)
    assert ratios == {"payments": (1, 2, 0, 0.7), "network": (0, 0, 1, 0.7)}
    api = stored_metrics(IncidentStore(session_factory(engine), IncidentsConfig().severities),
                         kb.articles, IncidentsConfig(), NOW, 28)["ratio"]["by_team"]
    assert {t: (b["covered"], b["resolved"] - b["pending"], b["pending"])
            for t, b in api.items()} == {t: r[:3] for t, r in ratios.items()}


def test_weekly_summary_carries_the_ratio_line(engine: Engine, kb: ContentScan) -> None:
    _seed(engine)
    with Session(engine) as s, Receiver() as slack:
        Job(kb.teams, notifiers=[SlackWebhookNotifier(slack.url)],
            public_url="https://kb.example").run(s, kb.articles, NOW, notify=True)
        summaries = {b["channel"]: b["text"] for b in slack.bodies
                     if "weekly summary" in b["text"]}
    payments = next(t for c, t in summaries.items() if "payments" in c)
    assert ("Incident-to-article ratio (last 28 days): 1/2 resolved incidents produced a new "
            "or updated article (50%, target 70%) - below target.") in payments
    network = next(t for c, t in summaries.items() if "network" in c)
    assert ("Incident-to-article ratio (last 28 days): no resolved incident to count yet; "
            "1 still within their window.") in network
    others = [t for c, t in summaries.items() if "payments" not in c and "network" not in c]
    assert others and all("Incident-to-article" not in t for t in others)
