"""CSRF protection for our own forms (sign in, sign out): a signed double-submit token.

A page with a form sets the cookie ``fieldguide_csrf`` (random, HttpOnly, SameSite=Strict) and
puts the cookie's HMAC under the session secret in a hidden ``csrf`` field; a POST is accepted
only when the field is the HMAC of the cookie it came with, and its ``Origin`` (when the browser
sends one) is ours. Another site can neither read the cookie nor compute the field; one that
can plant a cookie (a sibling subdomain) still cannot compute the field for it.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from app.access import cross_origin
from app.identity import Identity
from app.sessions import CSRF_COOKIE

FIELD = "csrf"


def _identity(request: Request) -> Identity | None:
    return getattr(request.app.state, "identity", None)


def secure_request(request: Request) -> bool:
    """Cookies get ``Secure`` when the service is reached over HTTPS (directly, or behind a
    proxy that says so and that uvicorn trusts, or by the configured public URL)."""
    return request.url.scheme == "https" or request.app.state.settings.public_base.startswith("https://")


def token_for(request: Request) -> str:
    """The hidden field's value for a form on this page (``attach`` then sets the cookie on
    the response when the browser had none)."""
    identity = _identity(request)
    if identity is None:
        return ""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not (16 <= len(cookie) <= 64 and cookie.isascii()):
        cookie = getattr(request.state, "csrf_new", None) or secrets.token_urlsafe(24)
        request.state.csrf_new = cookie
    return identity.store.signer.sign(cookie, "csrf").rpartition(".")[2]


def attach(request: Request, response: Response) -> Response:
    cookie = getattr(request.state, "csrf_new", None)
    if cookie:
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict",
                            secure=secure_request(request), path="/")
    return response


def valid(request: Request, field: str | None) -> bool:
    identity = _identity(request)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if identity is None or not cookie or not field or cross_origin(request):
        return False
    expected = identity.store.signer.sign(cookie, "csrf").rpartition(".")[2]
    return hmac.compare_digest(expected.encode(), field.encode())
