"""The ``lexical`` leg: BM25 over title, symptoms, identifiers and body (fields by repetition)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import sparse

from indexer.legs import LegHit, Mask, ranges, top_k
from indexer.normalize import is_stopword_token
from indexer.query import PreparedQuery


class LexicalLeg:
    """Okapi BM25 with eagerly computed term weights: a query is a sum of sparse rows."""

    name: ClassVar[str] = "lexical"

    def __init__(self, vocab: dict[str, int], weights: sparse.csr_matrix) -> None:
        self.vocab = vocab
        self.weights = weights  # terms x documents, BM25 contribution of each term to each doc
        # A query reads a few rows: gathered straight from the CSR arrays (scipy's row indexing
        # and sum cost ten times more for so little).
        self._indptr = weights.indptr.astype(np.int64)
        self._docs = weights.indices.astype(np.int64)
        self._weights = weights.data.astype(np.float32)
        self.n_docs = int(weights.shape[1])

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> LexicalLeg:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for d, tokens in enumerate(docs):
            lengths[d] = len(tokens)
            for term, tf in Counter(tokens).items():
                rows.append(vocab.setdefault(term, len(vocab)))
                cols.append(d)
                tfs.append(tf)
        n_docs = max(len(docs), 1)
        tf_arr = np.asarray(tfs, dtype=np.float32)
        row = np.asarray(rows, dtype=np.int64)
        col = np.asarray(cols, dtype=np.int64)
        df = np.bincount(row, minlength=len(vocab)).astype(np.float32)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if len(docs) else 1.0
        norm = k1 * (1 - b + b * lengths[col] / max(avgdl, 1.0))
        w = idf[row] * tf_arr * (k1 + 1) / (tf_arr + norm)
        matrix = sparse.csr_matrix((w, (row, col)), shape=(len(vocab), len(docs)),
                                   dtype=np.float32)
        return cls(vocab, matrix)

    def _postings(self, term_ids: list[int]) -> npt.NDArray[np.int64]:
        """Positions in the CSR arrays of every document entry of ``term_ids``' rows."""
        rows = np.asarray(term_ids, dtype=np.int64)
        starts = self._indptr[rows]
        return ranges(starts, self._indptr[rows + 1] - starts)

    def scores(self, tokens: Sequence[str]) -> tuple[npt.NDArray[np.float32], list[str]]:
        terms = [t for t in dict.fromkeys(tokens) if t in self.vocab]
        if not terms:
            return np.zeros(self.n_docs, dtype=np.float32), []
        at = self._postings([self.vocab[t] for t in terms])
        summed = np.zeros(self.n_docs, dtype=np.float32)
        np.add.at(summed, self._docs[at], self._weights[at])  # float32, row by row, as scipy sums
        return summed, terms

    def search(self, query: PreparedQuery, k: int, allowed: Mask | None) -> list[LegHit]:
        scores, _ = self.scores(query.tokens)
        # Stop words are indexed (error messages are made of them: "could not be updated") but
        # a document that matches nothing else has not matched the query.
        content = [self.vocab[t] for t in dict.fromkeys(query.tokens)
                   if t in self.vocab and not is_stopword_token(t)]
        if not content:
            return []
        if len(content) < len(set(query.tokens)):
            matched_any = np.zeros(self.n_docs, dtype=bool)  # every BM25 weight is positive
            matched_any[self._docs[self._postings(content)]] = True
            allowed = matched_any if allowed is None else (allowed & matched_any)
        return [LegHit(d, s) for d, s in top_k(scores, k, allowed)]

    def save(self, directory: Path) -> None:
        sparse.save_npz(directory / "lexical.npz", self.weights, compressed=False)
        (directory / "lexical-vocab.json").write_text(json.dumps(self.vocab))

    @classmethod
    def load(cls, directory: Path, n_docs: int) -> LexicalLeg:
        vocab = json.loads((directory / "lexical-vocab.json").read_text())
        weights = sparse.load_npz(directory / "lexical.npz").tocsr()
        return cls(vocab, weights)
