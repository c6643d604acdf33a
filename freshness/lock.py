"""A database lock so only one replica runs the job: PostgreSQL advisory lock, else a lock row.

Usage::

    with job_lock(engine) as held:
        if held:
            job.run(...)
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from freshness.models import JobLockRow, utcnow

LOCK_NAME = "freshness-job"


def advisory_key(name: str) -> int:
    """A stable signed 63-bit key for ``pg_try_advisory_lock`` derived from the lock name."""
    return zlib.crc32(f"fieldguide:{name}".encode())


@contextmanager
def job_lock(engine: Engine, name: str = LOCK_NAME,
             ttl: dt.timedelta = dt.timedelta(hours=2)) -> Iterator[bool]:
    """Yields True when this process holds the lock (never blocks; False: someone else runs)."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, name) as held:
            yield held
    else:
        with _row_lock(engine, name, ttl) as held:
            yield held


@contextmanager
def _pg_lock(engine: Engine, name: str) -> Iterator[bool]:
    key = advisory_key(name)
    # The advisory lock belongs to the session: hold one connection for the whole run.
    with engine.connect() as conn:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


@contextmanager
def _row_lock(engine: Engine, name: str, ttl: dt.timedelta) -> Iterator[bool]:
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = utcnow()
    held = False
    with Session(engine) as s:
        try:
            s.add(JobLockRow(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
            s.commit()
            held = True
        except IntegrityError:
            s.rollback()
            # Take over a lock left behind by a crashed run once it has expired.
            taken = s.execute(update(JobLockRow).where(
                JobLockRow.name == name, JobLockRow.expires_at < now).values(
                holder=holder, acquired_at=now, expires_at=now + ttl))
            s.commit()
            held = taken.rowcount == 1  # type: ignore[attr-defined]
    try:
        yield held
    finally:
        if held:
            with Session(engine) as s:
                s.execute(delete(JobLockRow).where(JobLockRow.name == name,
                                                   JobLockRow.holder == holder))
                s.commit()
