"""Single sign-on against a real OpenID provider (tests/oidc_provider.py, its own process).

Properties proved, each through real HTTP redirects between the service and the provider:
1. The way out carries state, nonce and an S256 PKCE challenge; a user in the engineer group
   comes back an engineer (engineer articles open), a user in no group a reader (they do not).
2. A wrong state, a code used twice, a tampered state cookie: no session, the sign-in page with
   a 401, counted as a failed authentication; never a 500.
3. A group removed at the provider narrows access at the next sign-in (and at the next session
   refresh: tests/test_sso_refresh.py); a session lasts its lifetime when the provider gave a
   refresh token, never past its ID token without one.
4. /signin offers the single sign-on button; an unreachable provider is a clear page, not a 500.
5. Unknown roles in FIELDGUIDE_ROLE_GROUPS are refused at start, naming the allowed values.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.sessions import SESSION_COOKIE, WebSessionRow
from app.settings import Settings, settings_error
from indexer.embed import Embedder
from tests.api_support import ROOT, assert_error, client_for, settings_for

SECRET_ID = "alertmanager-notifications-not-delivered"
PUBLIC_ID = "vpn-gateway-unreachable"
CLIENT_ID = "fieldguide-tests"
CLIENT_SECRET = "client-secret-for-tests-0123456789"
USERS = {"alice": {"password": "alice-pw", "email": "alice@x.example", "groups": ["kb-engineers"]},
         "bob": {"password": "bob-pw", "email": "bob@x.example", "groups": []},
         "dora": {"password": "dora-pw", "email": "dora@x.example",
                  "groups": ["kb-engineers", "other"]},
         "sven": {"password": "sven-pw", "email": "sven@x.example", "groups": ["sec-team"]},
         # Disabled at the provider, then enabled again, by tests/test_sso_refresh.py.
         "carol": {"password": "carol-pw", "email": "carol@x.example",
                   "groups": ["kb-engineers"]}}


@contextmanager
def running_provider(directory: Path, users: dict[str, Any] | None = None, **extra: Any
                     ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """tests/oidc_provider.py as its own process: its issuer URL and the process."""
    config = directory / "provider.json"
    config.write_text(json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                  "redirect_uri": "http://localhost/signin/oidc/callback",
                                  "users": USERS if users is None else users, **extra}))
    env = {**os.environ, "AUTHLIB_INSECURE_TRANSPORT": "1"}  # plain HTTP on loopback
    proc = subprocess.Popen([sys.executable, "-m", "tests.oidc_provider", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("ready "), line
        yield line.split(" ", 1)[1], proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_provider(tmp_path_factory.mktemp("oidc")) as (issuer, _proc):
        yield issuer


def sso_settings(tmp_path: Path, kb_index: Path, issuer: str, **kw: Any) -> Settings:
    return settings_for(tmp_path, kb_index, public_url="http://localhost", oidc_issuer=issuer,
                        oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET,
                        oidc_scopes="openid email profile groups",
                        role_groups=["kb-engineers=engineer", "kb-admins=admin"], **kw)


@pytest.fixture
def client(tmp_path: Path, kb_index: Path, embedder: Embedder, provider: str
           ) -> Iterator[TestClient]:
    with client_for(sso_settings(tmp_path, kb_index, provider), embedder) as c:
        yield c


def start(client: TestClient, next_path: str = "/") -> str:
    """The service's redirect to the provider's authorization endpoint."""
    r = client.get("/signin/oidc", params={"next": next_path}, follow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["location"]


def log_in(authorize_url: str, user: str) -> str:
    """What a browser does at the provider: the login form, the credentials, the redirect back."""
    with httpx.Client(timeout=10) as browser:
        form = browser.get(authorize_url)
        assert form.status_code == 200, form.text
        query = urllib.parse.urlsplit(authorize_url).query
        base = authorize_url.split("?", 1)[0]
        r = browser.post(f"{base}?{query}", data={"username": user,
                                                  "password": USERS[user]["password"]})
        assert r.status_code == 302, r.text
        return r.headers["location"]


def sign_on(client: TestClient, user: str, next_path: str = "/") -> Any:
    back = log_in(start(client, next_path), user)
    assert back.startswith("http://localhost/signin/oidc/callback?")
    return client.get(back, follow_redirects=False)


def with_param(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    params = dict(urllib.parse.parse_qsl(parts.query))
    params[name] = value
    return parts._replace(query=urllib.parse.urlencode(params)).geturl()


def test_engineer_group_signs_on_as_engineer(client: TestClient, provider: str) -> None:
    page = client.get("/signin")
    assert "Sign in with single sign-on" in page.text and 'href="/signin/oidc?next=' in page.text
    out = start(client, f"/articles/{SECRET_ID}")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(out).query))
    assert out.startswith(f"{provider}/authorize?")
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) >= 43
    assert params["state"] and params["nonce"] and params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == "http://localhost/signin/oidc/callback"
    state_cookie = client.cookies.get("fieldguide_oidc")
    assert state_cookie and params["code_challenge"] not in state_cookie  # signed, not plain

    r = client.get(log_in(out, "alice"), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/articles/{SECRET_ID}"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
    html = client.get("/").text
    assert "Alice" in html and 'data-role="engineer"' in html
    # The provider gave a refresh token: the session lasts FIELDGUIDE_SESSION_HOURS (each
    # refresh confirms the person), past the ID token's 300 s; the tokens are kept encrypted.
    with client.app.state.services.sessions() as db:  # type: ignore[attr-defined]
        row = db.scalars(select(WebSessionRow)).one()
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    assert expires - dt.datetime.now(dt.UTC) > dt.timedelta(hours=11)
    assert (row.source, row.email, row.role) == ("oidc", "alice@x.example", "engineer")
    issued = httpx.get(f"{provider}/_test/tokens/alice", timeout=10).json()
    assert issued["refresh_token"] and row.provider_tokens
    for secret in (issued["refresh_token"], issued["access_token"]):
        assert secret not in row.provider_tokens and secret not in cookie


def test_an_expired_sign_on_is_anonymous(client: TestClient) -> None:
    """When the ID token's time is up the session is over: anonymous, with a sign-in prompt."""
    from sqlalchemy import update

    assert sign_on(client, "alice").status_code == 303
    assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
    with client.app.state.services.sessions.begin() as db:  # type: ignore[attr-defined]
        db.execute(update(WebSessionRow).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    html = client.get("/").text
    assert "Your session has ended" in html and 'data-signed-in="false"' in html
    assert SESSION_COOKIE not in client.cookies  # the page cleared the dead cookie
    client.cookies.set(SESSION_COOKIE, "stale-value")
    assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)


