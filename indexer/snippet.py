"""Snippets: the passage of an article that best matches the query, HTML-escaped, terms marked."""

from __future__ import annotations

import bisect
import functools
import html
import re
from collections.abc import Collection
from dataclasses import dataclass

from indexer.normalize import _WORD, _word_tokens, is_stopword_token

SNIPPET_CHARS = 220
# Stemming is most of the cost of preparing a text; a knowledge base repeats its words, so the
# tokens of each distinct word are computed once (about 100 bytes per word).
_tokens_of = functools.lru_cache(maxsize=200_000)(_word_tokens)
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?])\s+|\n+)(?=\S)")


@dataclass(frozen=True)
class SnippetText:
    """An article's text prepared once: word spans, their tokens, and where sentences start."""

    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, lower-cased word)
    tokens: dict[str, tuple[str, ...]]  # distinct word -> its index tokens
    starts: tuple[int, ...]  # character offsets where a sentence starts

    @classmethod
    def prepare(cls, text: str) -> SnippetText:
        spans = tuple((m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text))
        tokens = {w: _tokens_of(w) for _, _, w in spans}
        starts = tuple(sorted({m.end() for m in _SENTENCE_START.finditer(text)} | {0}))
        return cls(text, spans, tokens, starts)

    def matching_words(self, terms: Collection[str]) -> set[str]:
        return {w for w, toks in self.tokens.items() if _hit(toks, terms)}


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
    hits = source.matching_words(terms)
    positions = [(s, w) for s, _, w in source.spans if w in hits]
    best_start, best_score = 0, 0
    if positions:
        offsets = [p for p, _ in positions]
        for start in source.starts:
            lo = bisect.bisect_left(offsets, start)
            hi = bisect.bisect_left(offsets, start + width)
            score = len({w for _, w in positions[lo:hi]})
            if score > best_score:
                best_start, best_score = start, score
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
