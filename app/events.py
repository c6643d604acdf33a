"""Search and click events written by one background thread, in batches, off the request path."""

from __future__ import annotations

import logging
import queue
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from indexer.db import Base

log = logging.getLogger("fieldguide.events")
_BATCH = 500


class EventWriter:
    """A queue of ORM rows and the thread that inserts them.

        >>> writer = EventWriter(session_factory(engine)); writer.start()
        >>> writer.put(SearchEventRow(...))     # returns at once
        >>> writer.flush()                      # wait until everything queued so far is stored
    """

    def __init__(self, sessions: sessionmaker[Session], max_queue: int = 100_000,
                 linger: float = 0.05) -> None:
        self._sessions = sessions
        self.linger = linger
        self._queue: queue.Queue[Base | threading.Event | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fieldguide-events", daemon=True)
        self._thread.start()

    def put(self, row: Base) -> None:
        try:
            self._queue.put_nowait(row)
        except queue.Full:  # analytics must never slow searches down: drop and count
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        if self._thread is None or not self._thread.is_alive():
            return False
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            # Linger a moment so that a busy server writes one transaction per batch, not one
            # commit (an fsync on SQLite) per search; flush and close end the wait at once.
            deadline = time.monotonic() + self.linger
            while len(items) < _BATCH and isinstance(items[-1], Base):
                try:
                    items.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            rows = [i for i in items if isinstance(i, Base)]
            if rows:
                try:
                    with self._sessions.begin() as session:
                        session.add_all(rows)
                except Exception:
                    log.exception("could not store %d events", len(rows))
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
                elif item is None:
                    stop = True
