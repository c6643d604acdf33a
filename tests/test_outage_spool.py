"""Nothing lost: search and click events survive a database outage and a kill -9.

Properties proven here:

1. Events put while the database is stopped wait in the spool (reported by ``/readyz`` and the
   writer's status), and reach the database in order once it is back; searches answer 200
   throughout.
2. A process killed with SIGKILL right after its events were journaled loses none of them: the
   next start replays them, exactly once (a batch offered twice is stored once).
3. The spool is bounded: past ``max_bytes`` new events are dropped and counted; a torn last line
   (a kill mid-write) is skipped, not fatal.
4. A commit that reaches a frozen PostgreSQL after its request's deadline is rolled back when the
   server wakes (``commit_unless_abandoned``); a plain commit in the same situation lands, which
   is what the review saw (37 turns stored after their clients gave up).
5. A chat turn whose request was abandoned is not stored.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from app.db import DatabaseUnavailable, DbTimeouts, commit_unless_abandoned, make_engine, upgrade
from app.events import EventWriter
from app.models import ClickEventRow, SearchEventRow
from app.spool import Spool
from chatbot.engine import ChatEngine
from chatbot.models import ChatTurnRow
from chatbot.service import ChatService, TurnAbandoned
from tests.browser.harness import ServerThread
from tests.test_outage_db import Cluster, cluster, running, server  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent


def _search(i: int) -> dict[str, object]:
    return {"search_id": f"s{i:06d}", "at": dt.datetime.now(dt.UTC), "query": f"q{i}",
            "normalized": f"q{i}", "result_ids": ["a"], "total": 1, "took_ms": 1.0,
            "zero_results": False, "audience": "anonymous", "offset": 0}


# -- 1. an outage ----------------------------------------------------------------------------
@pytest.mark.postgres
def test_events_wait_in_the_spool_through_an_outage_and_arrive_in_order(
        running: Cluster, tmp_path: Path) -> None:  # noqa: F811
    engine = make_engine(running.url, DbTimeouts(connect=2, statement=1, pool=1, retry_after=1))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    upgrade(engine)
    from app.db import session_factory

    writer = EventWriter(session_factory(engine), spool_dir=tmp_path / "spool", retry=0.2)
    writer.start()
    try:
        writer.put(SearchEventRow, **_search(0))
        assert writer.flush()
        running.stop()
        for i in range(1, 31):
            writer.put(SearchEventRow, **_search(i))
            writer.put(ClickEventRow, at=dt.datetime.now(dt.UTC), search_id=f"s{i:06d}",
                       article_id="a", rank=1, query=None)
        assert not writer.flush(timeout=3)  # the database is down: not stored...
        status = writer.status()
        assert status is not None and status.pending == 60 and status.dropped == 0
        assert list((tmp_path / "spool").glob("slot-0/segment-*.log"))  # ...but on disk
        running.start()
        assert writer.flush(timeout=30)
        assert writer.status().pending == 0  # type: ignore[union-attr]
    finally:
        writer.close()
    with engine.connect() as conn:
        ids = conn.execute(select(SearchEventRow.search_id).order_by(SearchEventRow.id)).scalars()
        assert list(ids) == [f"s{i:06d}" for i in range(31)]  # all, in the order they came
        assert conn.execute(select(func.count()).select_from(ClickEventRow)).scalar() == 30
    engine.dispose()


@pytest.mark.postgres
def test_readyz_reports_the_spool_and_searches_of_an_outage_reach_the_database(
        server: ServerThread, running: Cluster) -> None:  # noqa: F811
    with httpx.Client(base_url=server.url, timeout=60) as client:
        running.stop()
        ids = []
        for i in range(30):
            r = client.get("/api/search", params={"q": f"vpn disconnect {i}"})
            assert r.status_code == 200
            ids.append(r.json()["search_id"])
        deadline = time.monotonic() + 30
        ready = client.get("/readyz")
        while "30 events spooled" not in ready.text and time.monotonic() < deadline:
            time.sleep(0.2)
            ready = client.get("/readyz")
        assert ready.status_code == 503 and "30 events spooled" in ready.text, ready.text
        running.start()
        while time.monotonic() < deadline:
            ready = client.get("/readyz")
            if ready.status_code == 200 and ready.json()["spool"]["pending"] == 0:
                break
            time.sleep(0.2)
        assert ready.status_code == 200 and ready.json()["spool"]["pending"] == 0, ready.text
    engine = make_engine(running.url)
    with engine.connect() as conn:
        stored = set(conn.execute(select(SearchEventRow.search_id)).scalars())
    engine.dispose()
    assert set(ids) <= stored


# -- 2. kill -9 ------------------------------------------------------------------------------
CHILD = """
import os, signal, sys, time, datetime as dt
from pathlib import Path
from app.db import make_engine, session_factory, upgrade
from app.events import EventWriter
from app.models import SearchEventRow
url, spool, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
engine = make_engine(url); upgrade(engine)
writer = EventWriter(session_factory(engine), spool_dir=spool)
writer.start()
for i in range(n):
    writer.put(SearchEventRow, search_id=f"k{i:06d}", at=dt.datetime.now(dt.UTC), query="q",
               normalized="q", result_ids=[], total=0, took_ms=1.0, zero_results=True,
               audience="anonymous", offset=0)
