"""Snippets: the passage of an article that best matches the query, HTML-escaped, terms marked."""

from __future__ import annotations

import html
import re
from collections.abc import Collection

from indexer.normalize import _WORD, _word_tokens

SNIPPET_CHARS = 220
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _matches(word: str, terms: Collection[str]) -> bool:
    return any(t in terms for t in _word_tokens(word))


def best_passage(text: str, terms: Collection[str], width: int = SNIPPET_CHARS) -> str:
    """The window of about ``width`` characters holding the most distinct query terms."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return ""
    best, best_score = 0, -1.0
    for i, sentence in enumerate(sentences):
        window = sentence
        j = i + 1
        while len(window) < width and j < len(sentences):
            window += " " + sentences[j]
            j += 1
        hits = {w.lower() for w in _WORD.findall(window[:width]) if _matches(w, terms)}
        score = len(hits) - i * 0.01  # earlier passages win ties
        if score > best_score:
            best, best_score = i, score
    passage = " ".join(sentences[best:])
    if len(passage) > width:
        cut = passage.rfind(" ", 0, width)
        passage = passage[: cut if cut > width // 2 else width].rstrip(" ,;:") + " …"
    return passage


def mark(text: str, terms: Collection[str]) -> str:
    """HTML-escape ``text`` and wrap the words that match ``terms`` in ``<mark>``."""
    out: list[str] = []
    last = 0
    for m in _WORD.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        word = html.escape(m.group())
        out.append(f"<mark>{word}</mark>" if _matches(m.group(), terms) else word)
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def make_snippet(text: str, terms: Collection[str], width: int = SNIPPET_CHARS) -> str:
    return mark(best_passage(text, terms, width), terms)
