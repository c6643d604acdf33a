"""Failed authentication is rate-limited per client: a wrong key, token, session or signature.

Each failure takes a token from the client's bucket (``app.access.RateLimiter``:
``FIELDGUIDE_AUTH_FAILURE_BURST`` in a row, refilled at ``FIELDGUIDE_AUTH_FAILURES_PER_MINUTE``).
With the bucket empty, every request that tries to authenticate (a bearer header, a session
cookie, a sign-in, a webhook) is answered ``429`` with ``Retry-After`` before anything checks it,
so guessing keys costs a minute per few tries; anonymous reading goes on. A failure is a ``401``
answer to such a request, or a request a route marked (``app.access.auth_failed``: a session
cookie that stands for no session). A dead session cookie is also cleared in the browser.
"""

from __future__ import annotations

import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_response
from app.ratelimit import Limiter
from app.sessions import SESSION_COOKIE

ATTEMPT_PREFIXES = ("/api/hooks/", "/api/chatops/", "/signin")


def _attempt(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    if b"authorization" in headers:
        return True
    if SESSION_COOKIE.encode() in headers.get(b"cookie", b""):
        return True
    path: str = scope.get("path", "")
    return (scope.get("method") == "POST" and path.startswith(ATTEMPT_PREFIXES)) or (
        path.startswith("/signin/oidc/callback"))


class AuthGuard:
    """Pure ASGI middleware around every route."""

    def __init__(self, app: ASGIApp, limiter: Limiter, secure_cookie: bool) -> None:
        self.app = app
        self.limiter = limiter
        self.secure_cookie = secure_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _attempt(scope):
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.limiter.blocked(client)
        if wait > 0:
            response = error_response(
                "rate_limited", "too many failed sign-in attempts from this address; retry "
                "later", {"Retry-After": str(max(1, math.ceil(wait)))})
            await response(scope, receive, send)
            return
        status = 0
        state = scope.setdefault("state", {})

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if state.get("session_lost"):
                    message["headers"] = [*message.get("headers", []),
                                          (b"set-cookie", self._clear())]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if status == 401 or state.get("auth_failed"):
                self.limiter.acquire(client)

    def _clear(self) -> bytes:
        secure = "; Secure" if self.secure_cookie else ""
        return (f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax{secure}"
                .encode())
