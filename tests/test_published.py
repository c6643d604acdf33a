"""Snapshots published through the database (several replicas, no shared filesystem).

1. A published snapshot fetched into an empty index directory is byte for byte the one built,
   loads, and is current; publishing it again stores nothing new.
2. A corrupt publication (a changed byte) is refused: nothing is renamed into place, CURRENT
   stays, no temporary folder is left behind.
3. Only the newest publications are kept.
4. Two servers on one database: the one without a snapshot fetches the other's at startup (it
   has no content to build from); a reindex on the first is published and the second loads it.
5. ``fieldguide index --publish`` publishes what it built.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.cli import main
from app.index import IndexHolder
from app.published import KEEP_PUBLISHED, PublicationChunkRow, PublicationRow, SnapshotStore
from indexer.embed import Embedder
from indexer.snapshot import Snapshot, SnapshotError, current_version
from tests.api_support import ADMIN, CONTENT, client_for, copy_index, settings_for
from tests.test_api_reindex import NEW_ARTICLE


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_publish_then_fetch_round_trip(engine: Engine, kb_index: Path, tmp_path: Path) -> None:
    store = SnapshotStore(engine)
    version = current_version(kb_index)
    assert version is not None
    pub = store.publish(kb_index)
    assert pub.version == version and pub.size > 0 and len(pub.sha256) == 64
    assert store.publish(kb_index).id == pub.id  # already published: nothing new

    replica = tmp_path / "replica"
    assert store.pull(replica, have=None).id == pub.id  # type: ignore[union-attr]
    assert current_version(replica) == version
    assert _files(replica / "versions" / version) == _files(kb_index / "versions" / version)
    assert len(Snapshot.load(replica).articles) == len(Snapshot.load(kb_index).articles)
    assert store.pull(replica, have=version) is None


def test_corrupt_publication_is_refused(engine: Engine, kb_index: Path, tmp_path: Path) -> None:
    store = SnapshotStore(engine)
    pub = store.publish(kb_index)
    with Session(engine) as s, s.begin():
        data = s.scalars(select(PublicationChunkRow.data).where(
            PublicationChunkRow.publication_id == pub.id, PublicationChunkRow.seq == 0)).one()
        s.execute(update(PublicationChunkRow).where(
            PublicationChunkRow.publication_id == pub.id, PublicationChunkRow.seq == 0)
            .values(data=bytes([data[0] ^ 1]) + data[1:]))
    replica = tmp_path / "replica"
    with pytest.raises(SnapshotError, match="corrupt"):
        store.fetch(replica, pub)
    assert current_version(replica) is None
    assert list((replica / "versions").iterdir()) == []


def test_only_the_newest_publications_are_kept(engine: Engine, kb_index: Path,
                                               tmp_path: Path) -> None:
    store = SnapshotStore(engine)
    index = copy_index(kb_index, tmp_path / "index")
    version = current_version(index)
    assert version is not None
    names = []
    for n in range(KEEP_PUBLISHED + 2):
        name = f"{version}-{n}"
        shutil.copytree(index / "versions" / version, index / "versions" / name)
        names.append(store.publish(index, name).version)
    with Session(engine) as s:
        kept = list(s.scalars(select(PublicationRow.version).order_by(PublicationRow.id)))
        chunk_owners = set(s.scalars(select(PublicationChunkRow.publication_id)))
        ids = set(s.scalars(select(PublicationRow.id)))
    assert kept == names[-KEEP_PUBLISHED:]
    assert chunk_owners == ids
    assert store.latest().version == names[-1]  # type: ignore[union-attr]


@pytest.mark.slow
def test_two_servers_share_snapshots_through_the_database(
        db_url: str, kb_index: Path, embedder: Embedder, tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    a = settings_for(tmp_path / "a", copy_index(kb_index, tmp_path / "a-index"), content,
                     database_url=db_url, publish_snapshots=True, snapshot_poll_seconds=3600)
    empty = tmp_path / "no-content"
    empty.mkdir()
    b = settings_for(tmp_path / "b", tmp_path / "b-index", empty, database_url=db_url,
                     publish_snapshots=True, snapshot_poll_seconds=3600)
    with client_for(a, embedder) as ca, client_for(b, embedder) as cb:
        ha: IndexHolder = ca.app.state.index  # type: ignore[attr-defined]
        hb: IndexHolder = cb.app.state.index  # type: ignore[attr-defined]
        assert hb.searcher.version == ha.searcher.version  # fetched, not built (no content)
        assert hb.last_build is None
        (content / "end-user" / "zebra-printer-ribbon.md").write_text(NEW_ARTICLE)
        assert ca.post("/api/admin/reindex", headers=ADMIN).status_code == 202
        assert ha.wait_idle(timeout=300) and ha.last_build and ha.last_build["ok"]
        assert cb.get("/api/articles/zebra-printer-ribbon").status_code == 404
        assert hb.pull() is True
        assert hb.searcher.version == ha.searcher.version
        hit = cb.get("/api/search", params={"q": "zebra ribbon out"}).json()["results"][0]
        assert hit["id"] == "zebra-printer-ribbon"
        assert hb.pull() is False  # nothing newer


@pytest.mark.slow
def test_cli_index_publish(tmp_path: Path, kb_index: Path, monkeypatch: pytest.MonkeyPatch
                           ) -> None:
    db = tmp_path / "fg.db"
    index = copy_index(kb_index, tmp_path / "index")  # the vector cache makes the build cheap
    monkeypatch.setenv("FIELDGUIDE_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("FIELDGUIDE_DATA_DIR", str(tmp_path))
    out = io.StringIO()
    assert main(["index", "--content", str(CONTENT), "--index", str(index), "--publish"],
                out=out) == 0
    version = current_version(index)
    assert f"published snapshot {version}" in out.getvalue()
    from app.db import make_engine

    eng = make_engine(f"sqlite:///{db}")
    try:
        assert SnapshotStore(eng).latest().version == version  # type: ignore[union-attr]
    finally:
        eng.dispose()
