"""kill -9 of a process writing search events: how many events, and how many milliseconds of
them, never reach the database (``app.events`` + ``app.spool``).

    python bench/spool_kill.py [--trials 20] [--rate 500] [--burst 466] [--linger 0.002]

Each trial forks a writer process (the service's own ``EventWriter`` over a SQLite file, its
spool in a fresh directory) and SIGKILLs it:

* ``steady``: events put at ``--rate`` per second, killed at a random moment after 1-2 s;
* ``burst``: ``--burst`` events put at ``--burst-rate`` per second, killed the moment the last
  is put (the review's case: 21 of 466 answered searches lost).

Then a new writer on the same spool replays what the dead one journaled, and the database is
counted. "lost" = events put minus events stored; "window" = kill time minus the ``at`` of the
last stored event (the age of the newest event that survived: an upper bound on how much of
the most recent past a kill costs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from app.db import make_engine, session_factory, upgrade
from app.events import EventWriter
from app.models import SearchEventRow


def _event(i: int) -> dict[str, object]:
    return {"search_id": f"e{i:08d}", "at": dt.datetime.now(dt.UTC), "query": "vpn",
            "normalized": "vpn", "result_ids": ["a", "b"], "total": 2, "took_ms": 3.0,
            "zero_results": False, "audience": "anonymous", "offset": 0}


def _child(url: str, spool: str, rate: float, burst: int, linger: float,
           put: mp.sharedctypes.Synchronized[int], ready: mp.synchronize.Event) -> None:
    engine = make_engine(url)
    writer = EventWriter(session_factory(engine), spool_dir=Path(spool), linger=linger)
    writer.start()
    ready.set()
    i = 0
    start = time.perf_counter()
    while not burst or i < burst:
        writer.put(SearchEventRow, **_event(i))
        i += 1
        put.value = i
        pause = start + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    time.sleep(60)  # killed meanwhile


def trial(mode: str, rate: float, burst: int, linger: float, burst_rate: float
          ) -> tuple[int, int, float]:
    with tempfile.TemporaryDirectory(prefix="fg-spool-bench-") as tmp:
        url = f"sqlite:///{tmp}/events.db"
        engine = make_engine(url)
        upgrade(engine)
        ctx = mp.get_context("fork")
        put = ctx.Value("q", 0)
        ready = ctx.Event()
        proc = ctx.Process(target=_child, args=(url, f"{tmp}/spool",
                                                rate if mode == "steady" else burst_rate,
                                                burst if mode == "burst" else 0, linger, put,
                                                ready))
        proc.start()
        ready.wait(60)
        if mode == "burst":
            while put.value < burst:
                time.sleep(0.0002)
        else:
            time.sleep(1 + random.random())
        killed_at = dt.datetime.now(dt.UTC)
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        writer = EventWriter(session_factory(engine), spool_dir=Path(f"{tmp}/spool"))
        writer.start()
        writer.flush(60)
        writer.close()
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(SearchEventRow)).scalar() or 0
            last = conn.execute(select(func.max(SearchEventRow.at))).scalar()
        engine.dispose()
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        window = (killed_at - last).total_seconds() * 1000 if last else float("nan")
        return int(put.value), int(stored), window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--burst", type=int, default=466)
    parser.add_argument("--burst-rate", type=float, default=2000.0,
                        help="events per second during the burst (4x what one replica "
                        "answers at concurrency 8)")
    parser.add_argument("--linger", type=float, default=0.002)
    args = parser.parse_args()
    for mode in ("steady", "burst"):
        lost, windows, total = [], [], 0
        for _ in range(args.trials):
            put, stored, window = trial(mode, args.rate, args.burst, args.linger, args.burst_rate)
            lost.append(put - stored)
            windows.append(window)
            total += put
        print(f"{mode:6s} trials={args.trials} events={total} lost: total={sum(lost)} "
              f"max={max(lost)} median={statistics.median(lost)}; window ms: "
              f"median={statistics.median(windows):.1f} max={max(windows):.1f}")


if __name__ == "__main__":
    main()
