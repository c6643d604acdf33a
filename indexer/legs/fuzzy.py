"""The ``fuzzy`` leg: rapidfuzz over titles, symptoms and error strings, for typos and pastes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process, utils

from indexer.article import Article
from indexer.legs import LegHit, Mask, top_k
from indexer.query import PreparedQuery

NAME = "fuzzy"
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
    name = NAME

    def __init__(self, strings: list[str], owners: list[int], n_docs: int,
                 cutoff: float = 80.0, long_cutoff: float = 95.0) -> None:
        self.strings = strings
        self.owners = np.asarray(owners, dtype=np.int64)
        self.n_docs = n_docs
        self.cutoff = cutoff  # short queries: typos in a few words
        self.long_cutoff = long_cutoff  # long queries: only near-verbatim pastes count
        self._processed = [utils.default_process(s) for s in strings]
        self._lengths = np.array([len(p) for p in self._processed], dtype=np.int64)

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
        cutoff = self.cutoff
        for raw_text in query.fuzzy_texts:
            text = utils.default_process(raw_text)
            if len(text) < 3 or not self.strings:
                continue
            if text.count(" ") >= 6:
                # A long paste: only a near-verbatim copy of a whole string counts. WRatio reaches
                # 95 only through its non-partial branch, i.e. for strings within 1.5x the
                # query's length: score just those.
                cutoff = self.long_cutoff
                n = len(text)
                subset = np.flatnonzero((self._lengths >= max(20, n / 1.5)) & (self._lengths <= n * 1.5))
                scores = self._scores(text, fuzz.WRatio, cutoff, subset)
            else:
                # A few words, maybe misspelt: the whole string, or the query inside a longer one.
                # (No token-set scoring: sharing "how do I" with a title is not a match.)
                cutoff = self.cutoff
                subset = np.flatnonzero(self._lengths >= len(text) // 2)
                scores = np.maximum(self._scores(text, fuzz.ratio, cutoff, subset),
                                    0.9 * self._scores(text, fuzz.partial_ratio, cutoff / 0.9, subset))
            order = np.argsort(scores)  # ascending: each document keeps its best string, written last
            doc_scores = np.zeros(self.n_docs, dtype=np.float32)
            doc_best = np.full(self.n_docs, -1, dtype=np.int64)
            doc_scores[self.owners[order]] = scores[order]
            doc_best[self.owners[order]] = order
            better = doc_scores > per_doc
            per_doc[better] = doc_scores[better]
            best[better] = doc_best[better]
        hits = top_k(per_doc, k, allowed, minimum=min(self.cutoff, self.long_cutoff) - 1e-3)
        return [LegHit(d, s, (self.strings[int(best[d])],)) for d, s in hits]

    def _scores(self, text: str, scorer: Any, cutoff: float,
                subset: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Scores against every string (0 outside ``subset``, which alone is computed)."""
        out = np.zeros(len(self._processed), dtype=np.float32)
        if len(subset):
            choices = [self._processed[i] for i in subset]
            out[subset] = process.cdist([text], choices, scorer=scorer, processor=None,
                                        score_cutoff=min(cutoff, 100.0), dtype=np.float32,
                                        workers=1)[0]
        return out

    def save(self, directory: Path) -> None:
        data = {"strings": self.strings, "owners": self.owners.tolist(), "n_docs": self.n_docs,
                "cutoff": self.cutoff}
        (directory / "fuzzy.json").write_text(json.dumps(data))

    @classmethod
    def load(cls, directory: Path) -> FuzzyLeg:
        data = json.loads((directory / "fuzzy.json").read_text())
        return cls(data["strings"], data["owners"], data["n_docs"], data["cutoff"])
