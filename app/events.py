"""Search and click events: journaled to a local spool at once, stored in the database in batches.

Two threads, off the request path: the journal thread appends what was queued to the spool
(``app.spool``, one fsync per batch, every ``linger`` seconds at most), so a kill -9 loses only
what arrived in the last few milliseconds; the store thread inserts the spooled events into the
database in order and acknowledges them. While the database is down the events wait on disk
(bounded), and the store thread retries every ``retry`` seconds; a restart replays them.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase as Base
from sqlalchemy.orm import Session, sessionmaker

from app.spool import Spool, SpoolStatus

log = logging.getLogger("fieldguide.events")
_Item = tuple[type[Base], dict[str, Any]] | threading.Event | None
BATCH = 2000  # events per database transaction when catching up


class EventWriter:
    """A queue of rows (a model and its column values), its journal and its store.

        >>> writer = EventWriter(session_factory(engine), spool_dir=data_dir / "spool")
        >>> writer.start()
        >>> writer.put(SearchEventRow, search_id=..., query=...)   # returns at once
        >>> writer.flush()              # wait until everything queued so far is stored

    Rows are plain values, not ORM objects, and a batch is one executemany per table: at a few
    hundred searches a second, building and flushing ORM objects cost the GIL more than the
    searches' own snippets. Without ``spool_dir`` (tests of other parts, tools) the spool lives
    in a temporary directory.
    """

    def __init__(self, sessions: sessionmaker[Session], max_queue: int = 100_000,
                 linger: float = 0.002, spool_dir: Path | None = None,
                 spool_max_bytes: int = 64 * 1024 * 1024, retry: float = 1.0) -> None:
        self._sessions = sessions
        self.linger = linger
        self.retry = retry
        self.max_queue = max_queue
        self._spool_dir = spool_dir
        self._spool_max = spool_max_bytes
        self._tmp: Any = None
        self.spool: Spool | None = None
        self._pending: collections.deque[_Item] = collections.deque()  # appends are atomic
        self._wake = threading.Event()  # something is pending
        self._hurry = threading.Event()  # flush or close: do not linger
        self._stored = threading.Event()  # something was spooled: the store thread has work
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._tables: dict[str, Table] = {}
        self.dropped = 0  # the in-memory queue was full
        self.outage_since: float | None = None

    def start(self) -> None:
        if self._spool_dir is None:
            import tempfile

            self._tmp = tempfile.TemporaryDirectory(prefix="fieldguide-spool-")
            self._spool_dir = Path(self._tmp.name)
        self.spool = Spool.open(self._spool_dir, self._spool_max)
        if self.spool.recovered:
            log.warning("%d events spooled by an earlier run: replaying them",
                        self.spool.recovered)
            self._stored.set()
        for name, target in (("journal", self._journal), ("store", self._store)):
            thread = threading.Thread(target=target, name=f"fieldguide-events-{name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def put(self, model: type[Base], **values: Any) -> None:
        if len(self._pending) >= self.max_queue:  # analytics must never slow searches down
            self.dropped += 1
            return
        self._pending.append((model, values))
        if not self._wake.is_set():
            self._wake.set()

    def status(self) -> SpoolStatus | None:
        return self.spool.status() if self.spool else None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is in the database (False on timeout)."""
        if not self._threads or not self._threads[0].is_alive() or self.spool is None:
            return False
        deadline = time.monotonic() + timeout
        done = threading.Event()
        self._signal(done)
        if not done.wait(timeout):
            return False
        self._stored.set()
        return self.spool.wait_acked(self.spool.seq, max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 10.0) -> None:
        if self._threads and self._threads[0].is_alive():
            self._signal(None)
            self._threads[0].join(timeout)
        if self.spool is not None and self.outage_since is None:
            self.spool.wait_acked(self.spool.seq, timeout)
        self._stopping.set()
        self._stored.set()
        for thread in self._threads[1:]:
            thread.join(timeout)
        if self.spool is not None:
            self.spool.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _signal(self, item: threading.Event | None) -> None:
        self._pending.append(item)
        self._hurry.set()
        self._wake.set()

    # -- the journal thread ----------------------------------------------------------------
    def _journal(self) -> None:
        assert self.spool is not None
        while True:
            self._wake.wait()
            # Linger a moment so that a burst is one fsync, not one per search; flush and close
            # end the wait at once. The kill -9 window is this linger plus one fsync.
            self._hurry.wait(self.linger)
            # Cleared before draining: a put after the drain sets the event again.
            self._wake.clear()
            self._hurry.clear()
            items: list[_Item] = []
            while self._pending:
                items.append(self._pending.popleft())
            rows: list[tuple[Table, dict[str, Any]]] = [
                (model.__table__, values)  # type: ignore[misc]
                for model, values in (i for i in items if isinstance(i, tuple))]
            if rows:
                for table, _ in rows:
                    self._tables.setdefault(table.name, table)
                try:
                    kept = self.spool.append([(table.name, values) for table, values in rows])
                except OSError:
                    log.exception("could not spool %d events", len(rows))
                    kept = len(rows)  # counted below as dropped
                    self.spool.dropped += len(rows)
                if kept < len(rows):
                    log.error("event spool full (%d bytes): %d events dropped",
                              self.spool.max_bytes, len(rows) - kept)
                self._stored.set()
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is None for item in items):
                return

    # -- the store thread ------------------------------------------------------------------
    def _store(self) -> None:
        assert self.spool is not None
        while True:
            if self.outage_since is None:
                self._stored.wait()
            self._stored.clear()
            while True:
                batch = self.spool.unacked(BATCH)
                if not batch:
                    break
                try:
                    self._write(batch)
                except Exception as exc:
                    self._down(exc)
                    break
                self.spool.ack(batch[-1][0])
                self._up()
            if self._stopping.is_set():
                return
            if self.outage_since is not None:
                self._stopping.wait(self.retry)

    def _write(self, batch: list[tuple[int, str, dict[str, Any]]]) -> None:
        by_table: dict[str, list[dict[str, Any]]] = {}
        for _, name, values in batch:
            by_table.setdefault(name, []).append(values)
        with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            for name, rows in by_table.items():
                table = self._table(name)
                # A replay after a kill may offer a batch again: unique keys keep it once.
                insert = (postgresql.insert(table) if dialect == "postgresql"
                          else sqlite.insert(table)).on_conflict_do_nothing()
                session.execute(insert, rows)

    def _table(self, name: str) -> Table:
        if name not in self._tables:
            import app.models

            for mapper in app.models.Base.registry.mappers:
                table = mapper.local_table
                if isinstance(table, Table):
                    self._tables.setdefault(table.name, table)
        return self._tables[name]

    def _down(self, exc: Exception) -> None:
        assert self.spool is not None
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            log.warning("events cannot reach the database (%s): spooling them in %s",
                        str(exc).splitlines()[0][:200], self.spool.directory)

    def _up(self) -> None:
        if self.outage_since is not None:
            assert self.spool is not None
            log.warning("the database is back after %.1f s: spooled events replayed "
                        "(%d still pending)", time.monotonic() - self.outage_since,
                        self.spool.status().pending)
            self.outage_since = None
