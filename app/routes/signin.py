"""``GET /signin`` (the form), ``POST /signin`` (a key -> a session cookie), ``POST /signout``.

A pasted key is a personal key (``fieldguide keys create``), one of FIELDGUIDE_ENGINEER_KEYS or
the admin token; the session it opens lives server-side (``app.sessions``), its id in a signed
``HttpOnly`` ``SameSite=Lax`` cookie (``Secure`` over HTTPS). Both forms carry a CSRF token.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app import csrf
from app.access import auth_failed, get_caller
from app.errors import ApiError
from app.identity import Identity
from app.routes.pages import _page
from app.sessions import SESSION_COOKIE
from app.signin_view import safe_next, signed_in_body, signin_form

router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 8192


def identity_of(request: Request) -> Identity:
    identity: Identity | None = getattr(request.app.state, "identity", None)
    if identity is None:
        raise ApiError("not_ready", "the service is starting")
    return identity


def _sso(request: Request) -> bool:
    return getattr(request.app.state, "oidc", None) is not None


async def form_fields(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (no more than 8 KiB), last value wins."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise ApiError("unsupported_media_type", "send the form as "
                       "application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ApiError("payload_too_large", f"the form is over {MAX_FORM_BYTES} bytes")
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise ApiError("invalid_encoding", "the form is not UTF-8") from None
    return dict(pairs)


async def _prime(request: Request) -> None:
    """Resolve the caller off the event loop, so the page's header finds it ready."""
    with contextlib.suppress(ApiError):
        await get_caller(request)


async def form_page(request: Request, next_path: str, message: str = "", status: int = 200
                     ) -> Response:
    await _prime(request)
    response = _page(request, title="Fieldguide: sign in",
                     body=signin_form(request, next_path, message, sso=_sso(request)),
                     current="/signin")
    response.status_code = status
    return response


def session_cookie_on(response: Response, request: Request, value: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=csrf.secure_request(request), path="/")


@router.get("/signin")
async def signin_page(request: Request, next: Annotated[str, Query(max_length=2048)] = "/"
                      ) -> Response:
    caller = await get_caller(request)
    if caller.person is not None and caller.via == "session":
        return _page(request, title="Fieldguide: signed in", body=signed_in_body(request, caller),
                     current="/signin")
    return await form_page(request, safe_next(next))


@router.post("/signin")
async def signin(request: Request) -> Response:
    fields = await form_fields(request)
    next_path = safe_next(fields.get("next"))
    if not csrf.valid(request, fields.get(csrf.FIELD)):
        return await form_page(request, next_path, "This form has expired: sign in again.", 403)
    key = fields.get("key", "").strip()
    if not key:
        return await form_page(request, next_path, "Paste your personal key.", 422)
    identity = identity_of(request)
    found = await run_in_threadpool(identity.credential, key)
    if found is None:
        auth_failed(request)
        return await form_page(request, next_path, "That key is not valid (or it was revoked).", 401)
    person, credential_hash = found
    old = request.cookies.get(SESSION_COOKIE)
    cookie = await run_in_threadpool(identity.store.open, person, credential_hash)
    if old:
        await run_in_threadpool(identity.store.revoke, old)
    request.state.session_lost = False  # a fresh cookie replaces any dead one
    response = RedirectResponse(next_path, status_code=303)
    session_cookie_on(response, request, cookie, int(identity.store.lifetime.total_seconds()))
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    fields = await form_fields(request)
    if not csrf.valid(request, fields.get(csrf.FIELD)):
        return await form_page(request, "/", "This form has expired: sign out again from a fresh "
                          "page.", 403)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await run_in_threadpool(identity_of(request).store.revoke, cookie)
    request.state.session_lost = False
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=csrf.secure_request(request))
    return response
