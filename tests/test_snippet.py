"""Snippets: the best passage, escaped and marked, from the compact prepared text.

Properties proved:
1. The passage is the one a brute-force scan picks (most distinct matching words in a window
   that starts at a sentence, earlier wins ties), on real articles and many queries.
2. Matching follows the index's tokens (stems, identifier parts), never stop words.
3. A word first met in an article prepared after a search already ran is still matched; each
   searcher (each snapshot) numbers its own words, so a swap does not grow the old one's.
4. Everything is HTML-escaped; only <mark> is added.
5. Snippet sources prepared ahead (as a server does after a load) change no snippet.
6. The snippet marked from the prepared occurrences is the one the obvious way gives (cut the
   passage, collapse white space, escape, mark each word its tokens match), at many widths, so
   that passages are cut inside words, after punctuation and at the end of the text.
"""

from __future__ import annotations

import html
import itertools
import random
import re
from pathlib import Path

from indexer.article import STAFF
from indexer.content import scan_content
from indexer.embed import Embedder
from indexer.normalize import WORD, is_stopword_token, word_tokens
from indexer.query import PreparedQuery
from indexer.search import Searcher, snippet_parts
from indexer.snippet import (
    _SENTENCE_START,
    SNIPPET_CHARS,
    SnippetText,
    Vocabulary,
    make_snippet,
    snippet_in_section,
)
from tests.conftest import CONTENT


def reference_start(text: str, terms: set[str], width: int = SNIPPET_CHARS) -> int:
    """The obvious quadratic version: score every sentence start."""
    def hit(word: str) -> bool:
        return any(t in terms and len(t) > 1 and not is_stopword_token(t)
                   for t in word_tokens(word.lower()))

    hits = [(m.start(), m.group().lower()) for m in WORD.finditer(text) if hit(m.group())]
    starts = sorted({0} | {m.end() for m in _SENTENCE_START.finditer(text)})
    best, best_score = 0, 0
    for s in starts:
        score = len({w for p, w in hits if s <= p < s + width})
        if score > best_score:
            best, best_score = s, score
    return best


