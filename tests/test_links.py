"""Links that work wherever the service runs (issue 17 item 1).

Properties proved, through the real uvicorn with the options `fieldguide serve` uses:
1. With FIELDGUIDE_PUBLIC_URL unset, a server on a port other than 8000 answers search results,
   chat sources and article JSON whose ``url`` points at that server, and following the link
   opens the article page.
2. The link follows the request's own Host (a name the server answers for).
3. ``X-Forwarded-Proto`` changes the scheme only from a proxy uvicorn is told to trust
   (``forwarded_allow_ips``; 127.0.0.1 by default), never from anyone else.
4. With FIELDGUIDE_PUBLIC_URL set, every link uses it, whatever the request says.
5. The freshness job, which sends digests without a request, warns loudly at start when the
   setting is unset, and says nothing when it is set.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.server import uvicorn_options
from app.settings import Settings
from indexer.embed import Embedder
from tests.api_support import client_for, settings_for
from tests.browser.harness import ServerThread

QUERY = "printer says offline"


def _server(settings: Settings, embedder: Embedder, **extra: Any) -> ServerThread:
    options = {k: v for k, v in uvicorn_options(settings).items() if k not in ("host", "port")}
    return ServerThread(create_app(settings, embedder=embedder), **{**options, **extra})


def _first_url(client: httpx.Client, **headers: str) -> str:
    r = client.get("/api/search", params={"q": QUERY}, headers=headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results
    url: str = results[0]["url"]
    return url


def test_links_point_at_the_server_that_answered(tmp_path: Path, kb_index: Path,
                                                 embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, log_level="warning")
    assert settings.public_url is None
    with _server(settings, embedder) as server, httpx.Client(base_url=server.url) as client:
        assert server.port != 8000
        url = _first_url(client)
        assert url.startswith(f"http://127.0.0.1:{server.port}/articles/")
        page = httpx.get(url, headers={"Accept": "text/html"})  # press Enter on the result
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        article_id = url.split("/articles/", 1)[1]
        api = client.get(f"/api/articles/{article_id}").json()
        assert api["url"] == url
        assert html.escape(api["title"]) in page.text

        chat = client.post("/api/chat", json={"message": "how do I reset my password"}).json()
        sources = chat["reply"]["sources"]
        assert sources, chat
        for source in sources:
            assert source["url"].startswith(f"http://127.0.0.1:{server.port}/articles/")
            assert httpx.get(source["url"]).status_code == 200

        # 2. the Host the reader used (localhost is one the server answers for)
        assert _first_url(client, Host=f"localhost:{server.port}").startswith(
            f"http://localhost:{server.port}/articles/")
        # 3. the loopback proxy is trusted by default: its scheme is believed
        assert _first_url(client, **{"X-Forwarded-Proto": "https"}).startswith(
            f"https://127.0.0.1:{server.port}/articles/")


def test_forwarded_proto_from_an_untrusted_peer_is_ignored(tmp_path: Path, kb_index: Path,
                                                           embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, log_level="warning")
    with _server(settings, embedder, forwarded_allow_ips="10.9.9.9") as server, \
            httpx.Client(base_url=server.url) as client:
        assert _first_url(client, **{"X-Forwarded-Proto": "https"}).startswith(
            f"http://127.0.0.1:{server.port}/articles/")


def test_the_public_url_setting_wins(tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, public_url="https://kb.example.com/")
    with client_for(settings, embedder, base_url="http://localhost:8750") as client:
        r = client.get("/api/search", params={"q": QUERY})
        assert r.json()["results"][0]["url"].startswith("https://kb.example.com/articles/")
        chat = client.post("/api/chat", json={"message": "how do I reset my password"}).json()
        assert all(s["url"].startswith("https://kb.example.com/articles/")
                   for s in chat["reply"]["sources"])


@pytest.mark.parametrize("public_url", [None, "https://kb.example.com"])
def test_the_freshness_job_warns_at_start_when_links_have_no_base(
        tmp_path: Path, kb_index: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture,
        public_url: str | None) -> None:
    settings = settings_for(tmp_path, kb_index, public_url=public_url,
                            freshness_first_run_seconds=3600)
    with caplog.at_level(logging.WARNING, logger="fieldguide"), client_for(settings, embedder):
        pass
    warned = [r.getMessage() for r in caplog.records if "FIELDGUIDE_PUBLIC_URL" in r.getMessage()]
    if public_url is None:
        assert len(warned) == 1 and warned[0].startswith("WARNING ")
        assert "http://localhost:8000/articles/" in warned[0]
    else:
        assert warned == []
