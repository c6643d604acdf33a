"""The ``dense`` leg: faiss over chunk embeddings (flat by default, HNSW by setting)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from indexer.legs import LegHit, Mask, top_k
from indexer.query import PreparedQuery


class FaissKind(StrEnum):
    FLAT = "flat"
    HNSW = "hnsw"


class DenseLeg:
    """Chunk vectors in faiss; an article scores the best cosine of any of its chunks."""

    name = "dense"

    def __init__(self, index: faiss.Index, owners: npt.NDArray[np.int64], n_docs: int) -> None:
        self.index = index
        self.owners = owners
        self.n_docs = n_docs
        # A flat index is an exact dot product: numpy does it over all chunks in about a
        # millisecond and then filters by audience and takes each article's best chunk without a
        # Python loop. HNSW keeps faiss's approximate search.
        self._matrix: npt.NDArray[np.float32] | None = None
        if isinstance(index, faiss.IndexFlat) and index.ntotal:
            self._matrix = index.reconstruct_n(0, index.ntotal)

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32], owners: list[int], n_docs: int,
              kind: FaissKind = FaissKind.FLAT) -> DenseLeg:
        dim = vectors.shape[1]
        index: faiss.Index
        if kind is FaissKind.HNSW:
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 128
        else:
            index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, np.asarray(owners, dtype=np.int64), n_docs)

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

    def search(self, query: PreparedQuery, k: int, allowed: Mask | None,
               vector: npt.NDArray[np.float32] | None = None) -> list[LegHit]:
        if vector is None:
            raise ValueError("the dense leg needs the query vector")
        return [LegHit(d, s) for d, s in self.article_scores(vector, k, allowed)]

    def save(self, directory: Path) -> None:
        faiss.write_index(self.index, str(directory / "dense.faiss"))
        np.save(directory / "dense-owners.npy", self.owners)

    @classmethod
    def load(cls, directory: Path, n_docs: int) -> DenseLeg:
        index = faiss.read_index(str(directory / "dense.faiss"))
        owners = np.load(directory / "dense-owners.npy")
        return cls(index, owners, n_docs)
