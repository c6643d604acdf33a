"""The ``fuzzy`` leg: rapidfuzz over titles, symptoms and error strings, for typos and pastes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import LCSseq

from indexer.article import Article
from indexer.legs import LegHit, Mask, ranges, top_k
from indexer.legs.qgrams import (
    SCORE_SLACK,
    QGramIndex,
    TokenIndex,
    partial_ratio_possible,
    ratio_possible,
)
from indexer.query import PreparedQuery

_SYMPTOM_HEADING = re.compile(r"(?i)symptom|problem|error|meaning|issue")
_QUOTED = re.compile(r"\"([^\"\n]{12,300})\"|“([^”\n]{12,300})”")
_ADMONITION = re.compile(r"^\[!\w+\]")
MAX_STRINGS_PER_ARTICLE = 12


def fuzzy_strings(article: Article) -> list[str]:
    """The short strings a user is likely to type or paste: title, symptoms, error messages."""
    out = [article.title, *article.symptoms, *article.error_codes, *article.alerts]
    for section in article.sections:
        if not (section.key == "symptom" or _SYMPTOM_HEADING.search(section.heading)):
            continue
        quote: list[str] = []
        for line in section.text.split("\n"):
            stripped = line.strip()
            if stripped.startswith(">"):
                body = stripped.lstrip("> ").strip()
                if body and not _ADMONITION.match(body):
                    quote.append(body)
                continue
            if quote:
                out.append(" ".join(quote))
                quote = []
        if quote:
            out.append(" ".join(quote))
        out.extend(a or b for a, b in _QUOTED.findall(section.text))
    seen: dict[str, None] = {}
    for s in out:
        s = " ".join(s.split())[:300]
        if len(s) >= 3:
            seen.setdefault(s, None)
    return list(seen)[:MAX_STRINGS_PER_ARTICLE]


class FuzzyLeg:
    name: ClassVar[str] = "fuzzy"

    def __init__(self, strings: list[str], owners: list[int], n_docs: int,
                 cutoff: float = 80.0, long_cutoff: float = 95.0) -> None:
        self.strings = strings
        self.owners = np.asarray(owners, dtype=np.int64)
        self.n_docs = n_docs
        self.cutoff = cutoff  # short queries: typos in a few words
        self.long_cutoff = long_cutoff  # long queries: only near-verbatim pastes count
        # Each distinct processed string once (a knowledge base repeats its error messages and
        # alert names across articles): the filters and rapidfuzz see it once, and its score
        # goes to every string that reads the same.
        processed = [utils.default_process(s) for s in strings]
        first: dict[str, int] = {}
        unique_of = np.fromiter((first.setdefault(p, len(first)) for p in processed),
                                dtype=np.int64, count=len(processed))
        self._processed = list(first)
        # Distinct string u's strings, ascending: _members[_member_ptr[u]:_member_ptr[u + 1]].
        self._members = np.argsort(unique_of, kind="stable")
        self._member_ptr = np.searchsorted(unique_of[self._members],
                                           np.arange(len(self._processed) + 1))
        # Bigrams bound the short queries' scores more tightly; trigrams are rarer, so a long
        # paste reads far fewer postings for the same selectivity.
        self._bigrams = QGramIndex(self._processed, q=2)
        self._trigrams = QGramIndex(self._processed, q=3)
        self._tokens = TokenIndex(self._processed)

    @classmethod
    def build(cls, articles: list[Article]) -> FuzzyLeg:
        strings: list[str] = []
        owners: list[int] = []
        for d, article in enumerate(articles):
            for s in fuzzy_strings(article):
                strings.append(s)
                owners.append(d)
        return cls(strings, owners, len(articles))

    def search(self, query: PreparedQuery, k: int, allowed: Mask | None) -> list[LegHit]:
        per_doc = np.zeros(self.n_docs, dtype=np.float32)
        best = np.full(self.n_docs, -1, dtype=np.int64)
        for raw_text in query.fuzzy_texts:
            text = utils.default_process(raw_text)
            if len(text) < 3 or not self.strings:
                continue
            strings, scores = self.score(text)
            if not len(strings):
                continue
            # Each document's best string (the first of equals), kept where it beats the
            # document's score from the other form of the query.
            docs = self.owners[strings]
            order = np.lexsort((strings, -scores, docs))
            docs, scores, strings = docs[order], scores[order], strings[order]
            first = np.r_[True, docs[1:] != docs[:-1]]
            docs, scores, strings = docs[first], scores[first], strings[first]
            better = scores > per_doc[docs]
            per_doc[docs[better]] = scores[better]
            best[docs[better]] = strings[better]
        hits = top_k(per_doc, k, allowed, minimum=min(self.cutoff, self.long_cutoff) - 1e-3)
        return [LegHit(d, s, (self.strings[int(best[d])],)) for d, s in hits]

    def candidates(self, text: str) -> npt.NDArray[np.int64]:
        """The distinct processed strings (ids into ``_processed``) that may score above the
        cutoff against a processed ``text``; the others certainly do not
        (``indexer.legs.qgrams``), so they are never scored."""
        n = len(text)
        if self._is_long(text):
            # A long paste: only a near-verbatim copy of a whole string counts. WRatio reaches
            # 95 only through its non-partial branch, i.e. for strings within 1.5x the query's
            # length, and there through ratio or through one word set containing the other.
            strings, lengths, common = self._trigrams.window(text, max(20, n / 1.5), n * 1.5)
            possible = (ratio_possible(common, lengths, n, self.long_cutoff, q=3)
                        | self._tokens.subset_either_way(text)[strings])
        else:
            strings, lengths, common = self._bigrams.window(text, n // 2)
            possible = (ratio_possible(common, lengths, n, self.cutoff, q=2)
                        | partial_ratio_possible(common, lengths, n, self.cutoff / 0.9, q=2))
        return np.sort(strings[possible])

    def score(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The strings that score above the cutoff against a processed ``text`` (ascending ids
        into ``strings``), and their scores."""
        unique = self.candidates(text)
        if not len(unique):
            return unique, np.zeros(0, dtype=np.float32)
        choices = [self._processed[i] for i in unique]
        if self._is_long(text):
            scores = self._cdist(text, choices, fuzz.WRatio, self.long_cutoff)
        else:
            # A few words, maybe misspelt: the whole string, or the query inside a longer one.
            # (No token-set scoring: sharing "how do I" with a title is not a match.)
            scores = self._short_scores(text, choices)
        kept = scores > 0
        unique, scores = unique[kept], scores[kept]
        starts = self._member_ptr[unique]
        counts = self._member_ptr[unique + 1] - starts
        strings = self._members[ranges(starts, counts)]
        order = np.argsort(strings, kind="stable")
        return strings[order], np.repeat(scores, counts)[order]

    def _short_scores(self, text: str, choices: list[str]) -> npt.NDArray[np.float32]:
        """``max(ratio, 0.9 * partial_ratio)`` above the cutoffs, 0 elsewhere, as scoring every
        choice with both would give, for a fraction of the work.

        One bit-parallel LCS per choice bounds both scores exactly: ``ratio`` is
        ``200 * LCS / (n + m)``, and ``partial_ratio`` aligns the shorter string (length ``s``)
        with windows of the longer, each sharing at most ``LCS`` of its characters in order, so
        it is at most ``200 * LCS / (s + LCS)``. Only the choices whose bound reaches a cutoff
        are scored (a 46-character error message: 8,379 strings past the q-gram filter, 271
        past this bound, 16 above the cutoff; partial_ratio over all of them was 15 ms)."""
        n = len(text)
        lcs = process.cdist([text], choices, scorer=LCSseq.similarity, processor=None,
                            dtype=np.int64, workers=1)[0].astype(np.float64)
        lengths = np.fromiter(map(len, choices), dtype=np.float64, count=len(choices))
        shorter = np.minimum(lengths, n)
        out = []
        for bound, scorer, cutoff in (
                (200.0 * lcs / (lengths + n), fuzz.ratio, self.cutoff),
                (200.0 * lcs / np.maximum(shorter + lcs, 1.0), fuzz.partial_ratio,
                 self.cutoff / 0.9)):
            scores = np.zeros(len(choices), dtype=np.float32)
            reach = np.flatnonzero(bound >= cutoff - SCORE_SLACK)
            if len(reach):
                scores[reach] = self._cdist(text, [choices[i] for i in reach], scorer, cutoff)
            out.append(scores)
        ratio, partial = out
        best: npt.NDArray[np.float32] = np.maximum(ratio, 0.9 * partial)
        return best

    @staticmethod
    def _is_long(text: str) -> bool:
        return text.count(" ") >= 6

    @staticmethod
    def _cdist(text: str, choices: list[str], scorer: Any, cutoff: float) -> npt.NDArray[np.float32]:
        scores: npt.NDArray[np.float32] = process.cdist(
            [text], choices, scorer=scorer, processor=None, score_cutoff=min(cutoff, 100.0),
            dtype=np.float32, workers=1)[0]
        return scores

    def save(self, directory: Path) -> None:
        data = {"strings": self.strings, "owners": self.owners.tolist(), "n_docs": self.n_docs,
                "cutoff": self.cutoff}
        (directory / "fuzzy.json").write_text(json.dumps(data))

    @classmethod
    def load(cls, directory: Path, n_docs: int) -> FuzzyLeg:
        data = json.loads((directory / "fuzzy.json").read_text())
        return cls(data["strings"], data["owners"], data["n_docs"], data["cutoff"])
