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

from indexer.normalize import WORD, is_stopword_token, word_tokens

SNIPPET_CHARS = 220
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?])\s+|\n+)(?=\S)")
# The entities html.escape writes, or a word.
_MARKABLE = re.compile(r"&(?:amp|lt|gt|quot|#x27);|" + WORD.pattern)
_MATCH_CACHE = 64  # queries whose matching words are kept (one search's snippets share one)


class Vocabulary:
    """Every word of the prepared texts, numbered once, and which carry each token. One per
    searcher (so per snapshot: a swap starts a fresh one instead of growing a process-wide one).

    Stemming is most of the cost of preparing a text and a knowledge base repeats its words, so
    the tokens of each distinct word are computed once; the inverse (which words carry a token)
    turns a query's terms into its matching words without testing every word of an article.
    Both grow with the knowledge base's vocabulary (officedocs: 27,900 words)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: dict[str, int] = {}
        self.words: list[str] = []
        self.ids_of_token: dict[str, list[int]] = {}
        self._matching: OrderedDict[frozenset[str], tuple[int, npt.NDArray[np.bool_]]] = \
            OrderedDict()

    def id_of(self, word: str) -> int:
        """The number of a lower-cased word, registered (with its tokens) when new."""
        found = self.ids.get(word)
        if found is not None:
            return found
        tokens = word_tokens(word)
        with self.lock:
            found = self.ids.get(word)
            if found is None:
                found = self.ids[word] = len(self.words)
                self.words.append(word)
                for token in tokens:
                    self.ids_of_token.setdefault(token, []).append(found)
        return found

    def matching(self, terms: frozenset[str]) -> npt.NDArray[np.bool_]:
        """Which known words match ``terms`` (see ``_hit``): a table over word numbers, rebuilt
        when words were registered since."""
        cached = self._matching.get(terms)  # read without the lock: one search asks ten times
        if cached is not None and cached[0] == len(self.words):
            return cached[1]
        with self.lock:
            size = len(self.words)
            ids = [i for t in terms if _markable_term(t)
                   for i in self.ids_of_token.get(t, ())]
            table = np.zeros(size, dtype=bool)
            table[ids] = True
            self._matching[terms] = (size, table)
            while len(self._matching) > _MATCH_CACHE:
                self._matching.popitem(last=False)
            return table


@dataclass(frozen=True, eq=False)
class SnippetText:
    """An article's text prepared once, compactly enough to keep every article in memory: per
    word occurrence, the word's number in its vocabulary and its offset."""

    vocabulary: Vocabulary
    text: str
    at: npt.NDArray[np.int32]  # per occurrence: the word's number
    offsets: npt.NDArray[np.int32]  # per occurrence: character offset in ``text``
    starts: npt.NDArray[np.int32]  # character offsets where a sentence starts
    blank: bool  # nothing but white space (asked per snippet: not worth a copy of the text)
    sections: tuple[tuple[int, str], ...] = ()  # (offset where it starts, heading), in order

    def section_ends(self) -> npt.NDArray[np.int64]:
        """Per sentence start, where its section ends: a passage stays in one section."""
        bounds = np.array([at for at, _ in self.sections[1:]] + [len(self.text) + 1],
                          dtype=np.int64)
        return bounds[bounds.searchsorted(self.starts, side="right")] if self.sections else \
            np.full(len(self.starts), len(self.text) + 1, dtype=np.int64)

    def section_end(self, offset: int) -> int:
        later = [at for at, _ in self.sections if at > offset]
        return (later[0] - 1) if later else len(self.text)

    def section_at(self, offset: int) -> str | None:
        """The heading of the section the text at ``offset`` belongs to (None: the lead)."""
        found = None
        for start, heading in self.sections:
            if start > offset:
                break
            found = heading
        return found or None

    @classmethod
    def prepare_sections(cls, parts: list[tuple[str, str]],
                         vocabulary: Vocabulary | None = None) -> SnippetText:
        """``(heading, text)`` parts joined by line breaks, remembering where each starts."""
        offsets: list[tuple[int, str]] = []
        at = 0
        for heading, text in parts:
            offsets.append((at, heading))
            at += len(text) + 1
        source = cls.prepare("\n".join(text for _, text in parts), vocabulary)
        return cls(source.vocabulary, source.text, source.at, source.offsets, source.starts,
                   source.blank, tuple(offsets))

    @classmethod
    def prepare(cls, text: str, vocabulary: Vocabulary | None = None) -> SnippetText:
        vocabulary = vocabulary if vocabulary is not None else Vocabulary()
        id_of = vocabulary.id_of
        at: list[int] = []
        offsets: list[int] = []
        for m in WORD.finditer(text):
            at.append(id_of(m.group().lower()))
            offsets.append(m.start())
        starts = sorted({m.end() for m in _SENTENCE_START.finditer(text)} | {0})
        return cls(vocabulary, text, np.array(at, dtype=np.int32), np.array(offsets, dtype=np.int32),
                   np.array(starts, dtype=np.int32), not text.strip())


