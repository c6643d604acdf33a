"""The dense index switches from exact (flat) to approximate (HNSW) by size, and the approximate
index answers like the exact one and never lets anything outside a caller's audiences through."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.settings import Settings
from indexer.article import Audience
from indexer.build import build_index
from indexer.embed import Embedder
from indexer.legs import dense as dense_module
from indexer.legs.dense import HNSW_MIN_CHUNKS, DenseLeg, FaissKind, resolve_kind
from indexer.search import Searcher
from indexer.snapshot import Snapshot

CONTENT = Path(__file__).resolve().parent.parent / "content"
QUERIES = ["vpn will not connect", "printer is offline", "password expired cannot sign in",
           "disk full on the database server", "certificate expired", "outlook keeps asking for "
           "my password", "how do I reset my MFA", "kubernetes pod crash loop", "wifi drops",
           "x509: certificate has expired or is not yet valid"]


@pytest.fixture(scope="module")
def hnsw_index(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
               embedder: Embedder) -> Path:
    """The sample content built with the HNSW threshold lowered to one chunk (vectors from the
    session index's cache: nothing is embedded again)."""
    index_dir = tmp_path_factory.mktemp("hnsw-index")
    shutil.copy(kb_index / "embeddings.sqlite", index_dir / "embeddings.sqlite")
    report = build_index(CONTENT, index_dir, embedder.with_cache(index_dir / "embeddings.sqlite"),
                         hnsw_min_chunks=1)
    assert report.embedded == 0
    return index_dir


@pytest.fixture(scope="module")
def hnsw_searcher(hnsw_index: Path, embedder: Embedder) -> Searcher:
    return Searcher.open(hnsw_index, embedder)


def test_auto_is_the_default_and_keeps_small_knowledge_bases_exact(kb_index: Path) -> None:
    assert Settings().faiss_index is FaissKind.AUTO
    assert resolve_kind(FaissKind.AUTO, HNSW_MIN_CHUNKS - 1) is FaissKind.FLAT
    assert resolve_kind(FaissKind.AUTO, HNSW_MIN_CHUNKS) is FaissKind.HNSW
    assert resolve_kind(FaissKind.FLAT, 10 * HNSW_MIN_CHUNKS) is FaissKind.FLAT
    snapshot = Snapshot.load(kb_index)
    assert snapshot.manifest["faiss"] == "flat"
    assert snapshot.dense.kind is FaissKind.FLAT


def test_lowered_threshold_builds_hnsw_and_the_snapshot_loads_back(hnsw_index: Path) -> None:
    snapshot = Snapshot.load(hnsw_index)
    assert snapshot.manifest["faiss"] == "hnsw"
    assert snapshot.dense.kind is FaissKind.HNSW
    version = (hnsw_index / "CURRENT").read_text().strip()
    manifest = json.loads((hnsw_index / "versions" / version / "manifest.json").read_text())
    assert manifest["format"] == 1  # same files, same format: flat snapshots still load


def test_hnsw_gives_the_same_top_results_as_flat(searcher: Searcher,
                                                  hnsw_searcher: Searcher) -> None:
    assert searcher.snapshot.dense.kind is FaissKind.FLAT
    for query in QUERIES:
        exact = searcher.search(query, limit=5, snippets=False).results
        approx = hnsw_searcher.search(query, limit=5, snippets=False).results
        assert [r.article.id for r in approx] == [r.article.id for r in exact], query
        vector = searcher.embedder.encode_query(query)
        want = searcher.snapshot.dense.article_scores(vector, 10, None)
        got = hnsw_searcher.snapshot.dense.article_scores(vector, 10, None)
        assert [d for d, _ in got] == [d for d, _ in want], query
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


@pytest.mark.parametrize("path", ["exact scan of the allowed chunks", "HNSW ID selector"])
def test_hnsw_never_returns_another_audience(hnsw_searcher: Searcher, searcher: Searcher,
                                              monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    if path == "HNSW ID selector":  # no shortcut: the graph search filters by itself
        monkeypatch.setattr(dense_module, "EXACT_MASKED_CHUNKS", 0)
        monkeypatch.setattr(dense_module, "EXACT_MASKED_SHARE", 0.0)
    end_user = [Audience.END_USER]
    mask = hnsw_searcher.mask(end_user)
    assert 0 < mask.sum() < len(mask)
    for query in [*QUERIES, "help", "engineer runbook alert"]:
        results = hnsw_searcher.search(query, audiences=end_user, limit=50).results
        assert results and all(Audience.END_USER in r.article.audience for r in results), query
        vector = hnsw_searcher.embedder.encode_query(query)
        got = hnsw_searcher.snapshot.dense.article_scores(vector, 50, mask)
        assert got and all(mask[d] for d, _ in got), query
        want = searcher.snapshot.dense.article_scores(vector, 50, mask)
        assert [d for d, _ in got] == [d for d, _ in want], query


def _random_leg(kind: FaissKind, n_docs: int = 3000, per_doc: int = 3, dim: int = 32
                ) -> tuple[DenseLeg, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(n_docs * per_doc, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owners = np.repeat(np.arange(n_docs), per_doc).tolist()
    return DenseLeg.build(vectors, owners, n_docs, kind, hnsw_min_chunks=1), vectors


@pytest.mark.parametrize("share", [0.5, 0.01])
def test_masked_hnsw_on_a_larger_index(monkeypatch: pytest.MonkeyPatch, share: float) -> None:
    """9,000 random chunks, an audience mask allowing half or 1% of the articles: through the ID
    selector (shortcut off) and through the exact scan, only allowed articles, and k of them."""
    approx, vectors = _random_leg(FaissKind.AUTO)
    exact, _ = _random_leg(FaissKind.FLAT)
    assert approx.kind is FaissKind.HNSW and exact.kind is FaissKind.FLAT
    rng = np.random.default_rng(11)
    allowed = rng.random(approx.n_docs) < share
    queries = rng.normal(size=(40, vectors.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    for shortcut in (True, False):
        if not shortcut:
            monkeypatch.setattr(dense_module, "EXACT_MASKED_CHUNKS", 0)
            monkeypatch.setattr(dense_module, "EXACT_MASKED_SHARE", 0.0)
        hits = 0
        for q in queries:
            got = approx.article_scores(q, 10, allowed)
            want = exact.article_scores(q, 10, allowed)
            assert len(got) == 10 and all(allowed[d] for d, _ in got)
            hits += len({d for d, _ in got} & {d for d, _ in want})
        assert hits / (10 * len(queries)) >= 0.9, (shortcut, hits)
    nothing = np.zeros(approx.n_docs, dtype=bool)
    assert approx.article_scores(queries[0], 10, nothing) == []
    one = nothing.copy()
    one[1234] = True
    assert [d for d, _ in approx.article_scores(queries[0], 10, one)] == [1234]
