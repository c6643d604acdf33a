"""The HTTP contract of the search service, through the real app on a real index.

1. Every route answers with the documented shape.
2. Every error, including unknown routes, wrong methods and validation, has the body
   ``{"error": {"code", "message"}}`` and never a traceback.
3. Malformed input (empty, 1 MB, invalid UTF-8, unknown parameters, negative limits) is a 4xx,
   also through the real server with `fieldguide serve`'s options (a URL beyond the HTTP
   parser's 64 KB still gets the error body).
4. Admin routes need the admin token; rate limits answer 429 with Retry-After.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.server import uvicorn_options
from app.services.search import NoFreshness
from freshness.policy import Freshness, Status
from indexer.embed import Embedder
from tests.api_support import ADMIN, ENGINEER, assert_error, client_for, settings_for
from tests.browser.harness import ServerThread

RESULT_KEYS = {"id", "path", "title", "url", "snippet", "score", "matched", "services", "tags",
               "freshness", "snippet_section", "title_html"}  # the last two: issue 17 item 7


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("api-contract")
    with client_for(settings_for(data, kb_index, cors_origins=["https://wiki.example"]),
                    embedder) as c:
        yield c


def test_search_contract_shape(client: TestClient) -> None:
    r = client.get("/api/search", params={"q": "VPN won't connect", "limit": 5})
    assert r.status_code == 200
    body = r.json()
    assert {"query", "took_ms", "results", "total", "limit", "offset", "search_id",
            "suggestion"} <= set(body)
    assert body["query"] == "VPN won't connect"
    assert 1 <= len(body["results"]) <= 5
    for item in body["results"]:
        assert set(item) == RESULT_KEYS
        assert item["url"].endswith(f"/articles/{item['id']}")
        assert set(item["freshness"]) == {"status", "review_by", "banner"}
        assert isinstance(item["freshness"]["banner"], bool)
        assert "legs" in item["matched"]
        assert "<script" not in item["snippet"]
        assert isinstance(item["services"], list)
        assert isinstance(item["tags"], list)
    assert "vpn" in body["results"][0]["id"]
    assert "vpn" in body["results"][0]["services"]
    assert "<mark>" in body["results"][0]["snippet"]


def test_explain_adds_per_leg_ranks(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "vpn gateway", "explain": "true"}).json()
    top = body["results"][0]
    assert top["explain"]["legs"]
    for leg in top["explain"]["legs"].values():
        assert {"rank", "score"} <= set(leg)
    assert set(body["explain"]) >= {"normalized", "weights", "index_version"}
    plain = client.get("/api/search", params={"q": "vpn gateway"}).json()
    assert "explain" not in plain and "explain" not in plain["results"][0]


def test_paging_walks_the_same_ranking(client: TestClient) -> None:
    first = client.get("/api/search", params={"q": "password", "limit": 4}).json()
    second = client.get("/api/search",
                        params={"q": "password", "limit": 2, "offset": 2}).json()
    assert [r["id"] for r in first["results"][2:4]] == [r["id"] for r in second["results"]]


def test_service_and_tag_filters(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "cannot connect", "service": "vpn"}).json()
    assert body["results"]
    assert all("vpn" in r["id"] or "vpn" in r["matched"].get("services", ["vpn"])
               for r in body["results"])
    none = client.get("/api/search", params={"q": "vpn", "tag": "no-such-tag-anywhere"}).json()
    assert none["results"] == [] and none["total"] == 0


def test_did_you_mean(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "pasword expird"}).json()
    assert body["suggestion"] is not None
    assert "password" in body["suggestion"]


def test_pasted_stack_trace_is_accepted(client: TestClient) -> None:
    trace = "\n".join(f"2026-03-0{i % 9 + 1}T10:11:12Z ERROR [worker-{i}] 10.0.0.{i} "
                      "GlobalProtect gateway unresponsive: connection attempt failed"
                      for i in range(60))
    assert 4096 < len(trace.encode()) <= 8192
    r = client.get("/api/search", params={"q": trace})
    assert r.status_code == 200
    assert r.json()["results"]


def test_article_json_contract(client: TestClient) -> None:
    r = client.get("/api/articles/vpn-gateway-unreachable")
    assert r.status_code == 200
    body = r.json()
    assert {"id", "path", "title", "url", "audience", "owner", "last_reviewed", "freshness",
            "sections", "html"} <= set(body)
    assert body["audience"] == ["end-user"]
    assert [s["key"] for s in body["sections"] if s["key"]][:2] == ["symptom", "likely_causes"]
    assert all({"heading", "level", "key", "html"} == set(s) for s in body["sections"])
    assert "<h2>" in body["html"]


def test_article_page_is_html(client: TestClient) -> None:
    r = client.get("/articles/vpn-gateway-unreachable")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp  # our own file only
    assert "<h1>" in r.text and "Owner" in r.text and "Review by" in r.text


def test_unverified_banner_comes_from_the_freshness_provider(client: TestClient) -> None:
    class Unverified:
        def freshness(self, article_id: str) -> Freshness:
            return Freshness(Status.UNVERIFIED, dt.date(2026, 1, 1), banner=True)

    search = client.app.state.services.search  # type: ignore[attr-defined]
    previous = search.freshness
    search.freshness = Unverified()
    try:
        page = client.get("/articles/vpn-gateway-unreachable").text
        hit = client.get("/api/search", params={"q": "vpn gateway"}).json()["results"][0]
    finally:
        search.freshness = previous
    assert 'class="banner"' in page and "2026-01-01" in page
    assert hit["freshness"] == {"status": "unverified", "review_by": "2026-01-01",
                                "banner": True}
    search.freshness = NoFreshness()
    try:
        calm = client.get("/articles/vpn-gateway-unreachable").text
        hit = client.get("/api/search", params={"q": "vpn gateway"}).json()["results"][0]
    finally:
        search.freshness = previous
    assert 'class="banner"' not in calm
    assert hit["freshness"] == {"status": None, "review_by": None, "banner": False}


def test_click_event(client: TestClient) -> None:
    search = client.get("/api/search", params={"q": "vpn"}).json()
    r = client.post("/api/events/click", json={"article_id": search["results"][0]["id"],
                                               "search_id": search["search_id"], "rank": 1})
    assert r.status_code == 202 and r.json() == {"recorded": True}
    assert_error(client.post("/api/events/click", json={"article_id": "no-such-article"}),
                 404, "not_found")
    assert_error(client.post("/api/events/click", json={"rank": 1}), 422, "validation_error")
    assert_error(client.post("/api/events/click", content=b"{not json",
                             headers={"content-type": "application/json"}), 422)


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["database"] == "ok"
    assert ready["articles"] == 69


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"q": ""}, 422, "empty_query"),
    ({"q": "   \n\t "}, 422, "empty_query"),
    ({}, 422, "empty_query"),
    ({"q": "x" * (60 * 1024)}, 413, "query_too_long"),
    ({"q": "é" * 4097}, 413, "query_too_long"),
    ({"q": "vpn", "limit": -1}, 422, "validation_error"),
    ({"q": "vpn", "limit": 0}, 422, "validation_error"),
    ({"q": "vpn", "limit": 51}, 422, "validation_error"),
    ({"q": "vpn", "limit": "ten"}, 422, "validation_error"),
    ({"q": "vpn", "offset": -5}, 422, "validation_error"),
    ({"q": "vpn", "explain": "maybe"}, 422, "validation_error"),
    ({"q": "vpn", "audience": "ITPro"}, 422, "validation_error"),
    ({"q": "vpn", "sort": "date"}, 422, "unknown_parameter"),
    ({"q": "vpn\x00"}, 422, "validation_error"),
])
def test_bad_search_input_is_a_4xx_with_the_error_body(
        client: TestClient, params: dict[str, object], status: int, code: str) -> None:
    assert_error(client.get("/api/search", params=params), status, code)


def test_post_search_takes_a_json_body(client: TestClient) -> None:
    r = client.post("/api/search", json={"q": "VPN won't connect", "limit": 3})
    assert r.status_code == 200
    assert len(r.json()["results"]) == 3
    # A 1 MB query cannot travel in a URL (clients cap it at 64 KB); in a body it gets a 413.
    assert_error(client.post("/api/search", json={"q": "x" * (1024 * 1024)}), 413,
                 "payload_too_large")
    assert_error(client.post("/api/search", json={"q": "x" * 9000}), 413, "query_too_long")
    assert_error(client.post("/api/search", json={"q": "vpn", "limit": -3}), 422,
                 "validation_error")
    assert_error(client.post("/api/search", json={"q": "vpn", "colour": "red"}), 422,
                 "validation_error")
    assert_error(client.post("/api/search", content=b"\xff\xfe{"), 422, "validation_error")
    assert_error(client.post("/api/search", json={"q": ""}), 422, "empty_query")


def raw_get(port: int, target: bytes) -> tuple[int, str, bytes]:
    """A GET written by hand (HTTP clients refuse URLs this long): status, content type, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), fields.get("content-type", ""), body