def _markable_term(term: str) -> bool:
    """Stop words and one-character terms never mark a word: the "t" of "can't" or a stray "1"
    would light up fragments, not the words a person searched for."""
    return len(term) > 1 and not is_stopword_token(term)


def _hit(tokens: tuple[str, ...], terms: Collection[str]) -> bool:
    """A word matches when one of its tokens is a query term other than a stop word (or a
    single character)."""
    return any(t in terms and _markable_term(t) for t in tokens)


def _best_start(source: SnippetText, hits: npt.NDArray[np.bool_], width: int) -> int:
    """The sentence start whose window of ``width`` characters holds the most distinct matching
    words (``hits``: per occurrence), the earliest of equals; 0 without any hit."""
    if not hits.any():
        return 0
    offsets, ids = source.offsets[hits], source.at[hits].tolist()
    # Per sentence start, its window's matching occurrences: lo[n] .. hi[n] - 1. Windows are
    # tried by their number of occurrences, most first: none with fewer than the best distinct
    # count can win, so usually only a few are counted.
    lo = offsets.searchsorted(source.starts)
    hi = offsets.searchsorted(np.minimum(source.starts + width, source.section_ends()))
    count = hi - lo
    lo_l, hi_l = lo.tolist(), hi.tolist()
    best, best_score = -1, 0
    for n in (-count).argsort(kind="stable").tolist():
        c = hi_l[n] - lo_l[n]
        if c < best_score or c == 0:
            break
        if c == best_score and n > best:
            continue  # at best a tie, and the earlier window wins ties
        score = len(set(ids[lo_l[n]:hi_l[n]]))
        if score > best_score or (score == best_score and n < best):
            best, best_score = n, score
    return int(source.starts[best]) if best >= 0 else 0


def _passage_end(text: str, start: int, width: int) -> tuple[int, bool]:
    """Where the passage from ``start`` ends (about ``width`` characters, at a space when there
    is one in its second half) and whether it was cut."""
    if len(text) - start <= width:
        return len(text), False
    cut = text.rfind(" ", start, start + width) - start
    end = start + (cut if cut > width // 2 else width)
    return start + len(text[start:end].rstrip(" ,;:")), True


def mark(text: str, terms: Collection[str], vocabulary: Vocabulary) -> str:
    """HTML-escape ``text`` and wrap the words that match ``terms`` in ``<mark>``."""
    table = vocabulary.matching(frozenset(terms))
    known = vocabulary.ids

    def word_or_mark(m: re.Match[str]) -> str:
        word = m.group()
        if word[0] == "&":
            return word  # an entity made by the escaping
        i = known.get(word.lower())
        # A word cut short at the end of a passage may be unknown (and one registered since the
        # table was built is past its end): its tokens decide.
        hit = bool(table[i]) if i is not None and i < len(table) else _hit(
            word_tokens(word.lower()), terms)
        return f"<mark>{word}</mark>" if hit else word

    # Escaping first is safe: no escaped character is part of a word, so the words are the same.
    return _MARKABLE.sub(word_or_mark, html.escape(text))


def make_snippet(source: SnippetText | str, terms: Collection[str],
                 width: int = SNIPPET_CHARS) -> str:
    """The best passage, HTML-escaped, matching words in ``<mark>``, white space collapsed."""
    return snippet_in_section(source, terms, width)[0]


def snippet_in_section(source: SnippetText | str, terms: Collection[str],
                       width: int = SNIPPET_CHARS) -> tuple[str, str | None]:
    """``make_snippet`` and the heading of the section the passage starts in."""
    if isinstance(source, str):
        source = SnippetText.prepare(source)
    text = source.text
    if source.blank:
        return "", None
    vocabulary = source.vocabulary
    table = vocabulary.matching(frozenset(terms))  # registered after the text: covers it
    hits = table[source.at]
    start = _best_start(source, hits, width)
    end, cut = _passage_end(text, start, width)
    if source.sections and end > source.section_end(start):
        end, cut = source.section_end(start), False  # the rest of its section, whole
    # The passage's occurrences are known: mark them by offset, no second tokenisation.
    lo, hi = source.offsets.searchsorted([start, end]).tolist()
    offsets = source.offsets[lo:hi].tolist()
    ids = source.at[lo:hi].tolist()
    hit = hits[lo:hi].tolist()
    words = vocabulary.words
    tail = end
    if offsets and offsets[-1] + len(words[ids[-1]]) > end:
        tail = offsets.pop()  # a word the cut went through is judged as the fragment left of it
    out: list[str] = []
    last = start
    for at, word, matched in zip(offsets, ids, hit, strict=False):
        if matched:
            stop = at + len(words[word])  # WORD is ASCII: lower() keeps the length
            out.append(html.escape(text[last:at]))
            out.append(f"<mark>{text[at:stop]}</mark>")
            last = stop
    out.append(html.escape(text[last:tail]))
    if tail < end:
        out.append(mark(text[tail:end], terms, vocabulary))
    if cut:
        out.append(" …")
    # Collapsing white space after marking is the same as before: tags and escapes have none.
    return " ".join("".join(out).split()), source.section_at(start)
