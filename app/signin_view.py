"""The sign-in HTML pieces: who is signed in (the header element every page shows), the forms.

Everything interpolated is escaped; forms carry the CSRF field (``app.csrf``).
"""

from __future__ import annotations

import html
import urllib.parse

from fastapi import Request

from app import csrf
from app.access import Caller, caller_of
from app.errors import ApiError


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def safe_next(value: str | None) -> str:
    """A local path to go back to after signing in; anything else (another host, ``//x``,
    a scheme, a backslash) becomes ``/``."""
    if not value or len(value) > 2048 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 32 for c in value):
        return "/"
    parts = urllib.parse.urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


def signin_href(request: Request, next_path: str | None = None) -> str:
    here = next_path if next_path is not None else request.url.path + (
        f"?{request.url.query}" if request.url.query else "")
    return "/signin?" + urllib.parse.urlencode({"next": safe_next(here)})


def page_caller(request: Request) -> Caller | None:
    """The caller of a page request; None when its credentials are refused (a page shows the
    sign-in link then rather than an error)."""
    try:
        return caller_of(request)
    except ApiError:
        return None


def signout_form(request: Request) -> str:
    return ('<form class="signout" method="post" action="/signout">'
            f'<input type="hidden" name="csrf" value="{_e(csrf.token_for(request))}">'
            '<button type="submit">Sign out</button></form>')


def who(request: Request, caller: Caller | None) -> str:
    """The header element: who is signed in and what they may see, or a sign-in link."""
    if caller is None or caller.person is None:
        lost = caller is not None and caller.session_lost
        note = ('<span class="who-note">Your session has ended.</span> ' if lost else "")
        return (f'<div class="who" data-signed-in="false">{note}'
                f'<a class="signin" href="{_e(signin_href(request))}">Sign in</a></div>')
    person = caller.person
    sees = ", ".join(sorted(a.value for a in caller.audiences))
    return (f'<div class="who" data-signed-in="true" data-role="{_e(person.role.value)}">'
            f'<span class="who-name" title="{_e(person.email or "")}">{_e(person.name)}</span> '
            f'<span class="who-role">{_e(person.role.value)}</span> '
            f'<span class="who-sees">sees {_e(sees)}</span>{signout_form(request)}</div>')


def signin_form(request: Request, next_path: str, message: str = "", sso: bool = False) -> str:
    note = f'<p class="error" role="alert">{_e(message)}</p>' if message else ""
    button = (f'<p><a class="sso" href="/signin/oidc?{_e(urllib.parse.urlencode({"next": next_path}))}">'
              'Sign in with single sign-on</a></p><p class="or">or paste a personal key</p>'
              if sso else "")
    return (f'<h1>Sign in</h1>{note}{button}'
            '<form class="signin" method="post" action="/signin" autocomplete="off">'
            f'<input type="hidden" name="csrf" value="{_e(csrf.token_for(request))}">'
            f'<input type="hidden" name="next" value="{_e(next_path)}">'
            '<label for="fg-key">Personal API key</label>'
            '<input id="fg-key" type="password" name="key" required maxlength="256" '
            'placeholder="fgk_…">'
            '<button type="submit">Sign in</button></form>'
            '<p class="lede">Ask an administrator for a key (<code>fieldguide keys create</code>). '
            'Signed in, you see what your role may read.</p>')


def signed_in_body(request: Request, caller: Caller) -> str:
    assert caller.person is not None
    return (f'<h1>Signed in</h1><p>You are signed in as {_e(caller.person.label)} '
            f'({_e(caller.person.role.value)}).</p>{signout_form(request)}'
            '<p><a href="/">Search the knowledge base</a></p>')
