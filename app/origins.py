"""Say on the server when a wiki that is not allowed calls the API from a browser.

A page of another origin missing from ``FIELDGUIDE_CORS_ORIGINS`` gets answers its browser
refuses to hand over (no ``Access-Control-Allow-Origin``): the widget then tells its reader that
the site is not allowed to use this knowledge base, and this logs, for the operator, the origin
and the setting to change. One line per origin per ``LOG_EVERY_S`` (a busy wiki must not fill
the log), for at most ``MAX_ORIGINS`` origins at a time.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("fieldguide.cors")

LOG_EVERY_S = 600.0
MAX_ORIGINS = 256


def _norm(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class RateLimitedLog:
    """``should(key)`` is True at most once per ``every`` seconds per key (bounded memory)."""

    def __init__(self, every: float = LOG_EVERY_S, size: int = MAX_ORIGINS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.size = size
        self.clock = clock
        self._last: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def should(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every:
                return False
            self._last[key] = now
            self._last.move_to_end(key)
            while len(self._last) > self.size:
                self._last.popitem(last=False)
            return True


class RefusedOriginLog:
    """Pure ASGI middleware: watches ``/api/`` requests' ``Origin``; changes nothing."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str], own: str,
                 limiter: RateLimitedLog | None = None) -> None:
        self.app = app
        self.allowed = frozenset(_norm(o) for o in allowed)
        parts = urllib.parse.urlsplit(own)  # FIELDGUIDE_PUBLIC_URL (or the default): its origin
        self.own = _norm(f"{parts.scheme}://{parts.netloc}")
        self.limiter = limiter or RateLimitedLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/api/") \
                and "*" not in self.allowed:
            headers = dict(scope["headers"])
            raw = headers.get(b"origin")
            if raw is not None:
                origin = _norm(raw.decode("latin-1"))
                host = headers.get(b"host", b"").decode("latin-1").lower()
                mine = {self.own, f"{scope.get('scheme', 'http')}://{host}"}
                if origin not in self.allowed and origin not in mine \
                        and self.limiter.should(origin):
                    # %r: an Origin header is the caller's text; it never breaks the line.
                    log.warning("a web page at %r called %s, but that origin is not in "
                                "FIELDGUIDE_CORS_ORIGINS, so its browser blocks the answers "
                                "(its widget says the site is not allowed): add it to "
                                "FIELDGUIDE_CORS_ORIGINS (comma-separated) to allow it",
                                origin[:200], scope.get("path", ""))
        await self.app(scope, receive, send)


class HeadAsGet:
    """Pure ASGI middleware: ``HEAD`` on a page answers like ``GET``, without the body.

    FastAPI routes answer only the methods they declare, so ``HEAD /`` (monitors, link
    checkers, ``curl -I``) was a 405. The JSON API keeps its documented methods
    (``/openapi.json`` is its contract); pages and their assets are HTTP resources."""

    API_PREFIXES = ("/api/", "/healthz", "/readyz", "/openapi.json", "/docs", "/redoc")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD" \
                or scope.get("path", "").startswith(self.API_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the rest of the body is dropped; the final message ends it
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
