"""Snippets: the passage of an article that best matches the query, HTML-escaped, terms marked."""

from __future__ import annotations

import html
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexer.normalize import _WORD, _word_tokens, is_stopword_token

SNIPPET_CHARS = 220
# Stemming is most of the cost of preparing a text; a knowledge base repeats its words, so the
# tokens of each distinct word are computed once per process, and the inverse (which words carry
# a token) lets a search find an article's matching words without testing each of them. Both
# grow with the knowledge base's vocabulary (officedocs: 27,900 words).
_token_lock = threading.Lock()
_tokens: dict[str, tuple[str, ...]] = {}
_words_of_token: dict[str, set[str]] = {}
_generation = [0]  # bumped whenever a word is registered: cached matches then go stale
_matching: OrderedDict[frozenset[str], tuple[int, frozenset[str]]] = OrderedDict()


def _tokens_of(word: str) -> tuple[str, ...]:
    """The index tokens of a lower-cased word, remembered (with their inverse)."""
    found = _tokens.get(word)
    if found is None:
        found = _word_tokens(word)
        with _token_lock:
            _tokens[word] = found
            _generation[0] += 1
            for token in found:
                _words_of_token.setdefault(token, set()).add(word)
    return found


def _words_matching(terms: frozenset[str]) -> frozenset[str]:
    """Every known word that matches ``terms`` (see ``_hit``): one search's snippets share it."""
    with _token_lock:
        cached = _matching.get(terms)
        if cached is not None and cached[0] == _generation[0]:
            return cached[1]
        words: frozenset[str] = frozenset().union(
            *(_words_of_token.get(t, ()) for t in terms if not is_stopword_token(t)))
        _matching[terms] = (_generation[0], words)
        if len(_matching) > 64:
            _matching.popitem(last=False)
        return words


_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?])\s+|\n+)(?=\S)")


@dataclass(frozen=True, eq=False)
class SnippetText:
    """An article's text prepared once, compactly enough to keep every article in memory: its
    distinct words (interned) and, per word occurrence, the word's number and offset."""

    text: str
    words: tuple[str, ...]  # distinct lower-cased words, in order of first appearance
    at: npt.NDArray[np.int32]  # per occurrence: index into ``words``
    offsets: npt.NDArray[np.int32]  # per occurrence: character offset in ``text``
    starts: npt.NDArray[np.int32]  # character offsets where a sentence starts

    @classmethod
    def prepare(cls, text: str) -> SnippetText:
        ids: dict[str, int] = {}
        at: list[int] = []
        offsets: list[int] = []
        for m in _WORD.finditer(text):
            word = m.group().lower()
            i = ids.get(word)
            if i is None:
                i = ids[word] = len(ids)
                _tokens_of(word)  # registers the word under its tokens
            at.append(i)
            offsets.append(m.start())
        starts = sorted({m.end() for m in _SENTENCE_START.finditer(text)} | {0})
        return cls(text, tuple(sys.intern(w) for w in ids), np.array(at, dtype=np.int32),
                   np.array(offsets, dtype=np.int32), np.array(starts, dtype=np.int32))


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
    matching = _words_matching(frozenset(terms))
    hit_ids = [i for i, w in enumerate(source.words) if w in matching]
    best_start, best_score = 0, 0
    if hit_ids:
        matches = np.zeros(len(source.words), dtype=bool)
        matches[hit_ids] = True
        mask = matches[source.at]  # one gather, not a pass per matching word as np.isin does
        offsets, ids = source.offsets[mask], source.at[mask]
        # For each sentence start, the matching occurrences in [start, start + width).
        lo = np.searchsorted(offsets, source.starts)
        hi = np.searchsorted(offsets, source.starts + width)
        for n in np.flatnonzero(hi - lo > 0).tolist():
            a, b = int(lo[n]), int(hi[n])
            if b - a <= best_score:
                continue  # cannot beat the best so far (and earlier wins ties)
            score = len(set(ids[a:b].tolist()))
            if score > best_score:
                best_start, best_score = int(source.starts[n]), score
    passage = text[best_start:]
    if len(passage) > width:
        cut = passage.rfind(" ", 0, width)
        passage = passage[: cut if cut > width // 2 else width].rstrip(" ,;:") + " …"
    return " ".join(passage.split()), best_start


def mark(text: str, terms: Collection[str]) -> str:
    """HTML-escape ``text`` and wrap the words that match ``terms`` in ``<mark>``."""
    out: list[str] = []
    last = 0
    for m in _WORD.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        word = html.escape(m.group())
        hit = _hit(_tokens_of(m.group().lower()), terms)
        out.append(f"<mark>{word}</mark>" if hit else word)
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def make_snippet(source: SnippetText | str, terms: Collection[str],
                 width: int = SNIPPET_CHARS) -> str:
    if isinstance(source, str):
        source = SnippetText.prepare(source)
    passage, _ = best_passage(source, terms, width)
    return mark(passage, terms)
