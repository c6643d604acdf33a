"""One security-headers policy for every response, and forged Host headers refused (issue 16).

1. A request naming a host the server does not answer for is a 400 `bad_host` with the error
   body, before any route runs: a forged Host never reaches a page's script URLs or a redirect.
2. The public URL's host and the loopback names are allowed by default (with any port);
   FIELDGUIDE_ALLOWED_HOSTS replaces the list, and `*` admits every host.
3. Every answer carries nosniff and a referrer policy; the article page and the service pages
   may not be framed; /docs loads only from its CDN under a CSP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.security import allowed_hosts, host_name
from indexer.embed import Embedder
from tests.api_support import assert_error, client_for, settings_for


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[TestClient]:
    settings = settings_for(tmp_path_factory.mktemp("security"), kb_index,
                            public_url="https://kb.example.com")
    with client_for(settings, embedder) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/chat/", "/api/search?q=vpn", "/articles/printer-offline",
                                  "/healthz"])
def test_a_forged_host_is_refused_everywhere(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    body = assert_error(r, 400, "bad_host")
    assert "FIELDGUIDE_ALLOWED_HOSTS" in body["error"]["message"]
    assert "evil.example" not in r.text


def test_the_public_host_and_loopback_are_answered(client: TestClient) -> None:
    for host in ("kb.example.com", "localhost:8750", "127.0.0.1:8000", "[::1]:9000"):
        r = client.get("/", headers={"Host": host})
        assert r.status_code == 200, (host, r.text)
    redirect = client.get("/chat/", headers={"Host": "kb.example.com"}, follow_redirects=False)
    assert redirect.is_redirect
    assert redirect.headers["location"] in ("/chat", "http://kb.example.com/chat")


def test_allowed_hosts_setting() -> None:
    assert allowed_hosts([], "https://KB.example.com:8443/kb") == {
        "kb.example.com", "localhost", "127.0.0.1", "::1"}
    assert allowed_hosts(["wiki.corp", " "], "https://kb.example.com") == {"wiki.corp"}
    assert host_name("[::1]:8000") == "::1" and host_name("Kb.Example.com:443") == "kb.example.com"
    assert host_name("::1") == "::1"


def test_every_answer_carries_the_policy(client: TestClient) -> None:
    for path in ("/api/search?q=printer", "/api/articles/nope", "/healthz", "/openapi.json",
                 "/static/widget.js"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"], path
    page = client.get("/articles/printer-offline")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    docs = client.get("/docs")
    csp = docs.headers["content-security-policy"]
    assert "script-src https://cdn.jsdelivr.net" in csp and "frame-ancestors 'none'" in csp
    assert docs.headers["x-frame-options"] == "DENY"


def test_any_host_when_configured(tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, allowed_hosts="*")
    with client_for(settings, embedder) as c:
        assert c.get("/healthz", headers={"Host": "anything.example"}).status_code == 200
