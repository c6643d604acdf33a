"""Index lifecycle in the server: a reindex runs in the background and swaps atomically.

1. ``POST /api/admin/reindex`` answers 202 at once; a second one while it runs answers 409.
2. Searches and article reads issued while it runs all succeed (served by the old snapshot).
3. Afterwards the new snapshot is live and a new article in the content is searchable.
4. A snapshot written by another process is picked up by ``follow()``.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from app.index import IndexHolder, content_signature
from indexer.build import build_index
from indexer.embed import Embedder
from tests.api_support import (
    ADMIN,
    CONTENT,
    ENGINEER,
    assert_error,
    client_for,
    copy_index,
    settings_for,
)

NEW_ARTICLE = """---
id: zebra-printer-ribbon
title: Zebra label printer ribbon out
audience: [end-user]
---

# Zebra label printer ribbon out

## Symptom

The warehouse Zebra printer blinks red and says ribbon out.
"""


@pytest.mark.slow
def test_reindex_while_serving(tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    index = copy_index(kb_index, tmp_path / "index")
    with client_for(settings_for(tmp_path, index, content), embedder) as client:
        holder: IndexHolder = client.app.state.index  # type: ignore[attr-defined]
        before = holder.searcher.version
        (content / "end-user" / "zebra-printer-ribbon.md").write_text(NEW_ARTICLE)
        failures: list[str] = []
        served = 0
        stop = threading.Event()

        def hammer() -> None:
            nonlocal served
            while not stop.is_set():
                for r in (client.get("/api/search", params={"q": "vpn won't connect"}),
                          client.get("/api/articles/vpn-gateway-unreachable"),
                          client.get("/readyz")):
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    served += 1

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            r = client.post("/api/admin/reindex", headers=ADMIN)
            assert r.status_code == 202 and r.json()["status"] == "started"
            if holder.building:
                assert_error(client.post("/api/admin/reindex", headers=ADMIN), 409,
                             "reindex_running")
            assert holder.wait_idle(timeout=300)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert failures == []
        assert served > 0
        status = client.get("/api/admin/reindex", headers=ADMIN).json()
        assert status["last_build"]["ok"] is True
        assert status["index_version"] != before
        hit = client.get("/api/search", params={"q": "zebra ribbon out"}).json()["results"][0]
        assert hit["id"] == "zebra-printer-ribbon"
        assert client.get("/readyz").json()["articles"] == 70
        # The database mirror followed the swap.
        from sqlalchemy import select

        from app.models import ArticleRow

        with client.app.state.sessions() as session:  # type: ignore[attr-defined]
            ids = set(session.scalars(select(ArticleRow.id).where(ArticleRow.present)))
        assert "zebra-printer-ribbon" in ids and len(ids) == 70
        assert client.get("/api/articles/zebra-printer-ribbon", headers=ENGINEER).status_code \
            == 200


@pytest.mark.slow
def test_follow_loads_a_snapshot_built_elsewhere(tmp_path: Path, kb_index: Path,
                                                 embedder: Embedder) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    index = copy_index(kb_index, tmp_path / "index")
    with client_for(settings_for(tmp_path, index, content), embedder) as client:
        holder: IndexHolder = client.app.state.index  # type: ignore[attr-defined]
        (content / "end-user" / "zebra-printer-ribbon.md").write_text(NEW_ARTICLE)
        cached = embedder.with_cache(index / "embeddings.sqlite")  # the session's model, loaded once
        report = build_index(content, index, cached)  # as `fieldguide index` would
        assert holder.searcher.version != report.version
        holder.follow()
        assert holder.searcher.version == report.version
        assert client.get("/api/articles/zebra-printer-ribbon").status_code == 200


def test_content_signature_sees_edits(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("one")
    first = content_signature(tmp_path)
    (tmp_path / "notes.txt").write_text("ignored")
    assert content_signature(tmp_path) == first
    (tmp_path / "b.md").write_text("two")
    assert content_signature(tmp_path) != first
