"""The base of the links an answer carries: ``FIELDGUIDE_PUBLIC_URL``, else the request's address.

Without the setting, a result's ``url`` points where the reader's request went: the scheme
uvicorn gives the request (``X-Forwarded-Proto`` only from the proxies it trusts,
``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default), the ``Host`` the request carried (already checked
against the allowed hosts by ``app.security``, so a forged one never gets here) and the mount
path (``--root-path``). Links made with no request at hand (digests, tickets, channel posts, the
CLI) use ``Settings.public_base``.

    >>> link_base(request)  # served on :8750, FIELDGUIDE_PUBLIC_URL unset
    'http://127.0.0.1:8750'
"""

from __future__ import annotations

from starlette.requests import Request

from app.render import article_url


def link_base(request: Request) -> str:
    """Where links in the answer to ``request`` start (no trailing slash)."""
    configured: str | None = request.app.state.settings.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


def article_link(request: Request, article_id: str) -> str:
    """The absolute link to an article's page, for the answer to ``request``."""
    return link_base(request) + article_url(article_id)
