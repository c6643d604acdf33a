"""Helpers for the alert-intake tests: a real local HTTP server standing in for the Slack and
Teams webhooks, a free port, and the service run by uvicorn in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from fastapi import FastAPI

TOKEN = "alerts-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival


@dataclass
class ChannelReceiver:
    """What a webhook received, in order. ``down``: answer 503 (a channel that is away)."""

    url: str
    posts: list[Received] = field(default_factory=list)
    down: bool = False
    refused: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def record(self, path: str, body: dict[str, Any]) -> bool:
        with self._cond:
            if self.down:
                self.refused += 1
                return False
            self.posts.append(Received(path, body, time.monotonic()))
            self._cond.notify_all()
            return True

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """At least ``count`` posts (AssertionError after ``timeout``)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.posts) >= count, timeout)
            assert ok, f"{len(self.posts)} post(s) arrived, expected {count}: {self.texts()}"
            return list(self.posts)

    def texts(self) -> list[str]:
        return [p.body.get("text") or p.body.get("title") or "" for p in self.posts]


@contextmanager
def channel_receiver() -> Iterator[ChannelReceiver]:
    port = free_port()
    receiver = ChannelReceiver(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            ok = receiver.record(self.path, body)
            self.send_response(200 if ok else 503)
            self.end_headers()
            self.wfile.write(b"ok" if ok else b"channel is down")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free port, in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during startup"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
