"""Search and click events written by one background thread, in batches, off the request path."""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import DeclarativeBase as Base
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("fieldguide.events")
_Item = tuple[type[Base], dict[str, Any]] | threading.Event | None


class EventWriter:
    """A queue of rows (a model and its column values) and the thread that inserts them.

        >>> writer = EventWriter(session_factory(engine)); writer.start()
        >>> writer.put(SearchEventRow, search_id=..., query=...)   # returns at once
        >>> writer.flush()              # wait until everything queued so far is stored

    Rows are plain values, not ORM objects, and a batch is one executemany per table: at a few
    hundred searches a second, building and flushing ORM objects cost the GIL more than the
    searches' own snippets.
    """

    def __init__(self, sessions: sessionmaker[Session], max_queue: int = 100_000,
                 linger: float = 0.05) -> None:
        self._sessions = sessions
        self.linger = linger
        self.max_queue = max_queue
        self._pending: collections.deque[_Item] = collections.deque()  # appends are atomic
        self._wake = threading.Event()  # something is pending
        self._hurry = threading.Event()  # flush or close: do not linger
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fieldguide-events", daemon=True)
        self._thread.start()

    def put(self, model: type[Base], **values: Any) -> None:
        if len(self._pending) >= self.max_queue:  # analytics must never slow searches down
            self.dropped += 1
            return
        self._pending.append((model, values))
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        if self._thread is None or not self._thread.is_alive():
            return False
        done = threading.Event()
        self._signal(done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._signal(None)
            self._thread.join(timeout)

    def _signal(self, item: threading.Event | None) -> None:
        self._pending.append(item)
        self._hurry.set()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            # Linger a moment so that a busy server writes one transaction per batch, not one
            # commit (an fsync on SQLite) per search; flush and close end the wait at once.
            self._hurry.wait(self.linger)
            # Cleared before draining: a put after the drain sets the event again.
            self._wake.clear()
            self._hurry.clear()
            items: list[_Item] = []
            while self._pending:
                items.append(self._pending.popleft())
            self._write([i for i in items if isinstance(i, tuple)])
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is None for item in items):
                return

    def _write(self, rows: list[tuple[type[Base], dict[str, Any]]]) -> None:
        if not rows:
            return
        by_model: dict[type[Base], list[dict[str, Any]]] = {}
        for model, values in rows:
            by_model.setdefault(model, []).append(values)
        try:
            with self._sessions.begin() as session:
                for model, batch in by_model.items():
                    session.execute(insert(model), batch)
        except Exception:
            log.exception("could not store %d events", len(rows))
