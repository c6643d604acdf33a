"""``fieldguide serve``: run the app under uvicorn, one process or several workers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import ERRORS, error_body
from app.main import create_app
from app.settings import Settings, settings_error
from indexer.snapshot import current_version

SETTINGS_ENV = "FIELDGUIDE_SERVE_SETTINGS"
# Queries up to 8 KB arrive percent-encoded in the URL (up to 24 KB); with h11 (when chosen
# instead of httptools) the default 16 KB limit would answer them with a bare 400.
MAX_REQUEST_HEAD = 2 * 1024 * 1024
MAX_PARSED_URL = 65_535  # httptools.parse_url's limit
# Numeric libraries default to one thread per core for every call. In a server, concurrent
# requests already keep the cores busy, and OpenBLAS's idle threads spin: one search's
# 15,000 x 384 dot product cost 12.4 ms of CPU per search with 2 threads, 8.5 ms with 1
# (officedocs, 8 clients: 136 -> 156 req/s). Environment variables set by the operator win.
NUMERIC_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's C HTTP parser (httptools), with every error in our error body.

    httptools cannot split a URL longer than 65,535 bytes, and uvicorn then answers a bare-text
    400; this answers 414 ``url_too_long`` like any other error (no valid query needs such a URL,
    and POST /api/search takes long pastes as JSON)."""

    def send_400_response(self, msg: str) -> None:
        if len(self.url) <= MAX_PARSED_URL:
            super().send_400_response(msg)
            return
        body = json.dumps(error_body(
            "url_too_long", f"the URL is longer than {MAX_PARSED_URL} bytes; queries are limited "
            "to 8 KB (send a long paste as JSON to POST /api/search)")).encode()
        self.transport.write(
            f"HTTP/1.1 {ERRORS['url_too_long']} URI Too Long\r\ncontent-type: application/json"
            f"\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self.transport.close()


def uvicorn_options(settings: Settings, host: str = "127.0.0.1", port: int = 8000
                    ) -> dict[str, Any]:
    """What `fieldguide serve` hands uvicorn (the tests' real server uses the same)."""
    return {"host": host, "port": port, "http": HttpProtocol, "loop": "uvloop",
            "h11_max_incomplete_event_size": MAX_REQUEST_HEAD, "log_level": settings.log_level,
            "timeout_graceful_shutdown": 10}


def single_threaded_numerics() -> None:
    """One thread per numeric call, in this process (already loaded libraries, through
    threadpoolctl) and in worker processes started from it (through the environment)."""
    from threadpoolctl import threadpool_limits

    if not any(os.environ.get(v) for v in NUMERIC_THREAD_VARS):
        for var in NUMERIC_THREAD_VARS:
            os.environ[var] = "1"
        threadpool_limits(limits=1)


def app_from_env() -> FastAPI:
    """The app factory uvicorn workers import (settings travel as JSON in the environment);
    ``uvicorn app.server:app_from_env --factory`` reads the ``FIELDGUIDE_*`` variables.

    Invalid settings end the process with one line on stderr, like the CLI: uvicorn would
    otherwise print pydantic's dump, which quotes the offending value (a secret, maybe)."""
    raw = os.environ.get(SETTINGS_ENV)
    try:
        settings = Settings(**json.loads(raw)) if raw else Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        print(f"fieldguide: invalid settings: {settings_error(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    return create_app(settings)


class BuildStopped(Exception):
    """SIGTERM or SIGINT arrived while the index was being built before serving."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _signals_stop_the_build() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``BuildStopped`` in the main thread for the duration: the build
    stops between two batches of the encoder (Python runs signal handlers between bytecodes,
    so within a batch, about a second), and the slices already embedded stay in the vector
    cache for the next start. Outside the main thread (a test's server) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise BuildStopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def build_missing_index(settings: Settings, stream: TextIO) -> bool:
    """Build the index before the server binds its port when there is none yet, with progress
    on ``stream`` (``app.progress``: a bar on a terminal, lines with rate and time left
    otherwise), stoppable by SIGTERM/SIGINT (``BuildStopped``). Without this the build ran in
    uvicorn's startup, silently, and uvicorn only noted the signal until it was done.

    False (nothing done) when a snapshot exists, or snapshots come from the database
    (``publish_snapshots``: the replica fetches the published one at start-up)."""
    if settings.publish_snapshots or current_version(settings.index_path) is not None:
        return False
    from app.progress import EmbedProgress
    from indexer.build import build_index

    print(f"fieldguide serve: no index in {settings.index_path} yet: building it from "
          f"{settings.content_dir} before serving (Ctrl-C or SIGTERM stops; what is embedded "
          "is kept for the next start)", file=stream, flush=True)
    with _signals_stop_the_build(), EmbedProgress(stream) as progress:
        report = build_index(settings.content_dir, settings.index_path,
                             settings.embedder(serving=False),
                             default_audience=settings.default_audience,
                             faiss_kind=settings.faiss_index, progress=progress,
                             hnsw_min_chunks=settings.faiss_hnsw_min_chunks)
    print(f"fieldguide serve: {report.summary()}", file=stream, flush=True)
    return True


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          reload_on_change: bool = False) -> int:
    """Serve until interrupted; ``reload_on_change`` reindexes when the content changes."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if reload_on_change:
        settings = settings.model_copy(update={"watch_content": True})
    common = uvicorn_options(settings, host, port)
    single_threaded_numerics()
    if workers == 1:
        uvicorn.run(create_app(settings), **common)
        return 0
    # Several processes: each imports the factory and rebuilds the app from the same settings;
    # a reindex in one worker reaches the others through the snapshot follower.
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run("app.server:app_from_env", factory=True, workers=workers, **common)
    return 0