def test_the_real_server_answers_long_urls_with_the_error_body(
        tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, log_level="warning")
    options = {k: v for k, v in uvicorn_options(settings).items() if k not in ("host", "port")}
    with ServerThread(create_app(settings, embedder=embedder), **options) as server:
        query = urllib.parse.quote("Error 0x80070005 access is denied " * 200)  # 6.8 KB, 9 KB sent
        status, kind, body = raw_get(server.port, b"/api/search?q=" + query.encode())
        assert status == 200 and kind == "application/json" and json.loads(body)["results"]
        for size, code in ((20_000, "query_too_long"), (60_000, "query_too_long"),
                           (100_000, "url_too_long"), (1024 * 1024, "url_too_long")):
            status, kind, body = raw_get(server.port, b"/api/search?q=" + b"x" * size)
            assert kind == "application/json", (size, body[:80])
            assert json.loads(body)["error"]["code"] == code
            assert status == {"query_too_long": 413, "url_too_long": 414}[code]


@pytest.mark.parametrize("url", ["/api/search?q=%FF%FE", "/api/search?q=caf%E9",
                                 "/api/articles/%C3%28", "/articles/abc%FF"])
def test_invalid_utf8_is_rejected(client: TestClient, url: str) -> None:
    assert_error(client.get(url), 400, "invalid_encoding")


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert_error(client.get("/api/nothing-here"), 404, "not_found")
    assert_error(client.put("/api/search"), 405, "method_not_allowed")
    assert_error(client.delete("/healthz"), 405, "method_not_allowed")


