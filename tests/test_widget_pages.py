"""The pages and static files over HTTP (no browser): content types, cache headers, a CSP with
no inline code anywhere, the /embed parameters, and the widget's own safety rules in its source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from indexer.embed import Embedder

ROOT = Path(__file__).resolve().parent.parent
WIDGET_JS = (ROOT / "static" / "widget.js").read_text(encoding="utf-8")
WIKI = "https://wiki.example.org"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("pages")
    settings = Settings(data_dir=tmp, content_dir=ROOT / "content", index_dir=kb_index,
                        database_url=f"sqlite:///{tmp / 'fg.db'}", cors_origins=[WIKI],
                        index_poll_seconds=0)
    with TestClient(create_app(settings, embedder), base_url="http://localhost") as c:
        yield c


def test_widget_js_is_served_as_javascript_with_revalidation(client: TestClient) -> None:
    r = client.get("/static/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cross-origin-resource-policy"] == "cross-origin"
    etag = r.headers["etag"]
    again = client.get("/static/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    versioned = client.get("/static/widget.js?v=abc")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    css = client.get("/static/pages.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"


def test_a_missing_static_file_is_a_json_404(client: TestClient) -> None:
    r = client.get("/static/nope.js")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/", "/chat", "/embed", "/freshness"])
def test_pages_have_a_strict_csp_and_no_inline_code(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    html = r.text
    assert "<style" not in html and " style=" not in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(" src=" in tag for tag in scripts)
    assert re.search(r'/static/widget\.js\?v=[0-9a-f]{12}"', html)
    assert not re.search(r"\bon[a-z]+=", html)  # no inline event handlers


def test_embed_parameters_are_validated_and_framing_follows_cors(client: TestClient) -> None:
    r = client.get("/embed", params={"tab": "ask", "theme": "dark", "q": '"><script>x'})
    assert r.status_code == 200
    assert 'tab="ask"' in r.text and 'theme="dark"' in r.text and 'target="_blank"' in r.text
    assert "<script>x" not in r.text and 'query="&quot;&gt;&lt;script&gt;x"' in r.text
    assert r.headers["content-security-policy"].endswith(f"frame-ancestors {WIKI}")
    bad = client.get("/embed", params={"tab": "chat"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"
    page = client.get("/")
    assert page.headers["content-security-policy"].endswith("frame-ancestors 'none'")


def test_widget_source_keeps_server_data_out_of_markup() -> None:
    # The rules the browser tests exercise, kept visible in the source too.
    assert not re.search(r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b", WIDGET_JS)
    assert "document.write" not in WIDGET_JS
    assert not re.search(r"\beval\(|new Function\(", WIDGET_JS)
    assert "createElement(\"style\")" not in WIDGET_JS  # blocked by style-src without inline
    assert "adoptedStyleSheets" in WIDGET_JS and "AbortController" in WIDGET_JS
    assert "res.ok" in WIDGET_JS


def test_readme_documents_embedding_with_its_screenshots() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Embedding the widget", 1)[1].split("\n## ", 1)[0]
    for needle in ("<fieldguide-search", "Docusaurus", "MediaWiki", "Confluence", "/embed",
                   "script-src", "connect-src", "style-src", "img-src",
                   "FIELDGUIDE_CORS_ORIGINS"):
        assert needle in section, needle
    shots = re.findall(r"\((docs/screenshots/[^)]+\.png)\)", section)
    assert len(shots) >= 2  # results and the assistant, at least
    for name in shots:
        assert (ROOT / name).is_file(), name