while writer.spool.seq < n:   # journaled (fsync'd); the store thread may be anywhere
    time.sleep(0.0005)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_kill_after_the_journal_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    spool = tmp_path / "spool"
    proc = subprocess.run([sys.executable, "-c", CHILD, url, str(spool), "466"], cwd=ROOT,
                          capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    engine = make_engine(url)
    from app.db import session_factory

    writer = EventWriter(session_factory(engine), spool_dir=spool)
    writer.start()
    try:
        assert writer.flush(timeout=30)
    finally:
        writer.close()
    with engine.connect() as conn:
        ids = list(conn.execute(select(SearchEventRow.search_id)).scalars())
    engine.dispose()
    assert sorted(ids) == [f"k{i:06d}" for i in range(466)]


# -- 3. bounds and torn lines ----------------------------------------------------------------
def test_a_full_spool_drops_and_counts_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, max_bytes=2000)
    kept = spool.append([("search_events", {"search_id": f"x{i}", "at": dt.datetime.now(dt.UTC)})
                         for i in range(100)])
    assert 0 < kept < 100 and spool.status().dropped == 100 - kept
    spool.ack(2)
    spool.close()
    segment = sorted((tmp_path / "slot-0").glob("segment-*.log"))[-1]
    with segment.open("ab") as f:
        f.write(b'{"s": 999, "t": "search_ev')  # a kill in the middle of a write
    again = Spool.open(tmp_path, max_bytes=2000)
    try:
        pending = again.unacked(1000)
        assert [seq for seq, _, _ in pending] == list(range(3, kept + 1))
        assert isinstance(pending[0][2]["at"], dt.datetime)  # values come back typed
    finally:
        again.close()


def test_two_processes_never_share_a_spool_slot(tmp_path: Path) -> None:
    first = Spool.open(tmp_path, 10_000)
    second = Spool.open(tmp_path, 10_000)
    try:
        assert first.directory != second.directory
    finally:
        first.close()
        second.close()
    third = Spool.open(tmp_path, 10_000)
    third.close()
    assert third.directory == first.directory  # a free slot is reused


# -- 4. a commit that arrives late -----------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.parametrize("guarded", [True, False])
def test_a_commit_reaching_a_frozen_server_after_the_deadline_is_rolled_back(
        running: Cluster, guarded: bool) -> None:  # noqa: F811
    engine = make_engine(running.url, DbTimeouts(connect=2, statement=0.5, pool=1,
                                                 retry_after=1))
    marker = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS late_commits (marker text)")
    from app.db import session_factory

    session = session_factory(engine)()
    session.execute(text("INSERT INTO late_commits VALUES (:m)"), {"m": marker})
    running.freeze()
    try:
        # The COMMIT is sent while the server sleeps: the client gives up after its deadline.
        def commit() -> None:
            if guarded:
                commit_unless_abandoned(session, threading.Event(), time.time() + 0.2)
            else:
                session.commit()

        with pytest.raises((DatabaseUnavailable, OperationalError)):
            commit()
        time.sleep(0.5)  # the request's deadline has passed when the server wakes
    finally:
        running.thaw()
        session.close()
    engine.dispose()
    probe = make_engine(running.url)
    with probe.connect() as conn:
        # The woken server reads what it had received, answers nobody, and ends that session.
        for _ in range(200):
            others = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()")).scalar()
            if not others:
                break
            time.sleep(0.05)
        found = conn.execute(text("SELECT count(*) FROM late_commits WHERE marker = :m"),
                             {"m": marker}).scalar()
    probe.dispose()
    assert found == (0 if guarded else 1)


# -- 5. an abandoned chat turn ---------------------------------------------------------------
def test_an_abandoned_turn_is_not_stored(tmp_path: Path, chat_engine: ChatEngine) -> None:
    from app.db import session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'chat.db'}")
    upgrade(engine)
    service = ChatService(chat_engine, session_factory(engine), commit=commit_unless_abandoned)
    given_up = threading.Event()
    given_up.set()
    with pytest.raises(TurnAbandoned):
        service.chat(None, "vpn keeps disconnecting", abandoned=given_up)
    kept = service.chat(None, "vpn keeps disconnecting", abandoned=threading.Event())
    with engine.connect() as conn:
        turns = conn.execute(select(ChatTurnRow.session_id)).scalars().all()
    assert turns == [kept.session_id]
    service.close()
    engine.dispose()
    assert os.path.exists(tmp_path / "chat.db")
