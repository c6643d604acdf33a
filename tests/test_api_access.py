"""The audience rule, everywhere: anonymous callers never learn of an engineer-only article.

1. Search by exact title, by alert name and by error code returns no engineer article, and no
   snippet, suggestion or explain output mentions it.
2. Opening it by id (JSON or page) is a 404, the same answer as for an article that does not
   exist; a click event for it is a 404 too.
3. With an engineer key the same requests find and open it (so the checks above can fail).
4. Asking for ``audience=engineer`` anonymously narrows to nothing instead of widening.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexer.embed import Embedder
from tests.api_support import ENGINEER, assert_error, client_for, settings_for

SECRET_ID = "alertmanager-notifications-not-delivered"
SECRET_TITLE = "Alertmanager not delivering notifications (no pages, no Slack alerts)"
SECRET_ALERT = "AlertmanagerFailedToSendAlerts"
SECRET_WORD = "alertmanager"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[TestClient]:
    with client_for(settings_for(tmp_path_factory.mktemp("api-access"), kb_index),
                    embedder) as c:
        yield c


def _search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    r = client.get("/api/search", params={"q": q, "explain": "true", "limit": 50, **params},
                   headers=params.pop("headers", None))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _visible_text(body: dict[str, Any]) -> str:
    """Everything in a response except the caller's own query echoed back."""
    rest = {k: v for k, v in body.items() if k not in ("query", "explain")}
    return json.dumps(rest).lower()


@pytest.mark.parametrize("query", [SECRET_TITLE, SECRET_ALERT, SECRET_ID, "Watchdog heartbeat "
                                   "missing in the dead-man's-switch service"])
def test_anonymous_search_never_shows_engineer_articles(client: TestClient, query: str) -> None:
    body = _search(client, query)
    ids = [r["id"] for r in body["results"]]
    assert SECRET_ID not in ids
    for r in body["results"]:
        article = client.get(f"/api/articles/{r['id']}").json()
        assert article["audience"] == ["end-user"]
    assert SECRET_WORD not in _visible_text(body)


@pytest.mark.parametrize("query", [SECRET_TITLE, SECRET_ALERT])
def test_engineer_key_finds_it(client: TestClient, query: str) -> None:
    r = client.get("/api/search", params={"q": query}, headers=ENGINEER)
    assert r.json()["results"][0]["id"] == SECRET_ID


def test_suggestions_use_only_visible_words(client: TestClient) -> None:
    typo = "alertmanagr notificatons"
    engineer = client.get("/api/search", params={"q": typo}, headers=ENGINEER).json()
    anonymous = client.get("/api/search", params={"q": typo}).json()
    assert engineer["suggestion"] is not None and SECRET_WORD in engineer["suggestion"]
    assert SECRET_WORD not in (anonymous["suggestion"] or "")


def test_article_by_id_is_404_for_anonymous(client: TestClient) -> None:
    hidden = assert_error(client.get(f"/api/articles/{SECRET_ID}"), 404, "not_found")
    missing = assert_error(client.get("/api/articles/no-such-article"), 404, "not_found")
    # Same code, same wording: nothing distinguishes "hidden" from "absent".
    assert hidden["error"]["message"].replace(SECRET_ID, "X") == \
        missing["error"]["message"].replace("no-such-article", "X")
    assert_error(client.get(f"/articles/{SECRET_ID}"), 404, "not_found")
    assert_error(client.post("/api/events/click", json={"article_id": SECRET_ID}), 404)


def test_article_by_id_opens_with_an_engineer_key(client: TestClient) -> None:
    r = client.get(f"/api/articles/{SECRET_ID}", headers=ENGINEER)
    assert r.status_code == 200 and r.json()["title"] == SECRET_TITLE
    page = client.get(f"/articles/{SECRET_ID}", headers=ENGINEER)
    assert page.status_code == 200 and "Alertmanager" in page.text


def test_audience_filter_cannot_widen_access(client: TestClient) -> None:
    body = _search(client, SECRET_TITLE, audience="engineer")
    assert body["results"] == [] and body["total"] == 0
    both = _search(client, SECRET_TITLE, audience=["engineer", "end-user"])
    assert SECRET_ID not in [r["id"] for r in both["results"]]
    eng = client.get("/api/search", params={"q": SECRET_TITLE, "audience": "engineer"},
                     headers=ENGINEER).json()
    assert eng["results"][0]["id"] == SECRET_ID


def test_anonymous_article_links_do_not_point_at_engineer_articles(client: TestClient) -> None:
    for article_id in ("vpn-gateway-unreachable", "account-locked-out"):
        html = client.get(f"/api/articles/{article_id}").json()["html"]
        assert f"/articles/{SECRET_ID}" not in html
