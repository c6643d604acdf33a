"""A bounded on-disk journal of events on their way to the database: nothing lost to an outage.

    >>> spool = Spool.open(data_dir / "spool", max_bytes=64 << 20)
    >>> seqs = spool.append([("search_events", {...}), ...])   # written and fsync'd
    >>> for seq, table, values in spool.unacked(1000): ...     # oldest first
    >>> spool.ack(seqs[-1])                                    # stored in the database

Every event is appended (one ``fsync`` per batch) before the database sees it, and acknowledged
once a transaction holding it committed; what is unacknowledged at start-up — a database outage,
a kill -9 — is replayed, in order. Files are segments of JSON lines (``{"s": seq, "t": table,
"v": values}`` and ``{"ack": seq}``); a segment is deleted once everything in it is stored. A torn
last line (a kill during the write) is skipped. Past ``max_bytes`` of unstored events, new ones
are dropped and counted: the disk stays bounded through a long outage.

Each process takes its own slot directory (``slot-N``, held with ``flock``), so several workers
on one data directory never share a file, and a restarted worker finds a dead one's events.
"""

from __future__ import annotations

import collections
import datetime as dt
import fcntl
import itertools
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from indexer.files import fsync_path

SEGMENT_BYTES = 4 * 1024 * 1024
Record = tuple[str, dict[str, Any]]  # table name, column values


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot spool a {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$dt" in obj:
        return dt.datetime.fromisoformat(obj["$dt"])
    return obj


def encode(seq: int, table: str, values: dict[str, Any]) -> bytes:
    return json.dumps({"s": seq, "t": table, "v": values}, default=_default,
                      separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode(line: bytes) -> tuple[int, str, dict[str, Any]]:
    obj = json.loads(line, object_hook=_hook)
    return int(obj["s"]), str(obj["t"]), obj["v"]


@dataclass(frozen=True)
class SpoolStatus:
    pending: int  # events on disk, not yet in the database
    bytes: int
    dropped: int  # refused because the spool was full
    oldest: dt.datetime | None  # when the oldest pending event was spooled
    directory: str


class Spool:
    """The journal of one process (see the module docstring). Thread-safe."""

    def __init__(self, directory: Path, max_bytes: int, lock: TextIO) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lockfile = lock  # held for the life of the process
        self._lock = threading.Lock()
        self._acked_cond = threading.Condition(self._lock)
        self._pending: collections.deque[tuple[int, bytes, dt.datetime]] = collections.deque()
        self._pending_bytes = 0
        self._segments: list[tuple[Path, int]] = []  # (file, last seq in it), oldest first
        self._file: Any = None
        self._file_bytes = 0
        self.seq = 0  # the last seq handed out
        self.acked = 0
        self.dropped = 0
        self.recovered = 0

    # -- opening and recovery --------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, max_bytes: int) -> Spool:
        root.mkdir(parents=True, exist_ok=True)
        slot = 0
        while True:
            directory = root / f"slot-{slot}"
            directory.mkdir(exist_ok=True)
            lock = (directory / "lock").open("a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                slot += 1
                continue
            spool = cls(directory, max_bytes, lock)
            spool._recover()
            return spool

    def _recover(self) -> None:
        records: dict[int, bytes] = {}
        acked = 0
        for path in sorted(self.directory.glob("segment-*.log")):
            last = 0
            with path.open("rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # torn by a kill mid-write: what follows was never written
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if "ack" in obj:
                        acked = max(acked, int(obj["ack"]))
                    elif "s" in obj:
                        records[int(obj["s"])] = line
                        last = max(last, int(obj["s"]))
            self._segments.append((path, last))
        now = dt.datetime.now(dt.UTC)
        for seq in sorted(s for s in records if s > acked):
            self._pending.append((seq, records[seq], now))
            self._pending_bytes += len(records[seq])
        self.seq = max([acked, *records]) if records else acked
        self.acked = acked
        self.recovered = len(self._pending)
        self._new_segment()
        self._drop_stored_segments()

    def _new_segment(self) -> None:
        if self._file is not None:
            self._file.close()
        path = self.directory / f"segment-{self.seq + 1:015d}.log"
        self._file = path.open("ab")
        self._file_bytes = 0
        self._segments.append((path, self.seq))
        fsync_path(self.directory)  # the new file's name is durable only then

    # -- writing ---------------------------------------------------------------------------
    def append(self, records: list[Record]) -> int:
        """Write ``records`` and fsync; returns how many were kept (the rest: spool full)."""
        if not records:
            return 0
        with self._lock:
            lines: list[bytes] = []
            size = 0
            for table, values in records:
                line = encode(self.seq + len(lines) + 1, table, values)
                if self._pending_bytes + size + len(line) > self.max_bytes:
                    self.dropped += len(records) - len(lines)
                    break
                lines.append(line)
                size += len(line)
            if not lines:
                return 0
            data = b"".join(lines)
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
            now = dt.datetime.now(dt.UTC)
            for line in lines:
                self.seq += 1
                self._pending.append((self.seq, line, now))
            self._pending_bytes += size
            self._file_bytes += size
            path, _ = self._segments[-1]
            self._segments[-1] = (path, self.seq)
            return len(lines)

    def unacked(self, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        """Up to ``limit`` events not yet stored, oldest first."""
        with self._lock:
            lines = [line for _, line, _ in itertools.islice(self._pending, limit)]
        return [decode(line) for line in lines]

    def ack(self, seq: int) -> None:
        """Everything up to ``seq`` is in the database."""
        with self._lock:
            while self._pending and self._pending[0][0] <= seq:
                _, line, _ = self._pending.popleft()
                self._pending_bytes -= len(line)
            self.acked = max(self.acked, seq)
            # Not fsync'd: a kill -9 keeps it (the page cache survives the process); a power
            # cut may lose it, and then one batch is offered again (search ids stay unique).
            self._file.write(json.dumps({"ack": self.acked}).encode() + b"\n")
            self._file.flush()
            self._file_bytes += 16
            if self._file_bytes >= SEGMENT_BYTES:
                self._new_segment()
            self._drop_stored_segments()
            self._acked_cond.notify_all()

    def wait_acked(self, seq: int, timeout: float) -> bool:
        with self._lock:
            return self._acked_cond.wait_for(lambda: self.acked >= seq, timeout)

    def _drop_stored_segments(self) -> None:
        while len(self._segments) > 1 and self._segments[0][1] <= self.acked:
            path, _ = self._segments.pop(0)
            path.unlink(missing_ok=True)

    def status(self) -> SpoolStatus:
        with self._lock:
            oldest = self._pending[0][2] if self._pending else None
            return SpoolStatus(len(self._pending), self._pending_bytes, self.dropped, oldest,
                               str(self.directory))

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None
        self._lockfile.close()  # releases the slot
