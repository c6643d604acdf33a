"""The intake's core without HTTP: the dedupe rule, two replicas racing on one group, the post's
text, and the outbox sender's retries (issue 13). Properties proved:

1. ``decide``: a new firing set posts, the same set is silent, a change posts, the first
   resolution posts and a second is silent, a group never seen that resolves is silent, a
   resolved group that fires again is new.
2. Two replicas (two ``Intake`` objects, their own locks) delivering the same new group at the
   same moment write one group and one post, on SQLite and PostgreSQL.
3. Alert text cannot ping or inject markup in Slack: ``<!channel>``, ``<url|x>`` and ``&`` come out
   escaped. Steps are read from an imported (non-templated) page's headings too.
4. The sender: a refused post stays pending with its error and a doubling pause, is not retried
   before it is due nor while another sender holds its lease, and is sent once the channel is
   back.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_factory
from freshness.policy import Freshness
from incidents.intake import Decision, GroupState, Intake, decide, firing_hash
from incidents.models import AlertGroupRow, ChannelPostRow
from incidents.payloads import AlertStatus, parse_alertmanager
from incidents.posts import (
    AlertView,
    OutboxSender,
    SlackBlocksNotifier,
    message_from_json,
    render_firing,
    runbook_view,
)
from incidents.runbooks import RunbookIndex, RunbookResolver
from indexer.parse import parse_text
from indexer.search import Searcher
from indexer.teams import TeamsConfig
from tests.hooks_support import ChannelReceiver, channel_receiver

FIRING, RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED


def test_the_dedupe_rule() -> None:
    ab = GroupState("firing", firing_hash(["a", "b"]))
    assert decide(None, FIRING, ["a"]) is Decision.NEW
    assert decide(ab, FIRING, ["b", "a"]) is Decision.UNCHANGED  # order does not matter
    assert decide(ab, FIRING, ["a"]) is Decision.CHANGED
    assert decide(ab, RESOLVED, []) is Decision.RESOLVED
    assert decide(ab, FIRING, []) is Decision.RESOLVED  # every alert of the group resolved
    assert decide(GroupState("resolved", firing_hash([])), RESOLVED, []) is Decision.UNCHANGED
    assert decide(None, RESOLVED, []) is Decision.UNCHANGED
    assert decide(GroupState("resolved", firing_hash([])), FIRING, ["a"]) is Decision.NEW


BODY = {"version": "4", "groupKey": '{}:{alertname="RedisMemoryHigh"}', "status": "firing",
        "receiver": "r", "alerts": [{"status": "firing", "fingerprint": "f1",
                                     "labels": {"alertname": "RedisMemoryHigh",
                                                "service": "redis"},
                                     "annotations": {"summary": "memory"},
                                     "startsAt": "2026-12-03T00:00:00Z"}]}


def _intake(sessions: sessionmaker[Session], searcher: Searcher) -> Intake:
    resolver = RunbookResolver(RunbookIndex(searcher.articles()), searcher.run)
    return Intake(sessions, resolver=lambda: resolver, teams=TeamsConfig,
                  freshness=lambda _id: Freshness.UNKNOWN, channels=("slack", "teams"))


def test_two_replicas_racing_on_one_group_post_once(engine: Engine, searcher: Searcher) -> None:
    replicas = [_intake(session_factory(engine), searcher) for _ in range(2)]
    group = parse_alertmanager(BODY)
    barrier = threading.Barrier(8)
    decisions: list[Decision] = []
    failures: list[BaseException] = []

    def deliver(intake: Intake) -> None:
        barrier.wait()
        try:
            decisions.append(intake.receive(group).decision)
        except BaseException as exc:  # collected: the assertion below names it
            failures.append(exc)

    threads = [threading.Thread(target=deliver, args=(replicas[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert sorted(decisions) == sorted([Decision.NEW] + [Decision.UNCHANGED] * 7)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AlertGroupRow)) == 1
        posts = list(s.scalars(select(ChannelPostRow)))
    assert sorted(p.notifier for p in posts) == ["slack", "teams"]


def _view(summary: str, steps_article: Any = None) -> AlertView:
    runbook = None
    if steps_article is not None:
        runbook = runbook_view(steps_article, "search", "https://kb.example/articles/x",
                               Freshness.UNKNOWN)
    return AlertView("Name<!channel>", "firing", "critical", (("pod", "a&b"),), summary,
                     "http://prom/graph?x=<1>", runbook, "https://kb.example/api/hooks/template")


def test_alert_text_is_escaped_for_slack() -> None:
    message = render_firing([_view("<!channel> see <https://evil.example|here> & more")], None,
                            flavor="slack")
    assert "<!channel>" not in message.text and "&lt;!channel&gt;" in message.text
    assert "<https://evil.example" not in message.text
    assert "pod=a&amp;b" in message.text and "&amp; more" in message.text
    assert "<http://prom/graph?x=%3C1%3E|source>" in message.text  # no raw < or > in a link


IMPORTED = """---
title: Queue backlog on the billing workers
---
# Queue backlog on the billing workers

