""""Did you mean" restricted to what the caller may see, so no engineer-only word leaks."""

from __future__ import annotations

import threading
from collections.abc import Collection

from rapidfuzz import fuzz, process

from indexer.article import Audience
from indexer.normalize import _WORD
from indexer.search import Searcher

_MAX_WORDS = 12


class AudienceSuggester:
    """The searcher's typo suggestion over a per-audience vocabulary (built once per snapshot)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, frozenset[Audience]], tuple[list[str], set[str]]] = {}
        self._lock = threading.Lock()

    def _vocab(self, searcher: Searcher, audiences: frozenset[Audience]
               ) -> tuple[list[str], set[str]]:
        key = (searcher.version, audiences)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
        words = sorted({w.lower() for a in searcher.articles(audiences)
                        for w in _WORD.findall(" ".join((a.title, *a.symptoms, *a.identifiers)))
                        if len(w) > 3 and w.isalpha()})
        value = (words, set(words))
        with self._lock:
            # Keep only the current snapshot's vocabularies.
            for stale in [k for k in self._cache if k[0] != searcher.version]:
                del self._cache[stale]
            self._cache[key] = value
        return value

    def suggest(self, searcher: Searcher, text: str, audiences: Collection[Audience]
                ) -> str | None:
        words_in = _WORD.findall(text)
        words, vocab = self._vocab(searcher, frozenset(audiences))
        if not words_in or len(words_in) > _MAX_WORDS or not words:
            return None
        changed = False
        out = []
        for w in words_in:
            low = w.lower()
            if low in vocab or not low.isalpha() or len(low) < 4:
                out.append(w)
                continue
            best = process.extractOne(low, words, scorer=fuzz.ratio, score_cutoff=75)
            if best is None:
                out.append(w)
            else:
                out.append(best[0])
                changed = True
        return " ".join(out) if changed else None
