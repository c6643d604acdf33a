"""Database outages: a PostgreSQL stopped or frozen under the service answers 503, never hangs.

Properties proven here, each against a private PostgreSQL cluster this module starts itself
(``initdb``/``pg_ctl`` as user postgres on its own port, stopped by its pid; never the shared
server):

1. A stopped database: ``POST /api/chat``, ``/api/freshness`` and every other route that needs
   the database answer ``503 database_unavailable`` with ``Retry-After`` (not 500); the service
   recovers by itself once the database is back.
2. A frozen database (SIGSTOP of every process of the cluster): ``/readyz`` answers 503 instead
   of hanging; 45 chat turns waiting on it do not exhaust the thread pool, so ``/healthz`` and
   article pages keep answering meanwhile.
3. The engine's waits are bounded: connect, statement (server-side) and the client's own
   deadline on a server that does not answer; the gate then fails fast.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.db import DatabaseUnavailable, DbTimeouts, gate_of, is_outage, make_engine
from indexer.embed import Embedder
from tests.api_support import ENGINEER, assert_error, copy_index, settings_for
from tests.browser.harness import ServerThread

pytestmark = pytest.mark.postgres

FAST = {"database_connect_timeout_seconds": 2, "database_statement_timeout_seconds": 1,
        "database_pool_timeout_seconds": 1, "database_retry_after_seconds": 1,
        "chat_timeout_seconds": 6, "freshness_schedule_hours": 0, "chat_sweep_seconds": 0}


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Cluster:
    """A throwaway PostgreSQL cluster owned by user postgres, on its own port and socket dir."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fg-outage-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.log = self.root / "server.log"
        self.pid: int | None = None
        user = pwd.getpwnam("postgres")
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(_pg_bin("initdb") or "initdb", "-D", str(self.data), "-A", "trust",
                  "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        prefix = [] if os.geteuid() == pwd.getpwnam("postgres").pw_uid else [
            "runuser", "-u", "postgres", "--"]
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(_pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-l", str(self.log),
                  "-w", "-t", "60", "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                  "-c fsync=off -c max_connections=60", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, by its pid), waiting until it is gone."""
        if self.pid is None:
            return
        self.thaw()
        os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + 60
        while _alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid = None

    def processes(self) -> list[int]:
        assert self.pid is not None
        pids = [self.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:
                pids.append(int(stat.parent.name))
        return pids

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every backend: a hung VM, as the review did for 44 s."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):  # a backend that just exited
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.pid is None:
            return
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):  # a backend that just exited
                os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if _pg_bin("initdb") is None:
        pytest.skip("initdb not installed (Debian package postgresql)")
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.remove()


@pytest.fixture
def running(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, up at the start and the end of the test whatever the test did to it."""
    cluster.thaw()
    if cluster.pid is None:
        cluster.start()
    yield cluster
    cluster.thaw()
    if cluster.pid is None:
        cluster.start()


@pytest.fixture
def server(running: Cluster, tmp_path: Path, kb_index: Path, embedder: Embedder
           ) -> Iterator[ServerThread]:
    """A real uvicorn server on the private cluster (a fresh schema: the cluster's own db)."""
    engine = make_engine(running.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    settings = settings_for(tmp_path / "data", copy_index(kb_index, tmp_path / "index"),
                            database_url=running.url, **FAST)
    from app.main import create_app

    with ServerThread(create_app(settings, embedder=embedder)) as srv:
        yield srv


def _chat(client: httpx.Client, message: str = "vpn keeps disconnecting") -> httpx.Response:
    return client.post("/api/chat", json={"message": message})


def _own_chat(url: str, message: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=120) as client:
        return _chat(client, message)


# -- 1. a stopped database --------------------------------------------------------------------
def test_stopped_database_answers_503_with_retry_after_then_recovers(
        server: ServerThread, running: Cluster) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        first = _chat(client)
        assert first.status_code == 200, first.text
        session_id = first.json()["session_id"]
        assert client.get("/readyz").status_code == 200
        running.stop()
        routes: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
            ("POST", "/api/chat", {"message": "printer offline"}, {}),
            ("POST", "/api/chat", {"session_id": session_id, "message": "still broken"}, {}),
            ("POST", f"/api/chat/{session_id}/feedback", {"helpful": True}, {}),
            ("POST", f"/api/chat/{session_id}/escalate", {}, {}),
            ("GET", "/api/freshness", None, {}),
            ("GET", "/api/freshness", None, ENGINEER),
            ("GET", "/api/metrics/search", None, {"Authorization": "Bearer "
                                                  "admin-token-for-tests-0123456789"}),
            ("GET", "/api/metrics/deflection", None, {"Authorization": "Bearer "
                                                      "admin-token-for-tests-0123456789"}),
            ("GET", "/api/chat/tickets", None, {"Authorization": "Bearer "
                                                "admin-token-for-tests-0123456789"}),
            ("GET", "/readyz", None, {}),
        ]
        for method, path, body, headers in routes:
            response = client.request(method, path, json=body, headers=headers)
            assert_error(response, 503, "database_unavailable")
            assert int(response.headers["Retry-After"]) >= 1, path
            assert "postgres@" not in response.text and "127.0.0.1" not in response.text
        # What needs no database goes on: search, articles, liveness.
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/search", params={"q": "vpn"}).status_code == 200
        assert client.get("/articles/vpn-disconnects").status_code in (200, 404)
        running.start()
        deadline = time.monotonic() + 30  # the gate's cool-down, then one probe reconnects
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/readyz").status_code == 200
        again = client.post("/api/chat", json={"session_id": session_id,
                                               "message": "still broken"})
        assert again.status_code == 200, again.text


# -- 2. a frozen database ---------------------------------------------------------------------
def test_frozen_database_readyz_answers_503_and_the_pool_is_not_exhausted(
        server: ServerThread, running: Cluster) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        assert _chat(client).status_code == 200
        article = client.get("/api/search", params={"q": "vpn"}).json()["results"][0]["id"]
        running.freeze()
        try:
            with concurrent.futures.ThreadPoolExecutor(45) as pool:
                turns = [pool.submit(_own_chat, server.url, f"vpn question {i}")
                         for i in range(45)]
                time.sleep(0.5)  # let them reach the server and wait on the database
                # Meanwhile: liveness and article pages answer, readiness says 503.
                assert client.get("/healthz").status_code == 200
                assert client.get(f"/articles/{article}").status_code == 200
                assert client.get(f"/api/articles/{article}").status_code == 200
                ready = client.get("/readyz")
                assert_error(ready, 503, "database_unavailable")
                statuses = [t.result().status_code for t in turns]
            assert set(statuses) == {503}, statuses
        finally:
            running.thaw()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _chat(client).status_code == 200
    # None of the turns given up during the freeze was stored when the database woke up.
    engine = make_engine(running.url)
    with engine.connect() as conn:
        late = conn.execute(text("SELECT count(*) FROM chat_turns WHERE message LIKE "
                                 "'vpn question %'")).scalar()
    engine.dispose()
    assert late == 0


# -- 3. the engine's bounds -------------------------------------------------------------------
def test_engine_waits_are_bounded_and_the_gate_fails_fast(running: Cluster) -> None:
    engine = make_engine(running.url, DbTimeouts(connect=2, statement=0.5, pool=1,
                                                 retry_after=30))
    try:
        with engine.connect() as conn:
            # The server's statement_timeout cancels a slow statement; the connection survives.
            with pytest.raises(Exception) as slow:
                conn.execute(text("SELECT pg_sleep(5)"))
            assert is_outage(slow.value)
            conn.rollback()
            assert conn.execute(text("SELECT 1")).scalar() == 1
        gate = gate_of(engine)
        assert gate is not None and not gate.down  # one slow statement is not an outage
        running.freeze()
        try:
            with pytest.raises(Exception) as frozen, engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            assert is_outage(frozen.value)
            assert gate.down
            # While the gate is open, a checkout fails at once: no thread waits on the server.
            with pytest.raises(DatabaseUnavailable), engine.connect():
                pass
        finally:
            running.thaw()
    finally:
        engine.dispose()