## Troubleshooting

- Look at the queue depth on the dashboard.
- Check the workers' logs for `Timeout`.

## When to escalate

Page the billing on-call when the backlog is older than 30 minutes.
"""


def test_steps_are_read_from_an_imported_page() -> None:
    article = parse_text(IMPORTED, "wiki/billing-backlog.md").article
    assert article is not None
    view = _view("backlog", article)
    assert view.runbook is not None
    assert view.runbook.diagnostic == ("Look at the queue depth on the dashboard.",
                                       "Check the workers' logs for Timeout.")
    assert view.runbook.escalation == ("Page the billing on-call when the backlog is older "
                                       "than 30 minutes.",)


@pytest.fixture
def receiver() -> Iterator[ChannelReceiver]:
    with channel_receiver() as r:
        yield r


def test_sender_retries_with_backoff_and_leases(engine: Engine, receiver: ChannelReceiver,
                                                searcher: Searcher) -> None:
    sessions = session_factory(engine)
    now = [dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC)]
    intake = _intake(sessions, searcher)
    intake.channels = ("slack",)
    intake.clock = lambda: now[0]
    assert intake.receive(parse_alertmanager(BODY)).posts
    notifier = {"slack": SlackBlocksNotifier(receiver.url + "/slack")}
    sender = OutboxSender(sessions, notifier, retries=2, backoff_s=1.0, clock=lambda: now[0],
                          sleep=lambda _s: None)
    receiver.down = True
    assert sender.send_due() == 0 and receiver.refused == 2  # two attempts in the pass
    with Session(engine) as s:
        row = s.scalars(select(ChannelPostRow)).one()
    assert row.status == "pending" and row.attempts == 2 and "503" in (row.error or "")
    due = row.next_attempt_at.replace(tzinfo=dt.UTC)
    assert due == now[0] + dt.timedelta(seconds=2)  # 1 s doubled after the first failed pass
    assert sender.send_due() == 0 and receiver.refused == 2  # not due yet: not tried
    now[0] = due
    assert sender.send_due() == 0 and receiver.refused == 4
    with Session(engine) as s:
        row = s.scalars(select(ChannelPostRow)).one()
    assert row.next_attempt_at.replace(tzinfo=dt.UTC) == now[0] + dt.timedelta(seconds=4)
    receiver.down = False
    now[0] += dt.timedelta(seconds=4)
    other = OutboxSender(sessions, notifier, clock=lambda: now[0], lease_s=60)
    claimed = other._claim()  # another replica holds the lease...
    assert [r.id for r in claimed] == [row.id]
    assert sender.send_due() == 0 and receiver.posts == []  # ...so this one leaves it alone
    now[0] += dt.timedelta(seconds=61)  # the lease ran out (that replica died)
    assert sender.send_due() == 1
    [post] = receiver.wait_for(1)
    assert "RedisMemoryHigh" in post.body["text"]
    with Session(engine) as s:
        row = s.scalars(select(ChannelPostRow)).one()
    assert row.status == "sent" and row.attempts == 5 and row.error is None
    assert message_from_json(row.message).subject.startswith("Firing: RedisMemoryHigh")
