"""`fieldguide serve` started with no index, as a real process (issue 17 items 1 and 11).

1. It says it is building the index, shows the embedding progress, then serves; the links in
   its answers point at the port it serves on (not :8000) and open the article.
2. SIGTERM or SIGINT in the middle of that build ends the process (bounded by the wait below,
   not a timing assertion): one line saying what happened, no traceback, exit 128 + signal, no
   snapshot switched to.
3. Invalid settings (a too-short admin token) are one line that never echoes the token, from
   `fieldguide serve` and from uvicorn's factory (`uvicorn app.server:app_from_env --factory`).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.browser.harness import free_port

ROOT = Path(__file__).resolve().parent.parent
# A generous bound for one process to load the model and answer or stop (a loaded CI machine);
# the assertions are about what happens, never how fast.
WAIT_S = 240


def _article(i: int) -> str:
    return (f"---\ntitle: Badge reader {i} refuses card at door {i * 7}\n"
            f"symptoms: [\"door {i} stays locked\", \"reader {i} blinks red\"]\n"
            "audience: end-user\nowner: facilities@example.com\nlast_reviewed: 2026-01-05\n---\n"
            f"## Symptom\nThe badge reader at door {i * 7} in building {i % 13} blinks red "
            f"and refuses card batch {i * 31}.\n\n"
            f"## Likely causes\n1. Card batch {i * 31} was not synced to controller {i}.\n"
            f"2. Controller {i} lost its network lease on VLAN {i % 40}.\n\n"
            f"## Diagnostic steps\n1. Open the access console and find door {i * 7}.\n"
            f"2. Check the last sync time of controller {i} against batch {i * 31}.\n\n"
            f"## Resolution\n1. Resync controller {i} from the console.\n"
            f"2. Renew the lease on VLAN {i % 40} and badge again at door {i * 7}.\n\n"
            f"## Escalation criteria\nDoor {i * 7} still locked after a resync of {i}.\n")


def _content(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"badge-{i}.md").write_text(_article(i), encoding="utf-8")
    return root


def _env(tmp: Path, content: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDGUIDE_")}
    env.update({"PYTHONPATH": str(ROOT), "FIELDGUIDE_DATA_DIR": str(tmp),
                "FIELDGUIDE_CONTENT_DIR": str(content), "FIELDGUIDE_INDEX_DIR": str(tmp / "index"),
                "FIELDGUIDE_FRESHNESS_FIRST_RUN_SECONDS": "3600", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class Lines:
    """A process's stderr, read line by line on a thread (so waiting for one never blocks)."""

    def __init__(self, stream: object) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line)
        self._queue.put(None)

    def until(self, fragment: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if fragment in line:
                return line
        raise AssertionError(f"never printed {fragment!r}; stderr was:\n{''.join(self.seen)}")

    def rest(self) -> str:
        while (line := self._queue.get(timeout=WAIT_S)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


@contextmanager
def serve(env: dict[str, str], port: int) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        yield proc, Lines(proc.stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.mark.slow
def test_serve_builds_a_missing_index_with_progress_then_links_to_its_own_port(
        tmp_path: Path) -> None:
    content = _content(tmp_path / "content", 3)
    port = free_port()
    with serve(_env(tmp_path, content), port) as (proc, err):
        assert "building it from" in err.until("no index in")
        err.until("to embed")  # EmbedProgress, plain lines off a terminal
        assert "indexed 3 articles" in err.until("indexed")
        err.until("Uvicorn running")
        r = httpx.get(f"http://127.0.0.1:{port}/api/search",
                      params={"q": "badge reader blinks red"})
        url = r.json()["results"][0]["url"]
        assert url.startswith(f"http://127.0.0.1:{port}/articles/badge-")
        assert httpx.get(url).status_code == 200
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit -15)
        assert proc.wait(timeout=WAIT_S) in (0, -signal.SIGTERM)
        text = err.rest()
        assert "Application shutdown complete" in text and "Traceback" not in text


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_the_initial_build_stops_the_server(tmp_path: Path,
                                                           sig: signal.Signals) -> None:
    # ~3,600 chunks to embed: minutes of work, so the signal lands in the middle of it
    content = _content(tmp_path / "content", 600)
    with serve(_env(tmp_path, content), free_port()) as (proc, err):
        err.until("to embed")
        proc.send_signal(sig)
        code = proc.wait(timeout=WAIT_S)  # the build would take far longer than this bound
        text = err.rest()
    assert code == 128 + sig.value, text
    assert f"stopped by {sig.name} while building the index" in text
    assert "Traceback" not in text and "Uvicorn running" not in text
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_a_short_admin_token_is_one_line_that_never_echoes_it(tmp_path: Path) -> None:
    env = _env(tmp_path, ROOT / "content", FIELDGUIDE_ADMIN_TOKEN="short-s3cret")
    for argv in ([sys.executable, "-m", "app.cli", "serve", "--port", str(free_port())],
                 [sys.executable, "-m", "uvicorn", "app.server:app_from_env", "--factory",
                  "--port", str(free_port())]):
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=WAIT_S)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "FIELDGUIDE_ADMIN_TOKEN" in lines[0] and "16 characters" in lines[0]
        assert "short-s3cret" not in done.stderr and "validation error" not in done.stderr