def test_no_group_signs_on_as_reader(client: TestClient) -> None:
    assert sign_on(client, "bob").status_code == 303
    assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)
    assert client.get(f"/api/articles/{PUBLIC_ID}").status_code == 200
    assert 'data-role="reader"' in client.get("/").text


def _refused(r: Any) -> None:
    assert r.status_code == 401, r.text
    assert "Single sign-on failed" in r.text
    assert not any(c.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" not in c
                   for c in r.headers.get_list("set-cookie"))


def test_wrong_state_replayed_code_and_tampered_cookie_are_refused(client: TestClient) -> None:
    # A wrong state.
    back = log_in(start(client), "alice")
    _refused(client.get(with_param(back, "state", "not-the-state"), follow_redirects=False))
    assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)
    # A code used twice: once to sign in, then again under a fresh flow's state.
    back = log_in(start(client), "alice")
    old_code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))["code"]
    assert client.get(back, follow_redirects=False).status_code == 303
    client.cookies.clear()
    fresh = log_in(start(client), "alice")
    _refused(client.get(with_param(fresh, "code", old_code), follow_redirects=False))
    # The same callback URL again (its state is spent).
    _refused(client.get(back, follow_redirects=False))
    # A tampered state cookie.
    client.cookies.clear()
    back = log_in(start(client), "alice")
    value = client.cookies["fieldguide_oidc"]
    client.cookies.clear()
    client.cookies.set("fieldguide_oidc", value[:-3] + ("abc" if value[-3:] != "abc" else "xyz"),
                       path="/signin")
    _refused(client.get(back, follow_redirects=False))
    assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)
    # The provider's own error comes back as a refusal too.
    _refused(client.get("/signin/oidc/callback?error=access_denied&state=x",
                        follow_redirects=False))


def test_removed_group_narrows_access_at_next_sign_in(client: TestClient, provider: str
                                                      ) -> None:
    assert sign_on(client, "dora").status_code == 303
    assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
    r = httpx.post(f"{provider}/_test/groups/dora", json=["other"], timeout=10)
    assert r.status_code == 200
    try:
        client.cookies.clear()
        assert sign_on(client, "dora").status_code == 303
        assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)
        assert 'data-role="reader"' in client.get("/").text
    finally:
        httpx.post(f"{provider}/_test/groups/dora", json=["kb-engineers", "other"], timeout=10)


def test_unreachable_provider_is_a_page(tmp_path: Path, kb_index: Path,
                                        embedder: Embedder) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = sso_settings(tmp_path, kb_index, f"http://127.0.0.1:{port}")
    with client_for(settings, embedder) as client:
        r = client.get("/signin/oidc", follow_redirects=False)
        assert r.status_code == 503 and "cannot be reached" in r.text
        assert "text/html" in r.headers["content-type"]


def test_without_oidc_there_is_no_sso(tmp_path: Path, kb_index: Path, embedder: Embedder
                                      ) -> None:
    with client_for(settings_for(tmp_path, kb_index), embedder) as client:
        assert "single sign-on" not in client.get("/signin").text
        assert_error(client.get("/signin/oidc"), 404, "not_found")
        assert_error(client.get("/signin/oidc/callback?code=x&state=y"), 404, "not_found")


@pytest.mark.parametrize(("entry", "needle"), [
    ("kb=superuser", "unknown role 'superuser' (allowed: reader, engineer, admin)"),
    ("kb=engineer:security", "unknown audience 'security' (allowed: end-user, engineer)"),
    ("kb", "is not GROUP=ROLE"), ("kb=owner:", "owner needs a team")])
def test_unknown_roles_are_refused_at_start(tmp_path: Path, entry: str, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        Settings(data_dir=tmp_path, role_groups=[entry])
    message = settings_error(info.value)
    assert message.startswith("FIELDGUIDE_ROLE_GROUPS: ") and needle in message


def test_issuer_needs_a_client_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        Settings(data_dir=tmp_path, oidc_issuer="https://idp.example")
    assert "FIELDGUIDE_OIDC_CLIENT_ID" in settings_error(info.value)
