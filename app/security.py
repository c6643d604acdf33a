"""One security-headers policy for every response, and the Host check.

Every answer carries ``X-Content-Type-Options: nosniff`` and a referrer policy. An HTML answer
without its own ``Content-Security-Policy`` gets a deny-all one (the interactive API docs get
one that admits only the CDN they load from); every HTML answer that does not say otherwise may
not be framed (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``).

A request whose ``Host`` is not one of the allowed hosts is refused with ``400 bad_host`` before
any route runs: the pages put the request's own origin into script URLs and redirects, so a
forged ``Host`` must never reach them. Allowed: ``FIELDGUIDE_ALLOWED_HOSTS``, else the public
URL's host and the loopback names (``*`` admits every host, behind a proxy that checks it).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ERRORS

LOOPBACK = ("localhost", "127.0.0.1", "::1")
DENY_ALL_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
# FastAPI's Swagger UI and ReDoc pages: their scripts and styles come from jsDelivr, with one
# inline bootstrap script; nothing else may load, and they may not be framed.
DOCS_CSP = ("default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
            "style-src https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
            "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
            "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")


def allowed_hosts(configured: Iterable[str], public_url: str | None) -> frozenset[str]:
    """The host names a request may name (lowercase, without port); ``*`` means any."""
    hosts = {h.strip().lower() for h in configured if h.strip()}
    if hosts:
        return frozenset(hosts)
    found = set(LOOPBACK)
    if public_url:
        name = urllib.parse.urlsplit(public_url).hostname
        if name:
            found.add(name.lower())
    return frozenset(found)


def host_name(header: str) -> str:
    """``Host`` without its port (``[::1]:8000`` -> ``::1``)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class SecurityHeaders:
    """Pure ASGI middleware (streaming and background tasks are untouched)."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "*" not in self.hosts:
            raw = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(raw) not in self.hosts:
                await _refuse_host(send)
                return
        docs = scope.get("path", "") in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secure(list(message.get("headers", [])), docs)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure(headers: list[tuple[bytes, bytes]], docs: bool) -> list[tuple[bytes, bytes]]:
    names = {k.lower() for k, _ in headers}
    if b"x-content-type-options" not in names:
        headers.append((b"x-content-type-options", b"nosniff"))
    if b"referrer-policy" not in names:
        headers.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
    kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if kind.startswith(b"text/html"):
        csp = next((v for k, v in headers if k.lower() == b"content-security-policy"), None)
        if csp is None:
            csp = (DOCS_CSP if docs else DENY_ALL_CSP).encode()
            headers.append((b"content-security-policy", csp))
        if b"frame-ancestors 'none'" in csp and b"x-frame-options" not in names:
            headers.append((b"x-frame-options", b"DENY"))
    return headers


async def _refuse_host(send: Send) -> None:
    body = json.dumps({"error": {"code": "bad_host", "message": (
        "this server does not answer for that Host; set FIELDGUIDE_PUBLIC_URL to the address "
        "people use, or list the host in FIELDGUIDE_ALLOWED_HOSTS")}}).encode()
    await send({"type": "http.response.start", "status": ERRORS["bad_host"], "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})
