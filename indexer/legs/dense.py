"""The ``dense`` leg: faiss over chunk embeddings, exact (flat) for a small knowledge base and
approximate (HNSW) from ``HNSW_MIN_CHUNKS`` chunks on (``FaissKind.AUTO``, the default).

It also keeps what each chunk is (its section label, ``head`` first), so that the chatbot can ask
which part of an article matched a question (``chunks``) without re-chunking the article.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, NamedTuple

import faiss
import numpy as np
import numpy.typing as npt

from indexer.legs import LegHit, Mask, ranges, top_k
from indexer.query import PreparedQuery


class FaissKind(StrEnum):
    AUTO = "auto"  # flat below HNSW_MIN_CHUNKS chunks, HNSW from there
    FLAT = "flat"
    HNSW = "hnsw"


# From this many chunks on, AUTO builds HNSW (bench/scale.py, bench/README.md: on this 2-core
# machine an exact scan of 305k chunks, 50k articles, costs ~100 ms of a core per query, HNSW
# 1.4-7.5 ms; at 31k chunks the scan is ~20 ms under load and a few ms idle, and needs no graph).
HNSW_MIN_CHUNKS = 100_000
# HNSW graph degree and build breadth; the search breadth is max(HNSW_EF_SEARCH, chunks fetched).
# At 50k near-duplicate articles, recall@10 against exact search: efSearch 256 0.908, 512 0.939,
# 1024 0.973 (dense leg p50 1.4 / 2.8 / 7.5 ms).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 1024
# With an audience mask, HNSW searches only the allowed chunks (a faiss ID selector). When few
# chunks are allowed the graph walk degrades, and an exact scan of just those chunks is cheaper
# and exact: below this many allowed chunks, or this share of all, the scan is used.
# A chunk "agrees" with its article's best one when its cosine is within this of the best
# (LegHit.agree; bench/README.md: chosen leave-one-corpus-out among 0.03, 0.05 and 0.1).
AGREE_MARGIN = 0.03
EXACT_MASKED_CHUNKS = 30_000
EXACT_MASKED_SHARE = 0.2


def resolve_kind(kind: FaissKind, n_chunks: int, hnsw_min_chunks: int = HNSW_MIN_CHUNKS
                 ) -> FaissKind:
    """The index kind actually built for ``n_chunks`` chunks."""
    if kind is FaissKind.AUTO:
        return FaissKind.HNSW if n_chunks >= hnsw_min_chunks else FaissKind.FLAT
    return kind


Matrix = npt.NDArray[np.float32]


class Chunks(NamedTuple):
    """One article's chunks: their vectors (rows, normalised) and section labels, in order."""

    vectors: Matrix
    labels: tuple[str, ...]

    def similarities(self, vector: Matrix) -> Matrix:
        """Cosine of ``vector`` with each chunk."""
        if self.vectors.size == 0:
            return np.zeros(0, dtype=np.float32)
        return self.vectors @ vector


