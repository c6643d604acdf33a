"""Two whole servers (two ``create_app`` instances, each with its own engine, threads and
locks) on one database, as two replicas behind a load balancer would be:

1. Both run the scheduled freshness job at the same moment: each team's digest and weekly
   summary reaches the real SMTP server exactly once (the job lock: a PostgreSQL advisory lock,
   a lock row on SQLite; the notification log).
2. The same Alertmanager group delivered to both at once, several times over: the team channel
   gets exactly one post (the group row's lock and the posts' unique delivery key), sent by
   whichever replica's sender claimed it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from freshness.job import JobResult
from indexer.embed import Embedder
from tests.api_support import client_for, settings_for
from tests.hooks_support import BEARER, TOKEN, ChannelReceiver, channel_receiver
from tests.test_freshness_notify import Mailbox, free_port
from tests.test_hooks import PUBLIC, REDIS, URL, all_sent, group


@pytest.fixture
def two_replicas(tmp_path: Path, kb_index: Path, embedder: Embedder, db_url: str,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, ChannelReceiver]]:
    from aiosmtpd.controller import Controller

    monkeypatch.setenv("FIELDGUIDE_POST_RETRIES", "1")
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    with channel_receiver() as receiver, ExitStack() as stack:
        shared: dict[str, Any] = {
            "database_url": db_url, "public_url": PUBLIC, "alerts_token": TOKEN,
            "slack_webhook_url": receiver.url + "/slack", "smtp_host": "127.0.0.1",
            "smtp_port": controller.port, "freshness_notify": True,
            "freshness_schedule_hours": 0}
        clients = [stack.enter_context(client_for(
            settings_for(tmp_path / name, kb_index, **shared), embedder)) for name in "ab"]
        try:
            yield (clients, box), receiver
        finally:
            controller.stop()


def _at_once(clients: list[TestClient], times: int, call: Callable[[TestClient], Any]
             ) -> list[Any]:
    """``call`` on the replicas in turn from ``times`` threads released together."""
    barrier = threading.Barrier(times)
    out: list[Any] = []
    errors: list[BaseException] = []

    def run(client: TestClient) -> None:
        barrier.wait()
        try:
            out.append(call(client))
        except BaseException as exc:  # surfaced below: a thread's assert would be lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(clients[i % len(clients)],))
               for i in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return out


def test_the_freshness_job_sends_once_across_replicas(
        two_replicas: tuple[Any, ChannelReceiver]) -> None:
    (clients, box), receiver = two_replicas
    results: list[JobResult] = _at_once(
        clients, 2, lambda c: c.app.state.services.freshness.run_scheduled())
    sent = [s for r in results if not r.skipped for s in r.sends if s.status == "sent"]
    emails = [s for s in sent if s.channel == "email"]
    assert emails  # the sample knowledge base has overdue articles
    per_recipient = Counter((m["To"], "weekly summary" in m["Subject"]) for m in box.messages)
    assert set(per_recipient.values()) == {1}
    assert len(box.messages) == len(emails)
    assert len(receiver.posts) == len(sent) - len(emails)  # the teams' channel summaries
    # A second round on either replica sends nothing new.
    again = clients[1].app.state.services.freshness.run_scheduled()
    assert [s for s in again.sends if s.status == "sent"] == []
    assert len(box.messages) == len(emails)
    assert len(receiver.posts) == len(sent) - len(emails)


def test_an_alert_group_posts_once_across_replicas(
        two_replicas: tuple[Any, ChannelReceiver], db_url: str) -> None:
    (clients, _box), receiver = two_replicas
    payload = group([REDIS])
    for c in clients:
        # FastAPI builds a route on its first request under warnings.catch_warnings, which is
        # not thread-safe: first requests racing in threads would see each other's filters.
        assert c.post(URL, json=payload).status_code == 401
    codes = _at_once(clients, 6, lambda c: c.post(URL, json=payload, headers=BEARER).status_code)
    assert codes == [202] * 6
    rows = all_sent(db_url, 1)
    assert [r.status for r in rows] == ["sent"]
    assert len(receiver.posts) == 1 and "RedisMemoryHigh" in receiver.posts[0].body["text"]
