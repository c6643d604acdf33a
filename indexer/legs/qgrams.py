"""Exact candidate filters for the fuzzy leg: which strings rapidfuzz *could* score above a cutoff.

Scoring every fuzzy string of a knowledge base with rapidfuzz for every query was most of a
search's CPU. Almost none of them come close, and a count of shared q-grams proves it without an
alignment (the q-gram lemma, Ukkonen 1992): if ``x`` and ``y`` are ``k`` edits apart, they share
at least ``max(|x|, |y|) - q + 1 - k*q`` q-grams, counted with multiplicity. rapidfuzz's
``ratio`` is ``100 * (1 - indel / (|x| + |y|))`` and a Levenshtein distance is never larger than
the indel distance, so a score cutoff caps ``k`` and with it the q-grams a candidate must share.
The filters only remove strings whose score is *certainly* below the cutoff: the leg's output is
unchanged (``tests/test_fuzzy_filter.py`` compares them with scoring everything).

    >>> grams = QGramIndex(["access is denied", "disk is full"])
    >>> strings, lengths, common = grams.window("acess is denied")
    >>> strings.tolist(), common.tolist()  # by length; bigrams shared, with multiplicity
    ([1, 0], [3, 14])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
# rapidfuzz compares similarities in floating point; a hair of slack keeps the bound on the safe
# side of a score that equals the cutoff exactly.
SCORE_SLACK = 1e-6


def _codes(text: str) -> npt.NDArray[np.int64]:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def _gram_keys(codes: npt.NDArray[np.int64], q: int) -> npt.NDArray[np.int64]:
    """One int64 per q-gram of a code-point array (21 bits per code point, q <= 3)."""
    n = len(codes) - q + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = codes[:n].copy()
    for j in range(1, q):
        keys = (keys << 21) | codes[j:j + n]
    return keys


def _run_starts(*columns: IntArray) -> IntArray:
    """Where a run of equal rows starts in sorted columns."""
    change = np.zeros(len(columns[0]), dtype=bool)
    change[:1] = True
    for col in columns:
        change[1:] |= col[1:] != col[:-1]
    return np.flatnonzero(change)


class QGramIndex:
    """Postings of every q-gram of a list of strings: q-gram -> (string, count) pairs.

    Strings are numbered by length inside the index, so a length window is a range of every
    posting list and the postings outside it are never read."""

    def __init__(self, strings: Sequence[str], q: int = 2) -> None:
        if not 1 <= q <= 3:
            raise ValueError(f"q must be 1, 2 or 3, not {q}")
        self.q = q
        self.size = len(strings)
        self.lengths = np.array([len(s) for s in strings], dtype=np.int64)
        self._by_length = np.argsort(self.lengths, kind="stable")  # rank -> string
        self._sorted_lengths = self.lengths[self._by_length]
        ranked = [strings[i] for i in self._by_length]
        # All strings at once: the q-grams of the concatenation that do not cross a boundary.
        owner = np.repeat(np.arange(self.size, dtype=np.int64), self._sorted_lengths)
        keys = _gram_keys(_codes("".join(ranked)), q)
        valid = owner[: len(keys)] == owner[q - 1:]  # first and last character in one string
        keys, owner = keys[valid], owner[: len(keys)][valid]
        # Sorted by (q-gram, rank), runs counted: CSR postings with counts.
        order = np.lexsort((owner, keys))
        keys, owner = keys[order], owner[order]
        run = _run_starts(keys, owner)
        self._counts = np.diff(np.r_[run, len(keys)]).astype(np.int32)
        keys, ranks = keys[run], owner[run]
        first = _run_starts(keys)
        self._keys = keys[first]
        # Row and rank in one sorted key, so that a window is found in every row at once.
        row = np.repeat(np.arange(len(first), dtype=np.int64), np.diff(np.r_[first, len(keys)]))
        self._postings = row * max(self.size, 1) + ranks
        self._ranks = ranks.astype(np.int32)

    def window(self, text: str, min_length: float = 0, max_length: float = np.inf
               ) -> tuple[IntArray, IntArray, IntArray]:
        """The strings whose length is within ``[min_length, max_length]``, their lengths and
        how many q-grams each shares with ``text`` (multiset intersection)."""
        lo = int(self._sorted_lengths.searchsorted(min_length, side="left"))
        hi = int(self._sorted_lengths.searchsorted(max_length, side="right"))
        strings, lengths = self._by_length[lo:hi], self._sorted_lengths[lo:hi]
        grams, wanted = np.unique(_gram_keys(_codes(text), self.q), return_counts=True)
        if not len(grams) or not len(self._keys) or lo >= hi:
            return strings, lengths, np.zeros(len(strings), dtype=np.int64)
        pos = np.minimum(self._keys.searchsorted(grams), len(self._keys) - 1)
        found = self._keys[pos] == grams
        wanted = wanted[found]
        base = pos[found] * max(self.size, 1)
        starts = self._postings.searchsorted(base + lo)
        lens = self._postings.searchsorted(base + hi) - starts
        # Every in-window posting of a shared q-gram counts once; a q-gram the text repeats
        # counts up to min(its count in the string, in the text) times. (The rows are sliced
        # and joined: one copy of the postings, where gathering them through an index array
        # built with ``ranges`` cost three passes more.)
        rows = [slice(s, s + n) for s, n in zip(starts.tolist(), lens.tolist(), strict=True)
                if n]
        if not rows:
            return strings, lengths, np.zeros(len(strings), dtype=np.int64)
        common = np.bincount(np.concatenate([self._ranks[r] for r in rows]), minlength=hi)[lo:]
        again = [(r, w) for r, w in zip(rows, wanted[lens > 0].tolist(), strict=True)
                 if w > 1]
        if again:
            ranks = np.concatenate([self._ranks[r] for r, _ in again])
            extra = np.concatenate([np.minimum(self._counts[r], w) - 1 for r, w in again])
            common += np.bincount(ranks, weights=extra, minlength=hi)[lo:].astype(np.int64)
        return strings, lengths, common


def ratio_possible(common: IntArray, lengths: IntArray, n: int, cutoff: float, q: int
                   ) -> BoolArray:
    """Where ``fuzz.ratio`` between strings of ``lengths`` and a text of length ``n`` that share
    ``common`` q-grams may reach ``cutoff``."""
    edits = np.floor((1.0 - cutoff / 100.0) * (lengths + n) + SCORE_SLACK)
    possible: BoolArray = common >= np.maximum(lengths, n) - q + 1 - q * edits
    return possible


def partial_ratio_possible(common: IntArray, lengths: IntArray, n: int, cutoff: float, q: int
                           ) -> BoolArray:
    """The same for ``fuzz.partial_ratio``, which aligns the shorter string (length ``m``) with
    windows of at most ``m`` characters of the longer one: a window's q-grams are q-grams of the
    whole string, and it is at most ``2m * (1 - cutoff)`` edits away."""
    m = np.minimum(lengths, n)
    edits = np.floor((1.0 - cutoff / 100.0) * 2 * m + SCORE_SLACK)
    possible: BoolArray = common >= m - q + 1 - q * edits
    return possible


class TokenIndex:
    """Which strings' word sets contain, or are contained in, a text's word set.

    rapidfuzz's ``token_set_ratio`` (inside ``WRatio``) is 100 exactly when the two strings share
    a word and the words of one are a subset of the other's; no q-gram bound sees that."""

    def __init__(self, strings: Sequence[str]) -> None:
        self.size = len(strings)
        self._vocab: dict[str, int] = {}
        rows: list[int] = []
        docs: list[int] = []
        self.distinct = np.zeros(self.size, dtype=np.int64)
        for d, s in enumerate(strings):
            words = set(s.split())
            self.distinct[d] = len(words)
            for w in words:
                rows.append(self._vocab.setdefault(w, len(self._vocab)))
                docs.append(d)
        row = np.asarray(rows, dtype=np.int64)
        order = np.argsort(row, kind="stable")
        self._docs = np.asarray(docs, dtype=np.int64)[order]
        self._indptr = np.searchsorted(row[order], np.arange(len(self._vocab) + 1)).astype(np.int64)

    def subset_either_way(self, text: str) -> BoolArray:
        """Strings sharing a word with ``text`` whose words contain, or are contained in, its words."""
        words = set(text.split())
        known = [i for w in words if (i := self._vocab.get(w, -1)) >= 0]
        rows = [self._docs[self._indptr[i]:self._indptr[i + 1]] for i in known]
        shared = np.bincount(np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
                             minlength=self.size)
        inside = shared == self.distinct
        if len(known) == len(words):
            inside |= shared == len(words)
        found: BoolArray = (shared > 0) & inside
        return found