class DenseLeg:
    """Chunk vectors in faiss; an article scores the best cosine of any of its chunks."""

    name: ClassVar[str] = "dense"

    def __init__(self, index: faiss.Index, owners: npt.NDArray[np.int64], n_docs: int,
                 labels: list[str] | None = None) -> None:
        self.index = index
        self.owners = owners
        self.n_docs = n_docs
        # Section label per chunk. An index saved before labels were stored has none: "" each.
        self.labels = labels if labels is not None and len(labels) == len(owners) else \
            [""] * len(owners)
        # Each article's chunks, as positions in the index: chunks are added article by article,
        # so these are runs; the stable sort keeps them right even if they were not.
        self._order = np.argsort(owners, kind="stable")
        self._starts = np.searchsorted(owners[self._order], np.arange(n_docs + 1))
        # A flat index is an exact dot product: numpy does it over all chunks (about a
        # millisecond for 20k chunks) and then filters by audience and takes each article's best
        # chunk without a Python loop. HNSW keeps faiss's approximate search. Both store the
        # vectors in a flat array, read here in place (a copy would double the memory).
        self.exact = isinstance(index, faiss.IndexFlat)
        self._matrix: Matrix | None = _vectors_view(index)

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32], owners: list[int], n_docs: int,
              kind: FaissKind = FaissKind.AUTO, labels: list[str] | None = None,
              hnsw_min_chunks: int = HNSW_MIN_CHUNKS) -> DenseLeg:
        dim = vectors.shape[1]
        index: faiss.Index
        if resolve_kind(kind, len(vectors), hnsw_min_chunks) is FaissKind.HNSW:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, np.asarray(owners, dtype=np.int64), n_docs, labels)

    @property
    def kind(self) -> FaissKind:
        return FaissKind.FLAT if self.exact else FaissKind.HNSW

    def chunks(self, doc: int) -> Chunks:
        """Article ``doc``'s chunk vectors and labels (read back from the index: flat and HNSW
        indexes both store the vectors)."""
        ids = self._order[self._starts[doc]: self._starts[doc + 1]]
        labels = tuple(self.labels[i] for i in ids.tolist())
        if self._matrix is not None:
            return Chunks(self._matrix[ids], labels)
        return Chunks(np.zeros((0, int(self.index.d)), dtype=np.float32), labels)

    def article_scores(self, vector: npt.NDArray[np.float32], k: int,
                       allowed: Mask | None) -> list[tuple[int, float]]:
        total = int(self.index.ntotal)
        if total == 0 or self._matrix is None:
            return []
        vector = vector.astype(np.float32)
        if self.exact:
            sims = self._matrix @ vector
            if allowed is not None:
                sims = np.where(allowed[self.owners], sims, -np.inf).astype(np.float32)
            return self._best_per_doc(sims, self.owners, k)
        chunk_ok: npt.NDArray[np.bool_] | None = None
        if allowed is not None:
            chunk_ok = allowed[self.owners]
            n_ok = int(chunk_ok.sum())
            if n_ok == 0:
                return []
            if n_ok <= EXACT_MASKED_CHUNKS or n_ok <= EXACT_MASKED_SHARE * total:
                # Few allowed chunks: scan exactly those.
                rows = np.flatnonzero(chunk_ok)
                return self._best_per_doc(self._matrix[rows] @ vector, self.owners[rows], k)
        return self._graph_search(vector, k, chunk_ok, total, allowed)

    def _best_per_doc(self, sims: Matrix, owners: npt.NDArray[np.int64], k: int
                      ) -> list[tuple[int, float]]:
        per_doc = np.full(self.n_docs, -np.inf, dtype=np.float32)
        np.maximum.at(per_doc, owners, sims)
        return top_k(per_doc, k, None, minimum=-np.inf)

    def _graph_search(self, vector: Matrix, k: int, chunk_ok: npt.NDArray[np.bool_] | None,
                      total: int, allowed: Mask | None) -> list[tuple[int, float]]:
        """HNSW: the nearest chunks (only allowed ones, through an ID selector, when masked),
        fetched in growing numbers until they cover ``k`` articles."""
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # not in its stubs
        bitmap = None  # the selector reads it: kept alive until the search returns
        if chunk_ok is not None:
            bitmap = np.packbits(chunk_ok, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # bytes
        fetch = min(total, max(k * 12, 256))
        # One query vector gains nothing from OpenMP threads, whose spinning fights the server's
        # threads for the cores (46 ms instead of 13 ms per search from a worker thread). The
        # setting is per calling thread, so it is made here, in whichever thread searches.
        faiss.omp_set_num_threads(1)
        while True:
            params.efSearch = max(HNSW_EF_SEARCH, fetch)
            sims, ids = self.index.search(vector.reshape(1, -1), fetch, params=params)
            best: dict[int, float] = {}
            for chunk, sim in zip(ids[0], sims[0], strict=True):
                if chunk < 0:
                    continue
                doc = int(self.owners[chunk])
                # The selector already keeps other audiences out; checked again, never trusted.
                if (allowed is None or allowed[doc]) and doc not in best:
                    best[doc] = float(sim)
            if len(best) >= k or fetch >= total:
                return sorted(best.items(), key=lambda kv: -kv[1])[:k]
            fetch = min(total, fetch * 4)

    def agreement(self, vector: Matrix, found: list[tuple[int, float]]) -> list[float]:
        """For each (article, best cosine): the share of its chunks within ``AGREE_MARGIN`` of
        that best cosine (one matrix product over the found articles' chunks)."""
        if not found or self._matrix is None:
            return [0.0] * len(found)
        docs = np.fromiter((d for d, _ in found), dtype=np.int64, count=len(found))
        starts = self._starts[docs]
        lens = self._starts[docs + 1] - starts
        ids = self._order[ranges(starts, lens)]
        sims = self._matrix[ids] @ vector.astype(np.float32)
        best = np.repeat(np.fromiter((s for _, s in found), dtype=np.float32,
                                     count=len(found)), lens)
        near = (sims >= best - AGREE_MARGIN).astype(np.float64)
        counts = np.add.reduceat(near, np.concatenate(([0], np.cumsum(lens)[:-1]))) \
            if len(near) else np.zeros(len(found))
        shares: list[float] = (counts / np.maximum(lens, 1)).tolist()
        return shares

    def search(self, query: PreparedQuery, k: int, allowed: Mask | None) -> list[LegHit]:
        if query.vector is None:
            raise ValueError("the dense leg needs the query vector (PreparedQuery.with_vector)")
        found = self.article_scores(query.vector, k, allowed)
        agree = self.agreement(query.vector, found)
        return [LegHit(d, s, (), a) for (d, s), a in zip(found, agree, strict=True)]

    def save(self, directory: Path) -> None:
        faiss.write_index(self.index, str(directory / "dense.faiss"))
        np.save(directory / "dense-owners.npy", self.owners)
        (directory / "dense-chunks.json").write_text(json.dumps(self.labels))

    @classmethod
    def load(cls, directory: Path, n_docs: int) -> DenseLeg:
        index = faiss.read_index(str(directory / "dense.faiss"))
        owners = np.load(directory / "dense-owners.npy")
        labels_file = directory / "dense-chunks.json"
        labels = json.loads(labels_file.read_text()) if labels_file.is_file() else None
        return cls(index, owners, n_docs, labels)


def _flat_storage(index: faiss.Index) -> faiss.IndexFlat | None:
    """The flat array of vectors behind a flat or HNSW-flat index."""
    if isinstance(index, faiss.IndexFlat):
        return index
    if isinstance(index, faiss.IndexHNSW):
        storage = faiss.downcast_index(index.storage)
        return storage if isinstance(storage, faiss.IndexFlat) else None
    return None


def _vectors_view(index: faiss.Index) -> Matrix | None:
    """The index's vectors as a numpy array over faiss's own memory (no copy); valid while the
    index lives (the leg keeps it)."""
    flat = _flat_storage(index)
    if flat is None:
        raise TypeError(f"unsupported faiss index {type(index).__name__}: rebuild the index")
    if not index.ntotal:
        return None
    view = faiss.rev_swig_ptr(flat.get_xb(), int(index.ntotal) * int(index.d))
    return np.asarray(view, dtype=np.float32).reshape(int(index.ntotal), int(index.d))
