"""Rate limits shared by every replica: the per-client token buckets kept in Redis.

``app.access.RateLimiter`` keeps its buckets in the process, so N replicas behind a load balancer
allow N times the rate. With ``FIELDGUIDE_REDIS_URL`` set, ``RedisRateLimiter`` keeps each bucket
as one Redis hash and refills and takes a token in one Lua script (atomic on the server, timed by
the server's clock, so replicas' clocks do not matter). When Redis cannot be reached the limiter
falls back to an in-process bucket for ``FALLBACK_SECONDS`` and says so in the log: requests keep
being limited, per replica, instead of failing or going unlimited.

    >>> limiter = rate_limiter(settings, "search", rate=10, burst=40)
    >>> limiter.acquire("203.0.113.9")   # 0.0: go ahead; else the seconds to wait
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from app.access import RateLimiter
from app.settings import Settings

log = logging.getLogger("fieldguide.ratelimit")
FALLBACK_SECONDS = 5.0  # after a Redis failure, the local bucket serves this long before a retry
# A Redis a few hundred microseconds away answers in well under a millisecond; a limiter must
# never hold a request for long, so a Redis that does not answer quickly counts as down.
REDIS_TIMEOUT_SECONDS = 0.25

# KEYS[1]: the bucket; ARGV: rate per second, burst, 1 to take a token (0: only look).
# Returns the seconds until the bucket has a token, as a string (Lua numbers become integers).
BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(v[1]) or burst
local last = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate end
if ARGV[3] == '1' then
  if wait == 0 then tokens = tokens - 1 end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
end
return tostring(wait)
"""


class Limiter(Protocol):
    """What the search dependency and the failed-authentication guard call."""

    def acquire(self, key: str, now: float | None = None) -> float: ...

    def blocked(self, key: str, now: float | None = None) -> float: ...


class RedisRateLimiter:
    """Token buckets in Redis under ``{prefix}:rl:{name}:{client}``; same contract as
    ``RateLimiter`` (``now`` is ignored: the Redis server's clock counts)."""

    def __init__(self, url: str, name: str, rate: float, burst: int,
                 prefix: str = "fieldguide", clock: Any = time.monotonic) -> None:
        import redis

        self.rate = rate
        self.burst = burst
        self.namespace = f"{prefix}:rl:{name}:"
        self._redis = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                           socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        self._script = self._redis.register_script(BUCKET_SCRIPT)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.local = RateLimiter(rate, burst)
        self._clock = clock
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        """True while the in-process fallback serves (Redis failed recently)."""
        return bool(self._clock() < self._down_until)

    def _call(self, key: str, take: bool) -> float | None:
        if self.degraded:
            return None
        try:
            raw = self._script(keys=[self.namespace + key],
                               args=[repr(self.rate), self.burst, 1 if take else 0])
        except self._errors as exc:
            with self._lock:
                if not self.degraded:
                    # The exception's class only: its text may carry the URL with a password.
                    log.warning("Redis rate limits unavailable (%s): limiting per replica for "
                                "%.0f s", exc.__class__.__name__, FALLBACK_SECONDS)
                self._down_until = self._clock() + FALLBACK_SECONDS
            return None
        return float(raw)

    def acquire(self, key: str, now: float | None = None) -> float:
        if self.rate <= 0:
            return 0.0
        wait = self._call(key, take=True)
        return self.local.acquire(key) if wait is None else wait

    def blocked(self, key: str, now: float | None = None) -> float:
        if self.rate <= 0:
            return 0.0
        wait = self._call(key, take=False)
        return self.local.blocked(key) if wait is None else wait


def rate_limiter(settings: Settings, name: str, rate: float, burst: int) -> Limiter:
    """Redis buckets when ``FIELDGUIDE_REDIS_URL`` is set, else in-process ones (per replica)."""
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, name, rate, burst, settings.redis_prefix)
    return RateLimiter(rate, burst)
