"""``fieldguide serve``: run the app under uvicorn, one process or several workers."""

from __future__ import annotations

import json
import os
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import ERRORS, error_body
from app.main import create_app
from app.settings import Settings

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
    """The app factory uvicorn workers import (settings travel as JSON in the environment)."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings(**json.loads(raw)) if raw else Settings()
    return create_app(settings)


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
