"""Who is calling: anonymous, engineer (API key) or admin (token); and per-client rate limits.

Anonymous callers only ever see ``end-user`` articles. Engineer keys are kept as sha256 hashes
(``app.settings.hash_key``) and compared in constant time.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.errors import ApiError
from app.settings import Settings, hash_key
from indexer.article import Audience

ANONYMOUS = frozenset({Audience.END_USER})
EVERYONE = frozenset(Audience)
_BEARER = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Caller:
    engineer: bool
    client: str

    @property
    def audiences(self) -> frozenset[Audience]:
        return EVERYONE if self.engineer else ANONYMOUS

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


def is_engineer_key(settings: Settings, token: str) -> bool:
    hashed = hash_key(token)
    # Compare against every key, no early exit, so timing says nothing about which one matched.
    found = False
    for key in settings.engineer_keys:
        found |= hmac.compare_digest(hashed, key)
    if settings.admin_token:
        found |= hmac.compare_digest(token.encode(), settings.admin_token.encode())
    return found


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def caller_of(request: Request) -> Caller:
    """Who sent ``request``; ``invalid_api_key`` for a malformed header or an unknown key."""
    settings: Settings = request.app.state.settings
    token = _bearer(request)
    if token is None:
        return Caller(engineer=False, client=client_ip(request))
    if not is_engineer_key(settings, token):
        raise ApiError("invalid_api_key", "the API key is not valid", _BEARER)
    return Caller(engineer=True, client=client_ip(request))


async def get_caller(request: Request) -> Caller:
    return caller_of(request)


# The dependencies are async because they only compute: a sync dependency would cost each
# request a trip to the thread pool and back.
async def require_admin(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if not settings.admin_token:
        raise ApiError("admin_disabled",
                       "admin routes are disabled: set FIELDGUIDE_ADMIN_TOKEN to enable them")
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError("unauthorized", "admin token required: 'Authorization: Bearer <token>'",
                       _BEARER)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.admin_token.encode()):
        raise ApiError("forbidden", "the admin token is not valid")


class RateLimiter:
    """A token bucket per client key; remembers at most ``max_clients`` recent clients."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait


async def rate_limit(request: Request) -> None:
    """Dependency for search and chat: 429 with ``Retry-After`` when the bucket is empty."""
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(client_ip(request))
    if wait > 0:
        raise ApiError("rate_limited", "too many requests; retry later",
                       {"Retry-After": str(max(1, math.ceil(wait)))})


CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[None, Depends(require_admin)]
RateLimitDep = Annotated[None, Depends(rate_limit)]
