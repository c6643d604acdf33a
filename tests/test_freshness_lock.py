"""Only one replica runs the job: PostgreSQL advisory lock, SQLite lock row; the scheduler.

Properties proved:
1. While one holder has the lock, another gets ``False`` at once (never blocks); after release
   the lock is free again. An expired SQLite lock row left by a crashed run is taken over.
2. A run that finds the lock held does nothing and says so.
3. Two replicas running the job at the same moment send each digest exactly once (real SMTP).
4. The scheduler runs the job in a thread and stops cleanly; schedule 0 disables it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.db import make_engine, upgrade
from app.settings import Settings
from freshness.job import JobResult
from freshness.lock import job_lock
from freshness.models import JobLockRow, utcnow
from freshness.notify import SmtpNotifier
from freshness.service import FreshnessService, Scheduler, run_locked
from indexer.content import scan_content
from tests.conftest import CONTENT
from tests.test_freshness_job import NOW
from tests.test_freshness_notify import Mailbox, free_port


def test_lock_is_exclusive_and_released(engine: Engine) -> None:
    with job_lock(engine) as first:
        assert first
        seen: list[bool] = []

        def other() -> None:  # another thread = another connection/session, like a replica
            with job_lock(engine) as held:
                seen.append(held)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert seen == [False]
    with job_lock(engine) as again:
        assert again


def test_expired_lock_row_is_taken_over(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(eng)
    with Session(eng) as s:
        s.add(JobLockRow(name="freshness-job", holder="crashed", acquired_at=utcnow(),
                         expires_at=utcnow() + dt.timedelta(hours=1)))
        s.commit()
    with job_lock(eng) as held:
        assert not held
    with Session(eng) as s:
        row = s.get(JobLockRow, "freshness-job")
        assert row is not None
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
        s.commit()
    with job_lock(eng) as held:
        assert held
    with Session(eng) as s:
        assert s.get(JobLockRow, "freshness-job") is None  # released
    eng.dispose()


def settings_for(tmp_path: Path, url: str, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, content_dir=CONTENT, index_dir=tmp_path / "no-index",
                    database_url=url, public_url="https://kb.example", **kw)  # type: ignore[arg-type]


def test_a_held_lock_skips_the_run(engine: Engine, tmp_path: Path, db_url: str) -> None:
    settings = settings_for(tmp_path, db_url)
    with job_lock(engine) as held:
        assert held
        result = run_locked(engine, settings.freshness_config(), NOW, notify=False)
    assert result.skipped
    assert result.articles == []
    assert run_locked(engine, settings.freshness_config(), NOW, notify=False).skipped is None


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_replicas_send_each_digest_exactly_once(db_url: str, tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    setup = make_engine(db_url)
    upgrade(setup)
    setup.dispose()
    settings = settings_for(tmp_path, db_url)
    articles = scan_content(CONTENT).articles
    results: list[JobResult] = []
    barrier = threading.Barrier(2)

    def replica() -> None:
        engine = make_engine(db_url)  # each replica has its own engine and connections
        barrier.wait()
        results.append(run_locked(engine, settings.freshness_config(), NOW, notify=True, articles=articles,
                                  channels=[SmtpNotifier("127.0.0.1", port)]))
        engine.dispose()

    try:
        threads = [threading.Thread(target=replica) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        controller.stop()
    assert len(results) == 2
    ran = [r for r in results if not r.skipped]
    assert ran
    sent = [s for r in results for s in r.sends if s.status == "sent"]
    # A team gets its digest (articles assigned to the team) and its summary: one of each.
    per_recipient = Counter((m["To"], "weekly summary" in m["Subject"]) for m in box.messages)
    assert per_recipient
    assert set(per_recipient.values()) == {1}
    assert len(box.messages) == len(sent)
    # Whichever replica came second (if it ran at all) found everything already sent.
    for r in results:
        if r is not ran[0] and not r.skipped:
            assert {s.status for s in r.sends} <= {"already-sent", "claimed-elsewhere"}


def test_scheduler_runs_and_stops(tmp_path: Path) -> None:
    done = threading.Event()
    calls: list[int] = []

    def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")  # the schedule goes on
        done.set()

    scheduler = Scheduler(job, interval=0.01, first_delay=0).start()
    assert done.wait(30)
    scheduler.stop()
    assert scheduler.runs >= 2
    count = len(calls)
    scheduler.stop()
    assert len(calls) == count

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    eng = make_engine(url)
    off = FreshnessService(eng, settings_for(tmp_path, url, freshness_schedule_hours=0)
                           .freshness_config(),
                           article=lambda _id: None, articles=list)
    off.start()
    assert off.scheduler is None
    on = FreshnessService(eng, settings_for(tmp_path, url, freshness_first_run_seconds=3600)
                          .freshness_config(),
                          article=lambda _id: None, articles=list)
    on.start()
    started = on.scheduler
    assert started is not None
    on.stop()
    assert started.runs == 0 and on.scheduler is None
    eng.dispose()
