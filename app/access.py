"""Who is calling: anonymous, a person (a personal key, a session cookie, an engineer key, the
admin token); and per-client rate limits.

Anonymous callers only ever see ``end-user`` articles; ``Caller.audiences`` is the only thing
routes use to decide what a caller sees. A request carries either ``Authorization: Bearer`` or
the session cookie (``app.sessions``); a bad bearer is a 401, a bad cookie is anonymous (with
``session_lost`` set, so pages can offer to sign in again). Either failure counts against the
client's failed-authentication budget (``app.abuse``).

A cookie is a browser's ambient credential: on a state-changing request from another origin
(``Origin`` or ``Sec-Fetch-Site`` say so) it is ignored, so a cross-site form or script acts
anonymously; forms of our own carry a CSRF token as well (``app.routes.signin``).
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app.errors import ApiError
from app.identity import Identity, static_credential
from app.people import KEY_PREFIX, Person, Role
from app.sessions import SESSION_COOKIE
from app.settings import Settings
from indexer.article import BUILTIN_AUDIENCES, STAFF, Audience

ANONYMOUS = frozenset({Audience.END_USER})
EVERYONE = STAFF  # what an engineer reads (an added audience such as security is granted apart)
_BEARER = {"WWW-Authenticate": "Bearer"}


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """``person``: who is signed in or owns the key (None: anonymous). ``via``: ``bearer``,
    ``session`` or ``anonymous``."""

    engineer: bool
    client: str
    person: Person | None = None
    via: str = "anonymous"
    session_lost: bool = False  # a session cookie came but stands for no live session
    granted: frozenset[Audience] = ANONYMOUS  # a person's audiences, within the vocabulary

    @classmethod
    def of(cls, person: Person, client: str, via: str,
           vocabulary: Collection[Audience] = BUILTIN_AUDIENCES) -> Caller:
        """An admin reads every audience of ``vocabulary`` (FIELDGUIDE_AUDIENCES); anyone else
        what their role, groups or key give, less any audience no longer in the vocabulary."""
        known = frozenset(vocabulary)
        granted = known if person.role is Role.ADMIN else person.audiences & known
        granted |= ANONYMOUS
        return cls(Audience.ENGINEER in granted, client, person, via, granted=granted)

    @property
    def audiences(self) -> frozenset[Audience]:
        if self.person is not None:
            return self.granted
        return EVERYONE if self.engineer else ANONYMOUS

    @property
    def admin(self) -> bool:
        return self.person is not None and self.person.role is Role.ADMIN

    @property
    def label(self) -> str:
        return "engineer" if self.engineer else "anonymous"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("invalid_api_key", "use 'Authorization: Bearer <key>'", _BEARER)
    return token.strip()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def auth_failed(request: Request) -> None:
    """Count this request against the client's failed-authentication budget (``app.abuse``)."""
    request.state.auth_failed = True


def cross_origin(request: Request) -> bool:
    """A state-changing browser request sent from another origin (or another site)."""
    if request.method in SAFE_METHODS:
        return False
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False  # not a browser's cross-origin request: they always send Origin
    own = {str(request.base_url).rstrip("/").lower()}
    settings: Settings = request.app.state.settings
    own.add(settings.public_base.lower())
    return origin.rstrip("/").lower() not in own


def _vocabulary(request: Request) -> tuple[Audience, ...]:
    settings: Settings = request.app.state.settings
    return settings.audience_vocabulary


def _identity(request: Request) -> Identity | None:
    return getattr(request.app.state, "identity", None)


def person_for_token(request: Request, token: str) -> Person | None:
    identity = _identity(request)
    if identity is not None:
        return identity.bearer(token)
    found = static_credential(request.app.state.settings, token)  # before startup
    return None if found is None else found[0]


def session_cookie(request: Request) -> str | None:
    """The session cookie, unless a cross-origin state-changing request carries it."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or cross_origin(request):
        return None
    return cookie


def caller_of(request: Request) -> Caller:
    """Who sent ``request``; ``invalid_api_key`` for a malformed header or an unknown key.

    May read the database (personal keys, sessions): async code calls ``get_caller``."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    client = client_ip(request)
    token = _bearer(request)
    if token is not None:
        person = person_for_token(request, token)
        if person is None:
            auth_failed(request)
            raise ApiError("invalid_api_key", "the API key is not valid", _BEARER)
        caller = Caller.of(person, client, "bearer", _vocabulary(request))
    else:
        cookie = session_cookie(request)
        identity = _identity(request)
        person = identity.session(cookie) if cookie and identity is not None else None
        if person is not None:
            caller = Caller.of(person, client, "session", _vocabulary(request))
        else:
            caller = Caller(engineer=False, client=client, session_lost=bool(cookie))
            if cookie:
                auth_failed(request)
                request.state.session_lost = True
    request.state.caller = caller
    return caller


def _needs_database(request: Request) -> bool:
    header = request.headers.get("authorization", "")
    return (header.partition(" ")[2].strip().startswith(KEY_PREFIX)
            or SESSION_COOKIE in request.cookies)


async def get_caller(request: Request) -> Caller:
    # Anonymous callers and the in-memory keys stay on the event loop; a personal key or a
    # session is a database read, which goes to the thread pool.
    if _needs_database(request):
        return await run_in_threadpool(caller_of, request)
    return caller_of(request)


# The dependencies are async because they only compute: a sync dependency would cost each
# request a trip to the thread pool and back.
async def require_admin(request: Request) -> None:
    """The admin token, an admin's personal key, or an admin's session."""
    settings: Settings = request.app.state.settings
    if not settings.admin_token:
        raise ApiError("admin_disabled",
                       "admin routes are disabled: set FIELDGUIDE_ADMIN_TOKEN to enable them")
    header = request.headers.get("authorization")
    if header is None:
        if SESSION_COOKIE in request.cookies and (await get_caller(request)).admin:
            return
        raise ApiError("unauthorized", "admin token required: 'Authorization: Bearer <token>'",
                       _BEARER)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(),
                                                          settings.admin_token.encode()):
        return
    if scheme.lower() == "bearer" and token.startswith(KEY_PREFIX):
        person = await run_in_threadpool(person_for_token, request, token)
        if person is not None and person.role is Role.ADMIN:
            return
    auth_failed(request)
    raise ApiError("forbidden", "the admin token is not valid")


class RateLimiter:
    """A token bucket per client key; remembers at most ``max_clients`` recent clients."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float, take: bool) -> float:
        """The seconds until ``key`` has a token; with ``take``, one is taken if there is one.
        Call with the lock held."""
        tokens, last = (self._buckets.pop if take else self._buckets.get)(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
        if take:
            self._buckets[key] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait

    def blocked(self, key: str, now: float | None = None) -> float:
        """Like ``acquire`` but takes nothing: the seconds until ``key`` has a token again."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            return self._tokens(key, time.monotonic() if now is None else now, take=False)

    def acquire(self, key: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            return self._tokens(key, time.monotonic() if now is None else now, take=True)


async def rate_limit(request: Request) -> None:
    """Dependency for search and chat: 429 with ``Retry-After`` when the bucket is empty."""
    limiter = request.app.state.rate_limiter  # app.ratelimit: in-process or Redis
    wait = limiter.acquire(client_ip(request))
    if wait > 0:
        raise ApiError("rate_limited", "too many requests; retry later",
                       {"Retry-After": str(max(1, math.ceil(wait)))})


CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[None, Depends(require_admin)]
RateLimitDep = Annotated[None, Depends(rate_limit)]
