"""Single sign-on sessions refreshed from the real provider (tests/oidc_provider.py).

Properties proved, on SQLite and PostgreSQL, with FIELDGUIDE_SESSION_REFRESH_SECONDS=1:
1. A group removed at the provider narrows access at the first request after the interval:
   the refresh_token grant (rotated) and the userinfo endpoint give the new groups, stored.
2. A user disabled at the provider (every token revoked): the refresh is invalid_grant and the
   session ends: anonymous with the sign-in prompt, the stored tokens dropped.
3. The provider down: the last confirmed groups stand within the grace, one log line without
   a secret, never a 500; past the grace the session ends. A provider that accepts and never
   answers is ``ProviderUnreachable`` after the timeout, not a hang.
4. Requests racing on a due session, through two replicas' stores, make one refresh (the
   provider's token endpoint counts one refresh_token grant).
5. Signing out drops the tokens the session kept.
6. A provider that issues no refresh token: the session is bounded by the ID token, and the
   access token still asks userinfo at each interval. One without a userinfo endpoint: the
   session keeps no tokens and is bounded by the ID token, as before the refresh existed.
7. The interval and grace are checked at start, naming the setting.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.db import make_engine, session_factory
from app.identity import Identity
from app.people import Person
from app.session_refresh import GroupRefresher, ProviderGrant, ProviderUnreachable
from app.sessions import SESSION_COOKIE, WebSessionRow
from app.settings import Settings, settings_error
from indexer.embed import Embedder
from tests.api_support import assert_error, client_for
from tests.test_signin import csrf_of
from tests.test_sso import (  # noqa: F401 - provider is a fixture
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET_ID,
    provider,
    running_provider,
    sign_on,
    sso_settings,
)

INTERVAL = 1  # seconds: FIELDGUIDE_SESSION_REFRESH_SECONDS in these tests
PAST_INTERVAL = INTERVAL + 0.2


def hits(issuer: str) -> dict[str, int]:
    found: dict[str, int] = httpx.get(f"{issuer}/_test/hits", timeout=10).json()
    return found


def set_groups(issuer: str, user: str, groups: list[str]) -> None:
    assert httpx.post(f"{issuer}/_test/groups/{user}", json=groups, timeout=10).status_code == 200


def session_row(client: TestClient) -> WebSessionRow:
    with client.app.state.services.sessions() as db:  # type: ignore[attr-defined]
        return db.scalars(select(WebSessionRow).where(WebSessionRow.source == "oidc")
                          .order_by(WebSessionRow.created_at.desc())).first()


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@pytest.fixture
def client(tmp_path: Path, kb_index: Path, embedder: Embedder,
           provider: str, db_url: str) -> Iterator[TestClient]:  # noqa: F811
    settings = sso_settings(tmp_path, kb_index, provider, database_url=db_url,
                            session_refresh_seconds=INTERVAL, auth_failure_burst=100)
    with client_for(settings, embedder) as c:
        yield c


def test_removed_group_narrows_access_after_the_interval(
        client: TestClient, provider: str) -> None:  # noqa: F811
    set_groups(provider, "dora", ["kb-engineers", "other"])
    assert sign_on(client, "dora").status_code == 303
    first = session_row(client).provider_tokens
    assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
    set_groups(provider, "dora", ["other"])
    try:
        before = hits(provider)
        time.sleep(PAST_INTERVAL)
        assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)
        assert 'data-role="reader"' in client.get("/").text  # still signed in, as a reader
        after = hits(provider)
        assert after.get("refresh_token", 0) >= before.get("refresh_token", 0) + 1
        assert after.get("userinfo", 0) >= before.get("userinfo", 0) + 1
        row = session_row(client)
        assert row.groups == ["other"] and row.role == "reader" and row.revoked_at is None
        assert row.provider_tokens != first  # the rotated refresh token replaced the old one
        # Given back, the group counts again at the next refresh.
        set_groups(provider, "dora", ["kb-engineers", "other"])
        time.sleep(PAST_INTERVAL)
        assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
        # Signed out, the row keeps nothing to ask the provider with.
        signout = client.post("/signout", data={"csrf": csrf_of(client.get("/").text)},
                              follow_redirects=False)
        assert signout.status_code == 303
        assert session_row(client).provider_tokens is None
    finally:
        set_groups(provider, "dora", ["kb-engineers", "other"])


def test_a_disabled_user_s_session_ends(
        client: TestClient, provider: str,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    assert sign_on(client, "carol").status_code == 303
    assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
    issued = httpx.get(f"{provider}/_test/tokens/carol", timeout=10).json()
    assert httpx.post(f"{provider}/_test/disable/carol", timeout=10).status_code == 200
    try:
        time.sleep(PAST_INTERVAL)
        with caplog.at_level(logging.INFO, logger="fieldguide.sessions"):
            html = client.get("/").text
        assert "Your session has ended" in html and 'data-signed-in="false"' in html
        assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)
        row = session_row(client)
        assert row.revoked_at is not None and row.provider_tokens is None
        assert "refused its refresh (invalid_grant)" in caplog.text
        for secret in (issued["refresh_token"], issued["access_token"], CLIENT_SECRET):
            assert secret not in caplog.text
    finally:
        httpx.post(f"{provider}/_test/enable/carol", timeout=10)


def test_requests_racing_on_a_due_session_make_one_refresh(
        client: TestClient, provider: str, db_url: str) -> None:  # noqa: F811
    set_groups(provider, "dora", ["kb-engineers", "other"])
    assert sign_on(client, "dora").status_code == 303
    cookie = client.cookies[SESSION_COOKIE]
    # Two replicas, each its own engine and store over the one database, with the default
    # interval (300 s: no second refresh is due however long the threads take); the refresh is
    # made due by the clock in the row.
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    settings = settings.model_copy(update={"session_refresh_seconds": 300})
    engines = [make_engine(db_url), make_engine(db_url)]
    try:
        one, two = (Identity.build(settings, session_factory(e)) for e in engines)
        with client.app.state.services.sessions.begin() as db:  # type: ignore[attr-defined]
            db.execute(update(WebSessionRow).values(
                refresh_due_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        before = hits(provider).get("refresh_token", 0)
        start = threading.Barrier(8)
        seen: list[Person | None] = []

        def request(identity: Identity) -> None:
            start.wait()
            seen.append(identity.session(cookie))

        threads = [threading.Thread(target=request, args=(one if i % 2 else two,))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(seen) == 8 and all(p is not None and p.role.value == "engineer" for p in seen)
        assert hits(provider).get("refresh_token", 0) == before + 1
    finally:
        for e in engines:
            e.dispose()


def test_an_unreachable_provider_keeps_the_groups_for_the_grace(
        tmp_path: Path, kb_index: Path, embedder: Embedder, db_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    with running_provider(tmp_path) as (issuer, proc):
        settings = sso_settings(tmp_path, kb_index, issuer, database_url=db_url,
                                session_refresh_seconds=INTERVAL, auth_failure_burst=100)
        with client_for(settings, embedder) as client:
            assert sign_on(client, "alice").status_code == 303
            issued = httpx.get(f"{issuer}/_test/tokens/alice", timeout=10).json()
            proc.terminate()
            proc.wait(timeout=10)
            time.sleep(PAST_INTERVAL)
            with caplog.at_level(logging.INFO, logger="fieldguide.sessions"):
                assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
            lines = [r for r in caplog.records
                     if "unreachable for a session refresh" in r.getMessage()]
            assert len(lines) == 1 and lines[0].levelno == logging.WARNING
            for secret in (issued["refresh_token"], issued["access_token"], CLIENT_SECRET):
                assert secret not in caplog.text
            row = session_row(client)
            assert row.revoked_at is None and row.groups == ["kb-engineers"]
            # Past the grace (900 s by default) the last confirmed groups no longer stand.
            long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2000)
            with client.app.state.services.sessions.begin() as db:  # type: ignore[attr-defined]
                db.execute(update(WebSessionRow).values(groups_confirmed_at=long_ago,
                                                        refresh_due_at=long_ago))
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="fieldguide.sessions"):
                html = client.get("/")
            assert html.status_code == 200 and "Your session has ended" in html.text
            assert "has not answered since" in caplog.text
            assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)


def test_a_provider_that_never_answers_is_unreachable_not_a_hang() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog) and says nothing
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        issuer = f"http://127.0.0.1:{listener.getsockname()[1]}"
        refresher = GroupRefresher(issuer, CLIENT_ID, CLIENT_SECRET, "groups", timeout=0.5)
        with pytest.raises(ProviderUnreachable) as info:
            refresher.ask(ProviderGrant("alice", refresh_token="rt-never-sent-anywhere"))
        assert "rt-never" not in str(info.value)


@pytest.fixture(scope="module")
def no_refresh_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_provider(tmp_path_factory.mktemp("oidc-norefresh"),
                          refresh_tokens=False) as (issuer, _proc):
        yield issuer


def test_without_a_refresh_token_the_access_token_asks_userinfo(
        tmp_path: Path, kb_index: Path, embedder: Embedder, no_refresh_provider: str) -> None:
    issuer = no_refresh_provider
    settings = sso_settings(tmp_path, kb_index, issuer, session_refresh_seconds=INTERVAL)
    with client_for(settings, embedder) as client:
        assert sign_on(client, "alice").status_code == 303
        row = session_row(client)
        # No refresh token: the session lasts no longer than the ID token (the provider's 300 s).
        assert aware(row.expires_at) - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=300)
        assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
        set_groups(issuer, "alice", [])
        before = hits(issuer)
        time.sleep(PAST_INTERVAL)
        assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)
        after = hits(issuer)
        assert after.get("refresh_token", 0) == before.get("refresh_token", 0) == 0
        assert after.get("userinfo", 0) >= before.get("userinfo", 0) + 1


def test_userinfo_without_the_groups_claim_keeps_the_session_s_groups(
        tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    """A provider that puts groups in the ID token only (userinfo without the claim): a refresh
    confirms the person and keeps the groups of the sign-in; it never makes everyone a reader."""
    with running_provider(tmp_path, userinfo_groups=False) as (issuer, _proc):
        settings = sso_settings(tmp_path, kb_index, issuer, session_refresh_seconds=INTERVAL)
        with client_for(settings, embedder) as client:
            assert sign_on(client, "alice").status_code == 303
            assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
            before = hits(issuer)
            time.sleep(PAST_INTERVAL)
            assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
            assert hits(issuer).get("userinfo", 0) >= before.get("userinfo", 0) + 1
            row = session_row(client)
            assert row.role == "engineer" and row.revoked_at is None
            assert aware(row.groups_confirmed_at) > aware(row.created_at)


def test_without_a_userinfo_endpoint_the_session_is_bounded_by_the_id_token(
        tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    with running_provider(tmp_path, userinfo=False) as (issuer, _proc):
        settings = sso_settings(tmp_path, kb_index, issuer, session_refresh_seconds=INTERVAL)
        with client_for(settings, embedder) as client:
            assert sign_on(client, "alice").status_code == 303
            row = session_row(client)
            assert row.provider_tokens is None and row.refresh_due_at is None
            assert aware(row.expires_at) - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=300)
            assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200


@pytest.mark.parametrize(("values", "name"), [
    ({"session_refresh_seconds": 0}, "FIELDGUIDE_SESSION_REFRESH_SECONDS"),
    ({"session_refresh_seconds": 10**6}, "FIELDGUIDE_SESSION_REFRESH_SECONDS"),
    ({"session_refresh_grace_seconds": -1}, "FIELDGUIDE_SESSION_REFRESH_GRACE_SECONDS")])
def test_refresh_settings_are_checked(tmp_path: Path, values: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError) as info:
        Settings(data_dir=tmp_path, **values)
    assert settings_error(info.value).startswith(f"{name}: ")