def test_invalid_api_key(client: TestClient) -> None:
    assert_error(client.get("/api/search", params={"q": "vpn"},
                            headers={"Authorization": "Bearer wrong"}), 401, "invalid_api_key")
    assert_error(client.get("/api/search", params={"q": "vpn"},
                            headers={"Authorization": "Basic abc"}), 401, "invalid_api_key")


def test_admin_routes_need_the_admin_token(client: TestClient) -> None:
    assert_error(client.get("/api/metrics/search"), 401, "unauthorized")
    assert_error(client.get("/api/metrics/search", headers=ENGINEER), 403, "forbidden")
    assert_error(client.post("/api/admin/reindex", headers=ENGINEER), 403, "forbidden")
    r = client.get("/api/metrics/search", headers=ADMIN)
    assert r.status_code == 200
    body = r.json()
    assert {"totals", "top_queries", "top_zero_result_queries", "per_day"} <= set(body)
    assert {"searches", "zero_result_rate", "ctr", "median_ms", "p95_ms"} <= set(body["totals"])
    status = client.get("/api/admin/reindex", headers=ADMIN).json()
    assert {"running", "index_version", "last_build"} <= set(status)


def test_cors_for_configured_origins(client: TestClient) -> None:
    ok = client.get("/api/search", params={"q": "vpn"},
                    headers={"Origin": "https://wiki.example"})
    assert ok.headers["access-control-allow-origin"] == "https://wiki.example"
    other = client.get("/api/search", params={"q": "vpn"},
                       headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    err = client.get("/api/search", params={"q": ""}, headers={"Origin": "https://wiki.example"})
    assert err.status_code == 422
    assert err.headers["access-control-allow-origin"] == "https://wiki.example"


def test_unhandled_errors_hide_the_traceback(client: TestClient) -> None:
    search = client.app.state.services.search  # type: ignore[attr-defined]
    previous = search.index

    class Broken:
        @property
        def searcher(self) -> None:
            raise RuntimeError("secret internal detail")

    search.index = Broken()
    quiet = TestClient(client.app, raise_server_exceptions=False, base_url="http://localhost")
    try:
        r = quiet.get("/api/search", params={"q": "password expired"})
    finally:
        search.index = previous
    body = assert_error(r, 500, "internal_error")
    assert "secret" not in body["error"]["message"]


def test_admin_disabled_without_token(tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    with client_for(settings_for(tmp_path, kb_index, admin_token=None), embedder) as c:
        assert_error(c.post("/api/admin/reindex", headers=ADMIN), 403, "admin_disabled")
        assert_error(c.get("/api/metrics/search", headers=ADMIN), 403, "admin_disabled")


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, kb_index: Path,
                                                  embedder: Embedder) -> None:
    settings = settings_for(tmp_path, kb_index, rate_limit_per_second=0.01, rate_limit_burst=3)
    with client_for(settings, embedder) as c:
        codes = [c.get("/api/search", params={"q": "vpn"}).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = c.get("/api/search", params={"q": "vpn"})
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        # Only search (and chat) are limited: reading an article still works.
        assert c.get("/api/articles/vpn-gateway-unreachable").status_code == 200
