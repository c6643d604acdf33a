"""Rate limits shared across replicas through the real Redis (FIELDGUIDE_TEST_REDIS_URL).

1. The Redis limiter keeps the in-process limiter's contract: ``burst`` requests go, the next
   waits at most ``1/rate`` seconds; ``blocked`` looks without taking.
2. Two limiters (two replicas) on one Redis share each client's bucket; other clients and other
   limit names have their own.
3. Redis unreachable: the limiter falls back to an in-process bucket (still limiting), says so in
   the log, and the log never shows the Redis URL's password.
4. Two servers on one Redis: a client's searches and its failed sign-ins count on both.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.access import RateLimiter
from app.ratelimit import Limiter, RedisRateLimiter
from indexer.embed import Embedder
from tests.api_support import ENGINEER, assert_error, client_for, settings_for

REDIS_URL = os.environ.get("FIELDGUIDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
pytestmark = pytest.mark.redis


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards (the Redis is shared)."""
    _redis_or_skip()
    import redis

    name = f"fgtest-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_same_contract_as_the_local_bucket(backend: str, prefix: str) -> None:
    limiter: Limiter = (RateLimiter(0.5, 3) if backend == "local"
                        else RedisRateLimiter(REDIS_URL, "search", 0.5, 3, prefix))
    assert limiter.blocked("10.0.0.1") == 0.0
    assert [limiter.acquire("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.blocked("10.0.0.1")
    assert 0 < wait <= 2.0
    assert 0 < limiter.acquire("10.0.0.1") <= 2.0
    assert limiter.acquire("10.0.0.2") == 0.0  # another client has its own bucket


def test_replicas_share_a_bucket(prefix: str) -> None:
    a = RedisRateLimiter(REDIS_URL, "search", 0.01, 3, prefix)
    b = RedisRateLimiter(REDIS_URL, "search", 0.01, 3, prefix)
    other = RedisRateLimiter(REDIS_URL, "auth", 0.01, 3, prefix)
    assert [a.acquire("c"), b.acquire("c"), a.acquire("c")] == [0.0, 0.0, 0.0]
    assert b.acquire("c") > 0 and a.blocked("c") > 0
    assert other.acquire("c") == 0.0
    assert not a.degraded and not b.degraded


def test_unreachable_redis_falls_back_to_local_buckets(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter("redis://:s3cret-pass@127.0.0.1:9/0", "search", 0.01, 2)
    with caplog.at_level(logging.WARNING, logger="fieldguide.ratelimit"):
        codes = [limiter.acquire("c") for _ in range(3)]
    assert codes[:2] == [0.0, 0.0] and codes[2] > 0  # still limited, by this replica alone
    assert limiter.degraded
    assert "limiting per replica" in caplog.text
    assert "s3cret" not in caplog.text
    assert len(caplog.records) == 1  # said once per outage, not per request


def test_two_servers_share_search_and_sign_in_limits(prefix: str, tmp_path: Path,
                                                     kb_index: Path, embedder: Embedder) -> None:
    shared = {"redis_url": REDIS_URL, "redis_prefix": prefix, "rate_limit_per_second": 0.01,
              "rate_limit_burst": 3, "auth_failure_burst": 2, "auth_failures_per_minute": 0.1}
    with client_for(settings_for(tmp_path / "a", kb_index, **shared), embedder) as a, \
            client_for(settings_for(tmp_path / "b", kb_index, **shared), embedder) as b:
        q = {"q": "vpn"}
        assert [c.get("/api/search", params=q).status_code for c in (a, b, a)] == [200] * 3
        assert_error(b.get("/api/search", params=q), 429, "rate_limited")
        assert_error(a.get("/api/search", params=q), 429, "rate_limited")

        wrong = {"Authorization": "Bearer fgk_wrong-key-000"}
        assert_error(a.get("/api/articles/vpn-gateway-unreachable", headers=wrong), 401)
        assert_error(b.get("/api/articles/vpn-gateway-unreachable", headers=wrong), 401)
        # The budget is spent on both replicas: even the right key waits, on either.
        assert_error(a.get("/api/articles/vpn-gateway-unreachable", headers=ENGINEER), 429)
        assert_error(b.get("/api/articles/vpn-gateway-unreachable", headers=ENGINEER), 429)
        assert b.get("/api/articles/vpn-gateway-unreachable").status_code == 200
