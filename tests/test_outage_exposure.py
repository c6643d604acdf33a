"""What callers may send and see: feedback about shown articles only, no addresses for anonymous
callers, and ``/api/freshness`` rate-limited like search.

1. Chat feedback naming an article the conversation never showed (an engineer article, or any
   other id) is ``409 article_not_shown`` and stores nothing; one it showed is accepted.
2. Anonymous callers never receive an owner's personal e-mail address: not in article JSON, not
   in ``/api/freshness`` (JSON or CSV), not in the article page; they get the owner's name and
   team. Engineers still get the addresses.
3. ``/api/freshness`` answers ``429 rate_limited`` with ``Retry-After`` past the burst.
"""

from __future__ import annotations

import re
from pathlib import Path

from indexer.embed import Embedder
from tests.api_support import ENGINEER, assert_error, client_for, copy_index, settings_for

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@brightwater\.example")
ARTICLE = "vpn-gateway-unreachable"


def _settings(tmp_path: Path, kb_index: Path, **extra: object) -> object:
    return settings_for(tmp_path / "data", copy_index(kb_index, tmp_path / "index"),
                        chat_sweep_seconds=0, freshness_schedule_hours=0, **extra)


def test_feedback_only_about_an_article_the_conversation_showed(
        tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    with client_for(_settings(tmp_path, kb_index), embedder) as client:  # type: ignore[arg-type]
        turn = client.post("/api/chat", json={"message": "vpn keeps disconnecting"}).json()
        shown = [s["id"] for s in turn["reply"]["sources"]]
        assert shown, turn
        engineer_only = client.get("/api/search", params={"q": "certificate expired"},
                                   headers=ENGINEER).json()["results"]
        hidden = next(r["id"] for r in engineer_only if r["id"] not in shown)
        for article_id in (hidden, "no-such-article"):
            response = client.post(f"/api/chat/{turn['session_id']}/feedback",
                                   json={"helpful": False, "article_id": article_id})
            assert_error(response, 409, "article_not_shown")
            assert article_id not in response.text  # the message does not echo probes
        ok = client.post(f"/api/chat/{turn['session_id']}/feedback",
                         json={"helpful": True, "article_id": shown[0]})
        assert ok.status_code == 200 and ok.json()["article_id"] == shown[0]


def test_anonymous_callers_get_names_never_addresses(
        tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    with client_for(_settings(tmp_path, kb_index), embedder) as client:  # type: ignore[arg-type]
        article = client.get(f"/api/articles/{ARTICLE}")
        assert article.status_code == 200
        assert article.json()["owner"] == "Carlos Mendez" and article.json()["team"]
        assert not EMAIL.search(article.text)
        page = client.get(f"/articles/{ARTICLE}")
        assert page.status_code == 200 and not EMAIL.search(page.text)
        report = client.get("/api/freshness")
        assert report.status_code == 200 and report.json()["articles"]
        assert not EMAIL.search(report.text), EMAIL.search(report.text)
        assert report.json()["by_owner"]
        csv = client.get("/api/freshness", params={"format": "csv"})
        assert csv.status_code == 200 and not EMAIL.search(csv.text)
        # An address from an anonymous caller confirms nothing; the name it was shown works.
        assert client.get("/api/freshness", params={
            "owner": "carlos.mendez@brightwater.example"}).json()["articles"] == []
        by_name = client.get("/api/freshness", params={"owner": "Carlos Mendez"}).json()
        assert ARTICLE in [a["id"] for a in by_name["articles"]]
        # Engineers keep the addresses they need to reach owners.
        assert client.get(f"/api/articles/{ARTICLE}", headers=ENGINEER).json()["owner"] == \
            "carlos.mendez@brightwater.example"
        assert EMAIL.search(client.get("/api/freshness", headers=ENGINEER).text)


def test_freshness_is_rate_limited_like_search(
        tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    settings = _settings(tmp_path, kb_index, rate_limit_per_second=1, rate_limit_burst=3)
    with client_for(settings, embedder) as client:  # type: ignore[arg-type]
        statuses = [client.get("/api/freshness").status_code for _ in range(6)]
        assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
        limited = client.get("/api/freshness")
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
