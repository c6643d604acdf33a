"""The hybrid searcher: run the legs, fuse their rankings, filter by access, build snippets.

    >>> searcher = Searcher.open(Path("var/index"), Embedder())
    >>> response = searcher.search("HikariPool-1 - Connection is not available", limit=5)
    >>> response.results[0].article.title
    'Database connection pool exhausted'
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from indexer.article import Article, Audience
from indexer.blocks import text_blocks
from indexer.calibrated import load_model, path_tokens
from indexer.embed import Embedder
from indexer.facets import Facets
from indexer.fuse import (
    Fused,
    FusionConfig,
    FusionMethod,
    dense_needed,
    fuse,
    fuse_calibrated,
    leg_weights,
)
from indexer.legs import LegHit, Mask, TagMatch
from indexer.legs.dense import Chunks, DenseLeg
from indexer.legs.tags import TagsLeg
from indexer.normalize import WORD, plain, tokenize
from indexer.query import PreparedQuery
from indexer.snapshot import LEG_NAMES, Snapshot
from indexer.snippet import SnippetText, Vocabulary, mark, snippet_in_section

LEGS = LEG_NAMES
SNIPPET_CACHE_SIZE = 8192  # prepared articles kept (officedocs: all 2,458 in 38 MB, with the vocabulary)
# "No audience filter": every article of the snapshot, whatever its audience (scripts, the CLI,
# benchmarks). Code serving a caller always passes the caller's audiences instead.
ALL_AUDIENCES: frozenset[Audience] | None = None


@dataclass(frozen=True)
class SearchRequest:
    """One search: the text and the part of the index the caller may see.

    The typed value every caller passes (routes through the service layer, the chatbot, alert
    intake, ChatOps, the CLI); ``Searcher.run`` answers it in the calling thread."""

    text: str
    audiences: frozenset[Audience] | None = ALL_AUDIENCES
    services: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    limit: int = 10
    offset: int = 0
    snippets: bool = True
    legs: tuple[str, ...] = LEGS


class LegEvidence(NamedTuple):
    """What one leg said about a result: its rank there (1-based), its score, and under the
    calibrated fusion its share of the logit."""

    rank: int
    score: float
    logit: float | None = None

    def explain(self) -> dict[str, float | int]:
        """The ``explain`` form (the HTTP and CLI contract): rank, score and logit if any."""
        out: dict[str, float | int] = {"rank": self.rank, "score": self.score}
        if self.logit is not None:
            out["logit"] = self.logit
        return out


_BULLET = re.compile(r"(?m)^(\s*)- ")
# Link lists say nothing about the problem: a snippet never comes from them.
_NOT_SNIPPETS = {"related", "related articles", "see also", "references", "links",
                 "further reading"}


def snippet_parts(article: Article) -> list[tuple[str, str]]:
    """(heading, text) of the sections a snippet may come from: the Symptom first (it wins ties),
    lists and tables as lines of text (cells joined by " · ", no pipes), link lists left out."""
    parts: list[tuple[str, str]] = []
    for section in sorted(article.sections, key=lambda x: x.key != "symptom"):
        heading = section.heading if section.level > 1 else ""
        if heading.strip().lower() in _NOT_SNIPPETS or not section.text.strip():
            continue
        text = "\n".join(b.text for b in text_blocks(section.text))
        parts.append((heading, _BULLET.sub(r"\1", text)))  # a "- " reads as noise in one line
    return parts or [("", plain(article.body))]


def explain_legs(legs: dict[str, LegEvidence]) -> dict[str, dict[str, float | int]]:
    return {name: leg.explain() for name, leg in legs.items()}


@dataclass(frozen=True)
class SearchResult:
    article: Article
    score: float
    snippet: str  # HTML-safe, matched terms in <mark>
    matched: dict[str, Any]
    legs: dict[str, LegEvidence]  # the legs that found it (for explain, the chatbot, alerts)
    pinned: bool = False
    # Calibrated fusion: the logit's terms per leg, "title" and "agreement" (for explain).
    evidence: dict[str, float] = field(default_factory=dict)
    snippet_section: str | None = None  # the heading the snippet comes from ("Resolution")
    title_marked: str = ""  # the title HTML-escaped, matched words in <mark> (with snippets)


@dataclass
class SearchPlan:
    """A search between its exact legs and its dense leg (``Searcher.plan``): the prepared
    query, who may see what, the rankings so far, and whether the dense leg is still needed."""

    text: str  # as the caller sent it
    query: PreparedQuery
    audiences: frozenset[Audience] | None
    allowed: Mask | None
    rankings: dict[str, list[LegHit]]
    pinned: set[int]
    needs_vector: bool
    started: float  # time.perf_counter() when the search began


@dataclass(frozen=True)
class SearchResponse:
    query: str
    normalized: str
    took_ms: float
    total: int
    results: list[SearchResult]
    # RRF: the per-leg weights; calibrated fusion: the top result's logit terms per leg.
    weights: dict[str, float] = field(default_factory=dict)
    suggestion: str | None = None
    # No result, or the first one is not pinned by an exact identifier and the answer model's
    # confidence is below its ``weak_match`` threshold (chosen leave-one-corpus-out by
    # bench/answer_model.py): the page should say the knowledge base may not answer this.
    weak_match: bool = False
    # Calibrated fusion: the answer model's probability that the first result answers the query
    # at all (the chatbot's confidence; ``weak_match`` is this below the model's threshold).
    confidence: float | None = None
    # Services and tags over all ``total`` results (``indexer.facets``), for narrowing.
    facets: Facets = field(default_factory=Facets)
    # The query's embedding when the dense leg ran (callers that score chunks reuse it).
    vector: npt.NDArray[np.float32] | None = field(default=None, compare=False, repr=False)


# How code outside the HTTP layer searches (the chatbot, alert intake, ChatOps): the service passes
# a function that runs the request on its search pools and records it; a script passes
# ``searcher.run``.
SearchFn = Callable[[SearchRequest], SearchResponse]


class Searcher:
    def __init__(self, snapshot: Snapshot, embedder: Embedder,
                 fusion: FusionConfig | None = None) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.fusion = fusion or FusionConfig()
        arts = snapshot.articles
        self._by_id = {a.id: i for i, a in enumerate(arts)}
        # One mask per audience the snapshot's articles name (whatever FIELDGUIDE_AUDIENCES
        # holds); an audience no article names selects nothing.
        present = sorted({aud for a in arts for aud in a.audience})
        self._audience_masks = {
            aud: np.array([aud in a.audience for a in arts], dtype=bool) for aud in present
        }
        self._suggest_words: dict[frozenset[Audience] | None, tuple[list[str], set[str]]] = {}
        self._withdrawn: Mask | None = None  # retired articles: no search returns them
        # Snippet sources of recently returned articles: preparing one costs more than the search.
        self._sources: OrderedDict[int, SnippetText] = OrderedDict()
        self._sources_lock = threading.Lock()
        self._title_tokens = [frozenset(tokenize(a.title)) for a in arts]
        self._path_tokens = [path_tokens(a.path) for a in arts]
        self._snippet_words = Vocabulary()  # the snippet sources' words, this snapshot's only

    @classmethod
    def open(cls, index_dir: Path, embedder: Embedder,
             fusion: FusionConfig | None = None) -> Searcher:
        return cls(Snapshot.load(index_dir), embedder, fusion)

    @property
    def version(self) -> str:
        return self.snapshot.version

    @property
    def title_tokens(self) -> list[frozenset[str]]:
        """Each article's title tokens (evidence for the calibrated fusion)."""
        return self._title_tokens

    @property
    def path_tokens(self) -> list[frozenset[str]]:
        """Each article's path tokens (evidence for the calibrated fusion)."""
        return self._path_tokens

    def article(self, article_id: str, audiences: Collection[Audience] | None = ALL_AUDIENCES
                ) -> Article | None:
        i = self._by_id.get(article_id)
        if i is None:
            return None
        a = self.snapshot.articles[i]
        return a if audiences is None or a.visible_to(frozenset(audiences)) else None

    def row(self, article_id: str) -> int | None:
        """The article's row in this snapshot (what ``chunks`` and ``dense_scores`` speak)."""
        return self._by_id.get(article_id)

    def chunks(self, doc: int) -> Chunks:
        """Article row ``doc``'s chunk vectors and section labels, as indexed."""
        return self.snapshot.dense.chunks(doc)

    def dense_scores(self, vector: npt.NDArray[np.float32], k: int,
                     audiences: Collection[Audience] | None = ALL_AUDIENCES
                     ) -> list[tuple[int, float]]:
        """The ``k`` article rows whose best chunk is closest to ``vector``, within
        ``audiences``: (row, cosine), best first."""
        return self.snapshot.dense.article_scores(vector, k, self.mask(audiences))

    def articles(self, audiences: Collection[Audience] | None = ALL_AUDIENCES
                 ) -> Iterable[Article]:
        if audiences is None:
            return iter(self.snapshot.articles)
        allowed = frozenset(audiences)
        return (a for a in self.snapshot.articles if a.visible_to(allowed))

    def withdraw(self, article_ids: Iterable[str]) -> None:
        """Keep these articles (retired ones) out of every search from now on, the dense
        scores the chatbot asks for included; they stay readable by id."""
        rows = [self._by_id[i] for i in article_ids if i in self._by_id]
        if not rows:
            self._withdrawn = None
            return
        withdrawn = np.zeros(len(self.snapshot.articles), dtype=bool)
        withdrawn[rows] = True
        self._withdrawn = withdrawn  # one assignment: a search sees the old set or the new

    def mask(self, audiences: Collection[Audience] | None, services: Collection[str] = (),
             tags: Collection[str] = ()) -> Mask | None:
        """The article rows a search may return (None: all). Every leg, faiss included (flat
        and HNSW), searches inside it: an article outside ``audiences`` is never a candidate."""
        mask: Mask | None = None
        if audiences is not None and not set(self._audience_masks) <= set(audiences):
            mask = np.zeros(len(self.snapshot.articles), dtype=bool)
            for aud in audiences:
                if aud in self._audience_masks:
                    mask |= self._audience_masks[aud]
        if services or tags:
            svc = {s.lower() for s in services}
            tg = {t.lower() for t in tags}
            extra = np.array([
                (not svc or bool(svc & {s.lower() for s in a.services}))
                and (not tg or bool(tg & {t.lower() for t in a.tags}))
                for a in self.snapshot.articles], dtype=bool)
            mask = extra if mask is None else mask & extra
        withdrawn = self._withdrawn
        if withdrawn is not None:
            mask = ~withdrawn if mask is None else mask & ~withdrawn
        return mask

    def plan(self, text: str, *, audiences: Collection[Audience] | None = ALL_AUDIENCES,
             services: Collection[str] = (), tags: Collection[str] = (),
             legs: Collection[str] = LEGS) -> SearchPlan:
        """The first half of a search: the query prepared and the exact legs run."""
        started = time.perf_counter()
        query = PreparedQuery.from_text(text)
        allowed = self.mask(audiences, services, tags)
        depth = self.fusion.depth
        rankings: dict[str, list[LegHit]] = {}
        for name, leg in self.snapshot.legs.items():  # the exact legs, in the registry's order
            if name in legs and name != DenseLeg.name:
                rankings[name] = leg.search(query, depth, allowed)
        pinned = {h.doc for h in rankings.get("tags", []) if TagsLeg.is_pinned(h)}
        needs = "dense" in legs and (len(legs) == 1 or dense_needed(query.shape, rankings, pinned))
        seen = None if audiences is None else frozenset(audiences)
        return SearchPlan(text, query, seen, allowed, rankings, pinned, needs, started)

    def add_dense(self, plan: SearchPlan) -> None:
        """The dense leg of a plan that needs it: the query embedded, the chunks scored. Native
        code (ONNX Runtime, BLAS) that releases the GIL, so a server runs it on a thread of its
        own while its search thread goes on with other requests."""
        if plan.needs_vector and "dense" not in plan.rankings:
            plan.query = plan.query.with_vector(self.embedder.encode_query(plan.query.normalized))
            plan.rankings["dense"] = self.snapshot.dense.search(
                plan.query, self.fusion.depth, plan.allowed)

    def finish(self, plan: SearchPlan, *, limit: int = 10, offset: int = 0,
               snippets: bool = True) -> SearchResponse:
        """The second half: the legs' rankings fused, the page of results built."""
        self.add_dense(plan)  # a caller that did not run it elsewhere
        query, rankings = plan.query, plan.rankings
        if self.fusion.method is FusionMethod.CALIBRATED and len(rankings) > 1:
            fused, confidence = fuse_calibrated(query, rankings, plan.pinned,
                                                self._title_tokens, self._path_tokens,
                                                self.fusion)
            w = {k: round(v, 4) for k, v in (fused[0].evidence or {}).items()} if fused else {}
            answer = load_model().answer
            weak = not fused or (not fused[0].pinned and answer is not None
                                 and confidence is not None and confidence < answer.weak_match)
        else:
            w = leg_weights(query.shape, rankings)
            if len(rankings) == 1:
                w = {k: 1.0 for k in rankings}
            fused = fuse(rankings, w, plan.pinned, self.fusion)
            weak = not fused
            confidence = None
        terms = set(query.tokens)
        results = []
        for f in fused[offset: offset + limit]:
            article = self.snapshot.articles[f.doc]
            results.append(SearchResult(
                article=article,
                score=round(f.score, 6),
                **self._snippet(f.doc, article, terms, snippets),
                matched=self._matched(f, terms, article),
                legs=self._legs(f),
                pinned=f.pinned,
                evidence={k: round(v, 4) for k, v in (f.evidence or {}).items()},
            ))
        suggestion = (self.suggest(query.normalized, plan.audiences)
                      if len(query.normalized) <= 200 else None)
        took = (time.perf_counter() - plan.started) * 1000
        return SearchResponse(query=plan.text, normalized=query.normalized,
                              took_ms=round(took, 2), total=len(fused), results=results,
                              weights=w, suggestion=suggestion, weak_match=weak,
                              confidence=None if confidence is None else round(confidence, 4),
                              facets=Facets.count(self.snapshot.articles[f.doc] for f in fused),
                              vector=query.vector)

    def search(self, text: str, *, limit: int = 10, offset: int = 0,
               audiences: Collection[Audience] | None = ALL_AUDIENCES,
               services: Collection[str] = (),
               tags: Collection[str] = (), legs: Collection[str] = LEGS,
               snippets: bool = True) -> SearchResponse:
        """A whole search in the calling thread: ``plan``, ``add_dense``, ``finish``."""
        plan = self.plan(text, audiences=audiences, services=services, tags=tags, legs=legs)
        return self.finish(plan, limit=limit, offset=offset, snippets=snippets)

    def run(self, request: SearchRequest) -> SearchResponse:
        """``request`` answered in the calling thread."""
        return self.search(request.text, limit=request.limit, offset=request.offset,
                           audiences=request.audiences, services=request.services,
                           tags=request.tags, legs=request.legs, snippets=request.snippets)

    def _vocabulary(self, audiences: frozenset[Audience] | None) -> tuple[list[str], set[str]]:
        """Words of the titles, symptoms and identifiers the caller may see (never others')."""
        cached = self._suggest_words.get(audiences)
        if cached is None:
            words = sorted({w.lower() for a in self.articles(audiences)
                            for w in WORD.findall(" ".join((a.title, *a.symptoms, *a.identifiers)))
                            if len(w) > 3 and w.isalpha()})
            cached = self._suggest_words[audiences] = (words, set(words))
        return cached

    def suggest(self, text: str, audiences: Collection[Audience] | None = ALL_AUDIENCES
                ) -> str | None:
        """A "did you mean" for queries with words the knowledge base does not know: each unknown
        word is replaced by the closest word of the titles, symptoms and identifiers the caller
        may see."""
        words = WORD.findall(text)
        vocab_list, vocab = self._vocabulary(None if audiences is None else frozenset(audiences))
        if not words or len(words) > 12 or not vocab_list:
            return None
        changed = False
        out = []
        for w in words:
            low = w.lower()
            known = low in vocab or all(t in self.snapshot.lexical.vocab for t in tokenize(w))
            if known or not low.isalpha() or len(low) < 4:
                out.append(w)
                continue
            best = process.extractOne(low, vocab_list, scorer=fuzz.ratio, score_cutoff=75)
            if best is None:
                out.append(w)
            else:
                out.append(best[0])
                changed = True
        return " ".join(out) if changed else None

    def prepare_snippets(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Prepare the snippet sources of the first ``SNIPPET_CACHE_SIZE`` articles now, so that
        the first searches after a load do not pay for them (a server runs this in the background
        after each snapshot swap: ~1 s for 2,458 officedocs articles). ``stop`` is asked between
        articles. Returns how many were prepared."""
        count = min(len(self.snapshot.articles), SNIPPET_CACHE_SIZE)
        for doc in range(count):
            if stop():
                return doc
            self._snippet_text(doc)
            if doc % 64 == 63:
                time.sleep(0)  # let request threads take the GIL
        return count

    def _snippet(self, doc: int, article: Article, terms: set[str],
                 wanted: bool) -> dict[str, Any]:
        """The snippet, the section it comes from, and the title with its matched words marked."""
        if not wanted:
            return {"snippet": ""}
        snippet, section = snippet_in_section(self._snippet_text(doc), terms)
        return {"snippet": snippet, "snippet_section": section,
                "title_marked": mark(article.title, terms, self._snippet_words)}

    def _snippet_text(self, doc: int) -> SnippetText:
        with self._sources_lock:
            source = self._sources.get(doc)
            if source is not None:
                self._sources.move_to_end(doc)
                return source
        source = SnippetText.prepare_sections(snippet_parts(self.snapshot.articles[doc]),
                                              self._snippet_words)
        with self._sources_lock:
            self._sources[doc] = source
            while len(self._sources) > SNIPPET_CACHE_SIZE:
                self._sources.popitem(last=False)
        return source

    @staticmethod
    def _legs(f: Fused) -> dict[str, LegEvidence]:
        logits = f.evidence or {}
        return {leg: LegEvidence(d.rank, round(d.score, 4),
                                 round(logits[leg], 4) if leg in logits else None)
                for leg, d in f.legs.items()}

    @staticmethod
    def _matched(f: Fused, terms: set[str], article: Article) -> dict[str, Any]:
        matched: dict[str, Any] = {"legs": sorted(f.legs)}
        tag = f.legs.get("tags")
        if tag is not None:
            for item in tag.matched:
                if isinstance(item, TagMatch) and item.field:
                    matched.setdefault(item.field, []).append(item.label)
        fz = f.legs.get("fuzzy")
        if fz is not None and fz.matched:
            matched["fuzzy"] = fz.matched[0]
        return matched
