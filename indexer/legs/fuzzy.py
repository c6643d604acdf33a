"""The ``fuzzy`` leg: rapidfuzz over titles, symptoms and error strings, for typos and pastes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
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
        text = utils.default_process(query.fuzzy_text)
        if len(text) < 3 or not self.strings:
            return []
        cutoff = self.cutoff if text.count(" ") < 6 else self.long_cutoff
        raw = process.cdist([text], self._processed, scorer=fuzz.WRatio, processor=None,
                            score_cutoff=cutoff, dtype=np.float32, workers=1)[0]
        per_doc = np.zeros(self.n_docs, dtype=np.float32)
        best = np.full(self.n_docs, -1, dtype=np.int64)
        order = np.argsort(raw)  # ascending, so the best string per document is written last
        per_doc[self.owners[order]] = raw[order]
        best[self.owners[order]] = order
        return [LegHit(d, s, (self.strings[int(best[d])],))
                for d, s in top_k(per_doc, k, allowed, minimum=cutoff - 1e-3)]

    def save(self, directory: Path) -> None:
        data = {"strings": self.strings, "owners": self.owners.tolist(), "n_docs": self.n_docs,
                "cutoff": self.cutoff}
        (directory / "fuzzy.json").write_text(json.dumps(data))

    @classmethod
    def load(cls, directory: Path) -> FuzzyLeg:
        data = json.loads((directory / "fuzzy.json").read_text())
        return cls(data["strings"], data["owners"], data["n_docs"], data["cutoff"])
