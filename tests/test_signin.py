"""Sign-in for people: personal keys, sessions, the pages that use them, failed-auth limits.

Properties proved (SQLite and PostgreSQL where a database is involved):
1. ``fieldguide keys create`` prints the key once, on its last line; the database keeps only its
   hash; ``keys list`` shows created and last-used times, never the key; ``keys revoke`` ends it;
   an unknown role is refused with the allowed values.
2. A personal key works as ``Authorization: Bearer``: an engineer's finds engineer articles, a
   reader's does not; a revoked key is a 401. The old FIELDGUIDE_ENGINEER_KEYS still work.
3. ``POST /signin`` with a key opens a server-side session in an HttpOnly SameSite=Lax cookie
   (Secure over HTTPS) and redirects to a local ``next`` only; without the CSRF field it is a
   403, with a wrong key a 401 form. The cookie is then as good as the key on every route.
4. A tampered, expired, revoked (signed out, or its key revoked) session is anonymous, with a
   sign-in prompt and the cookie cleared: never a 500. A state-changing request from another
   origin does not get the cookie's rights.
5. The pages show who is signed in; an article the person may not read is an HTML page with a
   sign-in link when the browser asks for HTML (JSON otherwise), the same for one that does not
   exist.
6. A hand-off by a signed-in person carries who they are.
7. Failed authentication is limited per client: past the burst, 429 with Retry-After, before any
   check; anonymous reading goes on.
8. A bad secret setting is one clean line that never contains the value.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.cli import main as cli_main
from app.db import make_engine, session_factory, upgrade
from app.identity import Identity
from app.people import PersonKeyRow, PersonKeys, Role, hash_secret
from app.sessions import SESSION_COOKIE
from app.settings import Settings, settings_error
from indexer.embed import Embedder
from tests.api_support import ENGINEER, assert_error, client_for, settings_for

SECRET_ID = "alertmanager-notifications-not-delivered"  # an engineer article
RUNBOOK_ID = "kubernetes-pod-crashloopbackoff"
PUBLIC_ID = "vpn-gateway-unreachable"


@contextmanager
def _keys(db_url: str) -> Iterator[PersonKeys]:
    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield PersonKeys(session_factory(engine))
    finally:
        engine.dispose()


@pytest.fixture
def app_client(tmp_path: Path, kb_index: Path, embedder: Embedder, db_url: str
               ) -> Iterator[tuple[TestClient, PersonKeys]]:
    settings = settings_for(tmp_path, kb_index, database_url=db_url, auth_failure_burst=100)
    with client_for(settings, embedder) as client, _keys(db_url) as keys:
        yield client, keys


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def sign_in(client: TestClient, key: str, next_path: str = "/") -> Any:
    page = client.get("/signin", params={"next": next_path})
    assert page.status_code == 200
    return client.post("/signin", data={"key": key, "csrf": csrf_of(page.text),
                                        "next": next_path}, follow_redirects=False)


def test_keys_cli_create_list_revoke(db_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIELDGUIDE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FIELDGUIDE_DATABASE_URL", db_url)
    out = io.StringIO()
    assert cli_main(["keys", "create", "--name", "Ada Lovelace", "--email", "Ada@X.example",
                     "--role", "engineer", "--team", "platform"], out) == 0
    lines = out.getvalue().splitlines()
    secret = lines[-1]
    assert secret.startswith("fgk_") and len(secret) > 40
    assert "Ada Lovelace" in lines[0] and secret not in lines[0]
    with _keys(db_url) as keys:
        _check_cli_keys(keys, secret)
    capsys.readouterr()
    assert cli_main(["keys", "create", "--name", "X", "--email", "x@x.example",
                     "--role", "owner"], io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "unknown role 'owner'" in err and "reader, engineer, admin" in err


def _check_cli_keys(keys: PersonKeys, secret: str) -> None:
    with keys.sessions() as db:
        row = db.scalars(select(PersonKeyRow)).one()
    assert row.key_hash == hash_secret(secret) and secret not in repr(vars(row))
    assert (row.email, row.role, row.teams) == ("ada@x.example", "engineer", ["platform"])

    listed = io.StringIO()
    assert cli_main(["keys", "list"], listed) == 0
    assert secret not in listed.getvalue()
    assert "last used never" in listed.getvalue() and "active" in listed.getvalue()
    person = keys.person_for(secret)
    assert person is not None and person.role is Role.ENGINEER and person.teams == {"platform"}
    listed = io.StringIO()
    assert cli_main(["keys", "list", "--json"], listed) == 0
    assert '"last_used_at": null' not in listed.getvalue()  # the lookup above was recorded

    assert cli_main(["keys", "revoke", str(row.id)], io.StringIO()) == 0
    assert keys.person_for(secret) is None
    assert cli_main(["keys", "revoke", "999"], io.StringIO()) == 2


def test_personal_keys_as_bearer(app_client: tuple[TestClient, PersonKeys]) -> None:
    client, keys = app_client
    eng = keys.create("Eve", "eve@x.example", Role.ENGINEER).secret
    reader = keys.create("Rob", "rob@x.example", Role.READER).secret
    assert client.get(f"/api/articles/{SECRET_ID}",
                      headers={"Authorization": f"Bearer {eng}"}).status_code == 200
    assert_error(client.get(f"/api/articles/{SECRET_ID}",
                            headers={"Authorization": f"Bearer {reader}"}), 404, "not_found")
    assert client.get(f"/api/articles/{PUBLIC_ID}",
                      headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    assert client.get(f"/api/articles/{SECRET_ID}", headers=ENGINEER).status_code == 200
    # Engineer material elsewhere: a reader is known but not allowed (403, not a failed login).
    assert_error(client.get("/api/coverage", headers={"Authorization": f"Bearer {reader}"}),
                 403, "forbidden")
    assert client.get("/api/coverage", headers={"Authorization": f"Bearer {eng}"}
                      ).status_code == 200
    key_id = keys.list()[0].id
    keys.revoke(key_id)
    assert_error(client.get(f"/api/articles/{SECRET_ID}",
                            headers={"Authorization": f"Bearer {eng}"}), 401, "invalid_api_key")


def test_sign_in_with_a_key_opens_a_session(app_client: tuple[TestClient, PersonKeys]) -> None:
    client, keys = app_client
    eng = keys.create("Eve Engineer", "eve@x.example", Role.ENGINEER).secret
    # The form: a password field, the CSRF field; no SSO button without OIDC settings.
    page = client.get("/signin")
    assert 'name="key"' in page.text and 'type="password"' in page.text
    assert "single sign-on" not in page.text
    # No CSRF field: refused, no session.
    r = client.post("/signin", data={"key": eng}, follow_redirects=False)
    assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    # A wrong key: the form again, 401.
    r = sign_in(client, "fgk_not-a-key")
    assert r.status_code == 401 and "not valid" in r.text
    assert "fgk_not-a-key" not in r.text  # the pasted key is never echoed back
    assert "text/html" in r.headers["content-type"]
    # Anonymous: the runbook is not found.
    assert RUNBOOK_ID not in _search_ids(client, "[FIRING:1] KubePodCrashLooping")

    r = sign_in(client, eng, next_path=f"/articles/{SECRET_ID}")
    assert r.status_code == 303 and r.headers["location"] == f"/articles/{SECRET_ID}"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= attrs and "samesite=lax" in cookie.lower()
    assert "secure" not in attrs  # plain HTTP here; see the HTTPS test
    assert eng not in cookie
    # The cookie is as good as the key: the article, the runbook on search, the page header.
    assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
    assert RUNBOOK_ID in _search_ids(client, "[FIRING:1] KubePodCrashLooping")
    for path in ("/", "/chat", "/freshness", f"/articles/{SECRET_ID}"):
        html = client.get(path, headers={"Accept": "text/html"}).text
        assert 'data-signed-in="true"' in html and "Eve Engineer" in html, path
        assert 'action="/signout"' in html
    assert "sees end-user, engineer" in client.get("/").text

    # Signing out revokes the session server-side: the same cookie value is worthless after.
    value = client.cookies[SESSION_COOKIE]
    page = client.get("/")
    r = client.post("/signout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.set(SESSION_COOKIE, value)
    assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)
    html = client.get("/").text
    assert 'data-signed-in="false"' in html and "Your session has ended" in html


def _search_ids(client: TestClient, q: str, **kw: Any) -> list[str]:
    r = client.get("/api/search", params={"q": q, "limit": 10}, **kw)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["results"]]


def test_redirect_after_sign_in_stays_local(app_client: tuple[TestClient, PersonKeys]) -> None:
    client, keys = app_client
    eng = keys.create("Eve", "eve@x.example", Role.ENGINEER).secret
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        client.cookies.clear()
        r = sign_in(client, eng, next_path=target)
        assert (r.status_code, r.headers["location"]) == (303, "/"), target


def test_bad_sessions_are_anonymous_never_errors(app_client: tuple[TestClient, PersonKeys]
                                                ) -> None:
    client, keys = app_client
    eng = keys.create("Eve", "eve@x.example", Role.ENGINEER)
    assert sign_in(client, eng.secret).status_code == 303
    good = client.cookies[SESSION_COOKIE]
    identity: Identity = client.app.state.identity  # type: ignore[attr-defined]
    expired = identity.store.open(identity.keys.person_by_id(eng.info.id),  # type: ignore[arg-type]
                                  now=dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    token, _, mac = good.rpartition(".")
    tampered = [token[:-2] + ("AA" if token[-2:] != "AA" else "BB") + "." + mac,
                token + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"), "garbage", "",
                "x" * 5000, expired]
    for value in tampered:
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, value)
        r = client.get(f"/api/articles/{SECRET_ID}")
        assert_error(r, 404, "not_found")
        page = client.get(f"/articles/{SECRET_ID}", headers={"Accept": "text/html"})
        assert page.status_code == 404 and "Sign in" in page.text
        if value:
            assert any(c.startswith(f"{SESSION_COOKIE}=;") or f'{SESSION_COOKIE}="";' in c
                       for c in page.headers.get_list("set-cookie")), value
    # The good session, then its key revoked: anonymous at the next request.
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, good)
    assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
    keys.revoke(eng.info.id)
    assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404)


def test_cookie_gives_no_rights_to_other_origins(app_client: tuple[TestClient, PersonKeys]
                                                 ) -> None:
    client, keys = app_client
    admin = keys.create("Ann Admin", "ann@x.example", Role.ADMIN).secret
    assert sign_in(client, admin).status_code == 303
    url = f"/api/articles/{PUBLIC_ID}/review"
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}):
        assert_error(client.post(url, json={"outcome": "still-accurate"}, headers=headers),
                     401, "unauthorized")
    # A sign-out form posted from elsewhere is refused too (the CSRF check sees the Origin).
    page = client.get("/")
    r = client.post("/signout", data={"csrf": csrf_of(page.text)},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    # From our own origin, the admin's session reviews and is the reviewer recorded.
    r = client.post(url, json={"outcome": "still-accurate", "reviewer": "mallory@x.example"},
                    headers={"Origin": "http://localhost"})
    assert r.status_code == 200, r.text
    assert r.json()["reviewer"] == "ann@x.example"


def test_article_page_for_a_browser_says_sign_in(app_client: tuple[TestClient, PersonKeys]
                                                 ) -> None:
    client = app_client[0]
    accept = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    secret = client.get(f"/articles/{SECRET_ID}", headers=accept)
    missing = client.get("/articles/no-such-article", headers=accept)
    for r in (secret, missing):
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "Article not available" in r.text and 'href="/signin?next=' in r.text
        assert "Alertmanager not delivering" not in r.text
    # The same page for both, apart from the id echoed back (escaped).
    assert secret.text.replace(SECRET_ID, "X") == missing.text.replace("no-such-article", "X")
    r = client.get("/articles/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=accept)
    assert "<script>alert" not in r.text and "&lt;script&gt;" in r.text
    assert_error(client.get(f"/articles/{SECRET_ID}", headers={"Accept": "application/json"}),
                 404, "not_found")


def test_hand_off_by_a_signed_in_person_says_who(app_client: tuple[TestClient, PersonKeys]
                                                 ) -> None:
    client, keys = app_client
    secret = keys.create("Rita Reader", "rita@x.example", Role.READER).secret
    assert sign_in(client, secret).status_code == 303
    turn = client.post("/api/chat", json={"message": "my vpn keeps disconnecting"}).json()
    r = client.post(f"/api/chat/{turn['session_id']}/escalate", json={"description": "tried"})
    assert r.status_code == 200, r.text
    reference = r.json()["ticket"]
    services = client.app.state.services  # type: ignore[attr-defined]
    from chatbot.models import ChatTicketRow

    with services.sessions() as db:
        ticket = db.scalars(select(ChatTicketRow).where(
            ChatTicketRow.reference == reference)).one()
    assert ticket.packet["requester"] == {"name": "Rita Reader", "email": "rita@x.example",
                                          "role": "reader"}
    assert ticket.contact == "rita@x.example"


def test_https_cookies_are_secure(tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, public_url="https://kb.example",
                            allowed_hosts=["kb.example"])
    with client_for(settings, embedder, base_url="https://kb.example") as client:
        r = sign_in(client, "engineer-key-for-tests")
        assert r.status_code == 303
        cookie = next(c for c in r.headers.get_list("set-cookie")
                      if c.startswith(SESSION_COOKIE))
        assert "secure" in {a.strip().lower() for a in cookie.split(";")}
        # An unnamed engineer key signs in as "engineer key" and sees engineer articles.
        assert client.get(f"/api/articles/{SECRET_ID}").status_code == 200
        assert "engineer key" in client.get("/").text


def test_failed_authentication_is_rate_limited(tmp_path: Path, kb_index: Path,
                                               embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, auth_failure_burst=3,
                            auth_failures_per_minute=1)
    with client_for(settings, embedder) as client:
        wrong = {"Authorization": "Bearer fgk_wrong-key-000"}
        for _ in range(3):
            r = client.get("/api/search", params={"q": "vpn"}, headers=wrong)
            assert_error(r, 401)
            assert "fgk_wrong-key-000" not in r.text
        r = client.get("/api/search", params={"q": "vpn"}, headers=wrong)
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        # Even the right key waits now (no oracle while limited); a tampered cookie too...
        assert_error(client.get("/api/search", params={"q": "vpn"}, headers=ENGINEER), 429)
        assert_error(client.post("/signin", data={"key": "x"}), 429)
        assert_error(client.post("/api/hooks/alertmanager", json={}), 429)
        # ...while reading anonymously goes on.
        assert client.get("/api/search", params={"q": "vpn"}).status_code == 200
        assert client.get("/").status_code == 200


def test_webhook_signature_failures_count(tmp_path: Path, kb_index: Path,
                                          embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, auth_failure_burst=2,
                            auth_failures_per_minute=1, alerts_token="alerts-token-0123456789")
    with client_for(settings, embedder) as client:
        bad = {"Authorization": "Bearer not-the-alerts-token"}
        for _ in range(2):
            assert client.post("/api/hooks/alertmanager", json={}, headers=bad).status_code == 401
        assert_error(client.post("/api/hooks/alertmanager", json={}, headers=bad), 429)


def test_secret_settings_errors_never_echo_the_value(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError) as info:
        Settings(data_dir=tmp_path, admin_token="short-s3cret")
    message = settings_error(info.value)
    assert "short-s3cret" not in message and "\n" not in message
    assert message.startswith("FIELDGUIDE_ADMIN_TOKEN: ") and "16 characters" in message
    with pytest.raises(ValueError) as info:
        Settings(data_dir=tmp_path, session_secret="tiny-s3cret")
    assert "tiny-s3cret" not in settings_error(info.value)
    monkeypatch.setenv("FIELDGUIDE_ADMIN_TOKEN", "short-s3cret")
    assert cli_main(["keys", "list"], io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "short-s3cret" not in err and len(err.strip().splitlines()) == 1


def test_access_log_lines_carry_no_sign_in_secret(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from app.main import create_app

    create_app(Settings(data_dir=tmp_path))  # installs the filter on uvicorn's access logger
    log = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        log.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET",
                 "/signin/oidc/callback?code=c0de-s3cret&state=st4te", "1.1", 303)
        log.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", "/api/search?q=vpn", "1.1",
                 200)
    lines = [r.getMessage() for r in caplog.records]
    assert "c0de-s3cret" not in lines[0] and "st4te" not in lines[0]
    assert "code=[redacted]&state=[redacted]" in lines[0]
    assert "/api/search?q=vpn" in lines[1]
