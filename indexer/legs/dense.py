"""The ``dense`` leg: faiss over chunk embeddings (flat by default, HNSW by setting).

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

from indexer.legs import LegHit, Mask, top_k
from indexer.query import PreparedQuery


class FaissKind(StrEnum):
    FLAT = "flat"
    HNSW = "hnsw"


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
        # A flat index is an exact dot product: numpy does it over all chunks in about a
        # millisecond and then filters by audience and takes each article's best chunk without a
        # Python loop. HNSW keeps faiss's approximate search.
        self._matrix: npt.NDArray[np.float32] | None = None
        if isinstance(index, faiss.IndexFlat) and index.ntotal:
            self._matrix = index.reconstruct_n(0, index.ntotal)

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32], owners: list[int], n_docs: int,
              kind: FaissKind = FaissKind.FLAT, labels: list[str] | None = None) -> DenseLeg:
        dim = vectors.shape[1]
        index: faiss.Index
        if kind is FaissKind.HNSW:
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 128
        else:
            index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, np.asarray(owners, dtype=np.int64), n_docs, labels)

    def chunks(self, doc: int) -> Chunks:
        """Article ``doc``'s chunk vectors and labels (read back from the index: flat and HNSW
        indexes both store the vectors)."""
        ids = self._order[self._starts[doc]: self._starts[doc + 1]]
        labels = tuple(self.labels[i] for i in ids.tolist())
        if self._matrix is not None:
            return Chunks(self._matrix[ids], labels)
        dim = int(self.index.d)
        if not len(ids):
            return Chunks(np.zeros((0, dim), dtype=np.float32), labels)
        return Chunks(np.stack([self.index.reconstruct(int(i)) for i in ids]).astype(np.float32),
                      labels)

    def article_scores(self, vector: npt.NDArray[np.float32], k: int,
                       allowed: Mask | None) -> list[tuple[int, float]]:
        total = int(self.index.ntotal)
        if total == 0:
            return []
        if self._matrix is not None:
            sims = self._matrix @ vector.astype(np.float32)
            if allowed is not None:
                sims = np.where(allowed[self.owners], sims, -np.inf).astype(np.float32)
            per_doc = np.full(self.n_docs, -np.inf, dtype=np.float32)
            np.maximum.at(per_doc, self.owners, sims)
            return top_k(per_doc, k, None, minimum=-np.inf)
        fetch = min(total, max(k * 12, 256))
        # One query vector gains nothing from OpenMP threads, whose spinning fights the server's
        # threads for the cores (46 ms instead of 13 ms per search from a worker thread). The
        # setting is per calling thread, so it is made here, in whichever thread searches.
        faiss.omp_set_num_threads(1)
        while True:
            sims, ids = self.index.search(vector.reshape(1, -1), fetch)
            best: dict[int, float] = {}
            for chunk, sim in zip(ids[0], sims[0], strict=True):
                if chunk < 0:
                    continue
                doc = int(self.owners[chunk])
                if (allowed is None or allowed[doc]) and doc not in best:
                    best[doc] = float(sim)
            if len(best) >= k or fetch >= total:
                return sorted(best.items(), key=lambda kv: -kv[1])[:k]
            fetch = min(total, fetch * 4)

    def search(self, query: PreparedQuery, k: int, allowed: Mask | None) -> list[LegHit]:
        if query.vector is None:
            raise ValueError("the dense leg needs the query vector (PreparedQuery.with_vector)")
        return [LegHit(d, s) for d, s in self.article_scores(query.vector, k, allowed)]

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
