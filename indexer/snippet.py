"""Snippets: the passage of an article that best matches the query, HTML-escaped, terms marked."""

from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexer.normalize import _WORD, _word_tokens, is_stopword_token

SNIPPET_CHARS = 220
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?])\s+|\n+)(?=\S)")
# The entities html.escape writes, or a word.
_MARKABLE = re.compile(r"&(?:amp|lt|gt|quot|#x27);|" + _WORD.pattern)
_MATCH_CACHE = 64  # queries whose matching words are kept (one search's snippets share one)


class _Vocabulary:
    """Every word of the prepared texts, numbered once per process, and which carry each token.

    Stemming is most of the cost of preparing a text and a knowledge base repeats its words, so
    the tokens of each distinct word are computed once; the inverse (which words carry a token)
    turns a query's terms into its matching words without testing every word of an article.
    Both grow with the knowledge base's vocabulary (officedocs: 27,900 words)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: dict[str, int] = {}
        self.words: list[str] = []
        self.ids_of_token: dict[str, list[int]] = {}
        self._matching: OrderedDict[frozenset[str], tuple[int, npt.NDArray[np.bool_],
                                                          frozenset[str]]] = OrderedDict()

    def id_of(self, word: str) -> int:
        """The number of a lower-cased word, registered (with its tokens) when new."""
        found = self.ids.get(word)
        if found is not None:
            return found
        tokens = _word_tokens(word)
        with self.lock:
            found = self.ids.get(word)
            if found is None:
                found = self.ids[word] = len(self.words)
                self.words.append(word)
                for token in tokens:
                    self.ids_of_token.setdefault(token, []).append(found)
        return found

    def matching(self, terms: frozenset[str]) -> tuple[npt.NDArray[np.bool_], frozenset[str]]:
        """Which known words match ``terms`` (see ``_hit``), as a table over word numbers and as
        a set of words; rebuilt when words were registered since."""
        cached = self._matching.get(terms)  # read without the lock: one search asks ten times
        if cached is not None and cached[0] == len(self.words):
            return cached[1], cached[2]
        with self.lock:
            size = len(self.words)
            ids = [i for t in terms if not is_stopword_token(t)
                   for i in self.ids_of_token.get(t, ())]
            table = np.zeros(size, dtype=bool)
            table[ids] = True
            found = frozenset(self.words[i] for i in ids)
            self._matching[terms] = (size, table, found)
            while len(self._matching) > _MATCH_CACHE:
                self._matching.popitem(last=False)
            return table, found


_VOCABULARY = _Vocabulary()


@dataclass(frozen=True, eq=False)
class SnippetText:
    """An article's text prepared once, compactly enough to keep every article in memory: per
    word occurrence, the word's number in the process-wide vocabulary and its offset."""

    text: str
    at: npt.NDArray[np.int32]  # per occurrence: the word's number
    offsets: npt.NDArray[np.int32]  # per occurrence: character offset in ``text``
    starts: npt.NDArray[np.int32]  # character offsets where a sentence starts

    @classmethod
    def prepare(cls, text: str) -> SnippetText:
        id_of = _VOCABULARY.id_of
        at: list[int] = []
        offsets: list[int] = []
        for m in _WORD.finditer(text):
            at.append(id_of(m.group().lower()))
            offsets.append(m.start())
        starts = sorted({m.end() for m in _SENTENCE_START.finditer(text)} | {0})
        return cls(text, np.array(at, dtype=np.int32), np.array(offsets, dtype=np.int32),
                   np.array(starts, dtype=np.int32))


def _hit(tokens: tuple[str, ...], terms: Collection[str]) -> bool:
    """A word matches when one of its tokens is a query term other than a stop word."""
    return any(t in terms and not is_stopword_token(t) for t in tokens)


def best_passage(source: SnippetText, terms: Collection[str],
                 width: int = SNIPPET_CHARS) -> tuple[str, int]:
    """The passage of about ``width`` characters, starting at a sentence, with the most distinct
    matching words (earlier wins ties); returns it and its offset in the text."""
    text = source.text
    if not text.strip():
        return "", 0
    table, _ = _VOCABULARY.matching(frozenset(terms))  # registered after the text: covers it
    best_start = 0
    mask = table[source.at]
    if mask.any():
        offsets, ids = source.offsets[mask], source.at[mask].tolist()
        # For each sentence start, the matching occurrences in [start, start + width).
        lo = np.searchsorted(offsets, source.starts).tolist()
        hi = np.searchsorted(offsets, source.starts + width).tolist()
        best, best_score = -1, 0
        for n, (a, b) in enumerate(zip(lo, hi, strict=True)):
            if b - a <= best_score:
                continue  # cannot beat the best so far (and earlier wins ties)
            score = len(set(ids[a:b]))
            if score > best_score:
                best, best_score = n, score
        if best >= 0:
            best_start = int(source.starts[best])
    passage = text[best_start:]
    if len(passage) > width:
        cut = passage.rfind(" ", 0, width)
        passage = passage[: cut if cut > width // 2 else width].rstrip(" ,;:") + " …"
    return " ".join(passage.split()), best_start


def mark(text: str, terms: Collection[str]) -> str:
    """HTML-escape ``text`` and wrap the words that match ``terms`` in ``<mark>``."""
    _, matching = _VOCABULARY.matching(frozenset(terms))
    known = _VOCABULARY.ids

    def word_or_mark(m: re.Match[str]) -> str:
        word = m.group()
        if word[0] == "&":
            return word  # an entity made by the escaping
        low = word.lower()
        # A word cut short at the end of a passage may be unknown: its tokens decide.
        hit = low in matching if low in known else _hit(_word_tokens(low), terms)
        return f"<mark>{word}</mark>" if hit else word

    # Escaping first is safe: no escaped character is part of a word, so the words are the same.
    return _MARKABLE.sub(word_or_mark, html.escape(text))


def make_snippet(source: SnippetText | str, terms: Collection[str],
                 width: int = SNIPPET_CHARS) -> str:
    if isinstance(source, str):
        source = SnippetText.prepare(source)
    passage, _ = best_passage(source, terms, width)
    return mark(passage, terms)
