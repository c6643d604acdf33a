"""Per-article chunk vectors taken from the index snapshot, for question-vs-article similarity.

The searcher reports one dense score per article; the chatbot also wants the head chunk's
similarity and *which* section matched best (to quote it), so it keeps the chunk matrix itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexer.build import chunk_article
from indexer.search import Searcher

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ArticleVectors:
    """Chunk vectors grouped by article row: ``rows[doc]`` is a (chunks, dim) matrix."""

    version: str
    rows: list[Matrix]
    kinds: list[list[str]]  # section label of each chunk ("head" first), parallel to ``rows``
    ids: dict[str, int]  # article id -> row

    @classmethod
    def from_searcher(cls, searcher: Searcher) -> ArticleVectors:
        snap = searcher.snapshot
        n = len(snap.articles)
        index = snap.dense.index
        owners = np.asarray(snap.dense.owners)
        total = int(index.ntotal)
        try:
            # Flat and HNSW-flat faiss indexes store the vectors: reuse them, no re-embedding.
            matrix = np.asarray(index.reconstruct_n(0, total), dtype=np.float32) if total else \
                np.zeros((0, 0), dtype=np.float32)
        except RuntimeError:
            matrix = cls._embed_again(searcher, owners)
        rows: list[Matrix] = []
        kinds: list[list[str]] = []
        for doc in range(n):
            sel = np.flatnonzero(owners == doc)
            rows.append(np.ascontiguousarray(matrix[sel]) if len(sel) else
                        np.zeros((0, matrix.shape[1] if matrix.ndim == 2 else 0), np.float32))
            labels = [c.kind for c in chunk_article(doc, snap.articles[doc])]
            # Chunk labels are recomputed: trust them only when they line up with the index.
            kinds.append(labels if len(labels) == len(sel) else [""] * len(sel))
        return cls(searcher.version, rows, kinds, {a.id: i for i, a in enumerate(snap.articles)})

    @staticmethod
    def _embed_again(searcher: Searcher, owners: npt.NDArray[np.int64]) -> Matrix:
        texts: list[str] = []
        for doc, article in enumerate(searcher.snapshot.articles):
            texts.extend(c.text for c in chunk_article(doc, article))
        vectors, _ = searcher.embedder.encode_documents(texts)
        return vectors

    def similarities(self, doc: int, vector: Matrix) -> Matrix:
        """Cosine of ``vector`` with each chunk of article ``doc`` (vectors are normalised)."""
        rows = self.rows[doc]
        if rows.size == 0:
            return np.zeros(0, dtype=np.float32)
        return rows @ vector
