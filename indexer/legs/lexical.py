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

from indexer.legs import LegHit, Mask, top_k
from indexer.normalize import is_stopword_token
from indexer.query import PreparedQuery


class LexicalLeg:
    """Okapi BM25 with eagerly computed term weights: a query is a sum of sparse rows."""

    name: ClassVar[str] = "lexical"

    def __init__(self, vocab: dict[str, int], weights: sparse.csr_matrix) -> None:
        self.vocab = vocab
        # Terms x documents, the BM25 contribution of each term to each doc, as the CSR arrays
        # alone: a query reads a few rows straight from them (scipy's row indexing and sum cost
        # ten times more for so little), and no second copy is kept (~120 MB at 50k articles).
        self._indptr = weights.indptr.astype(np.int64, copy=False)
        self._docs = weights.indices.astype(np.int32, copy=False)
        self._weights = weights.data.astype(np.float32, copy=False)
        self.n_docs = int(weights.shape[1])

    @property
    def weights(self) -> sparse.csr_matrix:
        """The term x document matrix (a view of the leg's arrays, nothing copied)."""
        return sparse.csr_matrix((self._weights, self._docs, self._indptr),
                                 shape=(len(self._indptr) - 1, self.n_docs), copy=False)

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

    def _row(self, term_id: int) -> slice:
        return slice(int(self._indptr[term_id]), int(self._indptr[term_id + 1]))

    def scores(self, tokens: Sequence[str]) -> tuple[npt.NDArray[np.float32], list[str]]:
        terms = [t for t in dict.fromkeys(tokens) if t in self.vocab]
        summed = np.zeros(self.n_docs, dtype=np.float32)
        # A row holds each document once, so a fancy-indexed += is exact: float32, row by row, in
        # the order scipy's row sum adds them (a whole-query np.add.at cost ten times more).
        for term in terms:
            row = self._row(self.vocab[term])
            summed[self._docs[row]] += self._weights[row]
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
            for term_id in content:
                matched_any[self._docs[self._row(term_id)]] = True
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
