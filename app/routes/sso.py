"""``GET /signin/oidc`` (off to the identity provider) and ``GET /signin/oidc/callback``.

Both answer 404 when single sign-on is not configured. A failed sign-on is the sign-in page
with the reason (401, counted as a failed authentication), never an error page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.access import auth_failed
from app.errors import ApiError
from app.models import utcnow
from app.oidc import SignOnError, SingleSignOn
from app.routes.signin import form_page, identity_of, session_cookie_on
from app.sessions import SESSION_COOKIE
from app.signin_view import safe_next

router = APIRouter(include_in_schema=False)


def _sso(request: Request) -> SingleSignOn:
    sso: SingleSignOn | None = getattr(request.app.state, "oidc", None)
    if sso is None:
        raise ApiError("not_found", "single sign-on is not configured")
    return sso


@router.get("/signin/oidc")
async def start(request: Request, next: Annotated[str, Query(max_length=2048)] = "/"
                ) -> Response:
    sso = _sso(request)
    try:
        return await sso.redirect(request, safe_next(next))
    except SignOnError as exc:
        return await form_page(request, safe_next(next), str(exc), 503)


@router.get("/signin/oidc/callback")
async def callback(request: Request) -> Response:
    sso = _sso(request)
    next_path = safe_next(request.session.get("next"))
    try:
        done = await sso.finish(request)
    except SignOnError as exc:
        auth_failed(request)
        return await form_page(request, next_path, f"Single sign-on failed: {exc}.", 401)
    request.session.clear()
    identity = identity_of(request)
    old = request.cookies.get(SESSION_COOKIE)
    cookie = await run_in_threadpool(identity.store.open, done.person, None, None, done.expires,
                                     done.grant)
    if old:
        await run_in_threadpool(identity.store.revoke, old)
    request.state.session_lost = False
    response = RedirectResponse(next_path, status_code=303)
    now = utcnow()
    lifetime = (identity.store.ends_at(now, done.expires, done.grant) - now).total_seconds()
    session_cookie_on(response, request, cookie, max(1, int(lifetime)))
    return response