def reference_snippet(text: str, terms: set[str], width: int) -> str:
    start = reference_start(text, terms, width)
    passage = text[start:]
    if len(passage) > width:
        cut = passage.rfind(" ", 0, width)
        passage = passage[: cut if cut > width // 2 else width].rstrip(" ,;:") + " …"
    passage = " ".join(passage.split())
    out, last = [], 0
    for m in WORD.finditer(passage):
        word = m.group()
        hit = any(t in terms and len(t) > 1 and not is_stopword_token(t)
                  for t in word_tokens(word.lower()))
        out += [html.escape(passage[last:m.start()]), f"<mark>{word}</mark>" if hit else word]
        last = m.end()
    return "".join([*out, html.escape(passage[last:])])


def test_snippets_match_the_obvious_construction() -> None:
    articles = scan_content(CONTENT).articles
    rng = random.Random(11)
    checked = cut_words = 0
    for article in articles:
        text = article.body + ' Then "A&B" <failed>: connections.'
        source = SnippetText.prepare(text)
        words = WORD.findall(text)
        for width in (15, 37, 80, 220, 4000):
            query = " ".join(rng.sample(words, min(4, len(words))))
            terms = set(PreparedQuery.from_text(query).tokens)
            got = make_snippet(source, terms, width)
            assert got == reference_snippet(text, terms, width), (article.id, width, query)
            checked += 1
            cut_words += got.endswith(" …") and not got[:-2].endswith(" ")
    assert checked >= 300 and cut_words > 10


def test_passage_matches_brute_force_on_the_sample_kb() -> None:
    articles = scan_content(CONTENT).articles
    rng = random.Random(7)
    vocabulary = sorted({w for a in articles for w in WORD.findall(a.body)})
    checked = 0
    for article, _ in itertools.product(articles, range(3)):
        text = article.body
        source = SnippetText.prepare(text)
        query = " ".join([*rng.sample(vocabulary, 4), rng.choice(article.title.split())])
        terms = set(PreparedQuery.from_text(query).tokens)
        got = make_snippet(source, terms)
        assert got == reference_snippet(text, terms, SNIPPET_CHARS), (article.id, query)
        checked += 1
    assert checked >= 90


def test_stems_identifiers_and_stop_words() -> None:
    text = ("Intro. The connection failed twice. Connections to db-primary.internal time out "
            "when the pool is exhausted.")
    terms = set(PreparedQuery.from_text("connect to db-primary").tokens)
    out = make_snippet(text, terms)
    assert "<mark>connection</mark>" in out and "<mark>Connections</mark>" in out
    assert "<mark>db-primary.internal</mark>" in out
    assert "<mark>to</mark>" not in out  # a stop word is never marked


def test_word_met_after_a_search_is_still_matched() -> None:
    terms = set(PreparedQuery.from_text("zorblaxification").tokens)
    vocabulary = Vocabulary()
    first = SnippetText.prepare("The zorblaxification step failed.", vocabulary)
    assert "<mark>zorblaxification</mark>" in make_snippet(first, terms)
    later = SnippetText.prepare("Every zorblaxifications run retries.", vocabulary)  # same stem
    assert "<mark>zorblaxifications</mark>" in make_snippet(later, terms)


def test_each_searcher_numbers_its_own_words(kb_index: Path, embedder: Embedder) -> None:
    old, new = Searcher.open(kb_index, embedder), Searcher.open(kb_index, embedder)
    old.prepare_snippets()
    size = len(old._snippet_words.words)
    assert size > 100
    new.prepare_snippets()
    assert len(old._snippet_words.words) == size  # the new snapshot's searcher grew its own
    assert old._snippet_words is not new._snippet_words


def test_output_is_escaped() -> None:
    text = 'Error <script>alert("x")</script> & "quotes" in the widget log.'
    out = make_snippet(text, set(PreparedQuery.from_text("widget error").tokens))
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp;" in out
    assert out.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_prepared_ahead_snippets_are_the_same(kb_index: Path, embedder: Embedder) -> None:
    """A server prepares every article's snippet source after a load; searches then give the
    snippets they gave without it, and a stop request ends the preparation."""
    cold = Searcher.open(kb_index, embedder)
    query = "outlook keeps asking for my password"
    before = [r.snippet for r in cold.search(query).results]
    assert Searcher.open(kb_index, embedder).prepare_snippets(stop=lambda: True) == 0
    warm = Searcher.open(kb_index, embedder)
    assert warm.prepare_snippets() == len(warm.snapshot.articles)
    assert [r.snippet for r in warm.search(query).results] == before
    assert before and all(before)


# ---- issue 17 item 7: whole words, text not Markdown, the section that matched, titles ----

def test_only_whole_words_are_marked_never_one_character_fragments(searcher: Searcher) -> None:
    """The "t" of "can't" and stray one-character marks ("1", "c") are never marked."""
    for query in ("I can't print, it won't connect", "step 1 c drive full"):
        for r in searcher.search(query, audiences=STAFF).results:
            for marked in re.findall(r"<mark>([^<]*)</mark>", r.snippet + r.title_marked):
                assert len(marked) > 1, (query, r.article.id, r.snippet)


def test_snippets_are_text_not_markdown_nor_link_lists(searcher: Searcher) -> None:
    """Table rows read as cells (no pipes), and a "Related" list never supplies the snippet."""
    articles = {a.id: a for a in searcher.snapshot.articles}
    tables = [a for a in articles.values()
              if any(line.startswith("| ") for line in a.body.splitlines())]
    assert tables
    for a in tables:
        text = "\n".join(t for _, t in snippet_parts(a))
        assert " · " in text, a.id  # the rows' cells
        for line in text.splitlines():
            assert not re.fullmatch(r"\s*\|.*\|\s*", line), (a.id, line)  # a Markdown row
    for a in articles.values():
        assert "Related" not in [h for h, _ in snippet_parts(a)]
    # "mailbox full" is in calendar-sharing's Related list only: not its snippet.
    hit = next(r for r in searcher.search("calendar sharing mailbox full",
                                          audiences=STAFF).results
               if r.article.id == "calendar-sharing")
    assert "Mailbox full" not in hit.snippet


def test_the_snippet_names_its_section_and_the_title_is_marked(searcher: Searcher) -> None:
    r = searcher.search("choose a level to share my calendar with a delegate",
                        audiences=STAFF).results[0]
    assert r.article.id == "calendar-sharing"
    assert r.snippet_section == "Resolution", r.snippet
    assert "<mark>Delegate</mark>" in r.snippet or "<mark>level</mark>" in r.snippet
    assert "<mark>calendar</mark>" in r.title_marked
    source = SnippetText.prepare_sections([("", "lead text"), ("Symptom", "it breaks"),
                                           ("Resolution", "fix it now")])
    assert [source.section_at(i) for i in (0, 10, 20)] == [None, "Symptom", "Resolution"]
    # The passage stays in the section that matched and says which.
    assert snippet_in_section(source, {"fix"}) == ("<mark>fix</mark> it now", "Resolution")
