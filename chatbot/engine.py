"""The conversation engine: message in, reply out. Knows nothing of HTTP or the database.

    >>> engine = ChatEngine(searcher, embedder)
    >>> state = ConversationState()
    >>> engine.reply("my vpn keeps disconnecting", state).kind
    <ReplyKind.ANSWER: 'answer'>

Reply kinds: ``answer`` (the best article's resolution, with sources), ``clarify`` (the top
answers are close but about different things: one question, options as buttons), ``fallback``
(confidence below the threshold: the knowledge base has no answer, a ticket is offered; a weak
match is never shown), ``smalltalk`` and ``handoff`` (asked for a human, or "did not help" twice).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from chatbot.compose import answer_text
from chatbot.confidence import Candidate, score_candidate
from chatbot.config import ChatConfig
from chatbot.intents import Intent, IntentDetector, IntentName
from freshness.policy import Freshness, FreshnessSource
from indexer.article import Article, Audience
from indexer.calibrated import load_model
from indexer.embed import Embedder
from indexer.search import Searcher, SearchFn, SearchRequest, SearchResult

ANONYMOUS = frozenset({Audience.END_USER})
Clock = Callable[[], dt.datetime]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class ReplyKind(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    FALLBACK = "fallback"
    SMALLTALK = "smalltalk"
    HANDOFF = "handoff"


@dataclass(frozen=True)
class Source:
    id: str
    path: str
    title: str
    url: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "path": self.path, "title": self.title, "url": self.url}


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    text: str
    sources: tuple[Source, ...] = ()
    confidence: float | None = None
    options: tuple[str, ...] = ()  # clarify buttons: send one back as the next message
    freshness: Freshness | None = None  # an unverified source's freshness...
    banner: str | None = None  # ...and the warning shown with it
    intent: str | None = None


@dataclass
class ConversationState:
    """What the engine remembers between turns (the caller persists it)."""

    negative: int = 0  # "did not help" count since the last good answer
    last_sources: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)  # clarify label -> article id

    def to_dict(self) -> dict[str, Any]:
        return {"negative": self.negative, "last_sources": list(self.last_sources),
                "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConversationState:
        data = data or {}
        return cls(int(data.get("negative", 0)), tuple(data.get("last_sources", ())),
                   dict(data.get("options", {})))


def clean_message(text: str, limit: int) -> str:
    """Control characters out, whitespace collapsed, clipped to ``limit`` characters."""
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n"))
    return " ".join(text.split())[:limit]


SMALLTALK_TEXT = {
    IntentName.GREETING: "Hello! Describe the problem you are having (the message you see, the "
                         "app) and I will look it up in the knowledge base.",
    IntentName.THANKS: "You're welcome. Anything else I can look up for you?",
    IntentName.BYE: "Goodbye! Come back any time you need help.",
    IntentName.BOT: "I'm the Fieldguide assistant, a bot that answers from the knowledge base "
                    "articles. If I can't help, I'll pass you to a person with everything "
                    "you told me. What is the problem?",
}
FALLBACK_TEXT = ("The knowledge base has no answer for that. I can open a ticket so a person "
                 "can help: use \"Talk to a person\" and describe what you have already tried.")
HANDOFF_TEXT = ("I'll pass this to a person. Open a ticket with \"Talk to a person\": your "
                "questions, the articles I showed and what you tried go with it, so you won't "
                "have to repeat yourself.")
NEGATIVE_TEXT = ("Sorry that didn't help. Can you describe the problem differently (the exact "
                 "message, the app, what you already tried)? Or ask for a person.")


def banner_text(article: Article, freshness: Freshness | None) -> str | None:
    """The unverified banner for an answer, when the freshness provider raises it."""
    if freshness is None or not freshness.banner:
        return None
    since = article.last_reviewed or article.created
    when = f"since {since.isoformat()}" if since else "recently"
    return f"This article has not been reviewed {when}; the steps may be out of date."


class ChatEngine:
    """Turns a message (and the conversation state) into a reply."""

    def __init__(self, searcher: Searcher | Callable[[], Searcher], embedder: Embedder,
                 config: ChatConfig | None = None, clock: Clock | None = None,
                 freshness: FreshnessSource | None = None, search: SearchFn | None = None
                 ) -> None:
        """``search``: how a question is searched (the service passes its ``SearchFn``, which
        runs on the search pools); default: the searcher in the calling thread."""
        self._searcher = searcher
        self._search = search
        self.embedder = embedder
        self.config = config or ChatConfig()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.freshness_source = freshness
        self.intents = IntentDetector(embedder, cosine_threshold=self.config.intent_threshold,
                                      fuzzy_threshold=self.config.intent_fuzzy_threshold)

    @property
    def searcher(self) -> Searcher:
        s = self._searcher
        return s if isinstance(s, Searcher) else s()

    def warm_up(self) -> None:
        self.intents.warm_up()

    # -- ranking ---------------------------------------------------------------------------
    def candidates(self, text: str, audiences: Collection[Audience] = ANONYMOUS
                   ) -> list[Candidate]:
        """Candidate articles for a question, best first, within ``audiences``."""
        searcher = self.searcher
        k = self.config.candidates
        request = SearchRequest(text, frozenset(audiences), limit=k, snippets=False)
        resp = self._search(request) if self._search is not None else searcher.run(request)
        # The search's own query embedding when its dense leg ran (the same normalised text).
        vector = resp.vector if resp.vector is not None else \
            self.embedder.encode_query(resp.normalized)
        found: dict[int, tuple[SearchResult | None, int | None]] = {}
        for rank, r in enumerate(resp.results, 1):
            doc = searcher.row(r.article.id)
            if doc is not None:
                found[doc] = (r, rank)
        for doc, _ in searcher.dense_scores(vector, k, audiences):
            found.setdefault(doc, (None, None))
        arts = searcher.snapshot.articles
        out = [score_candidate(doc, arts[doc], searcher.chunks(doc), vector, r, rank,
                               resp.confidence if rank == 1 else None)
               for doc, (r, rank) in found.items()
               if arts[doc].visible_to(frozenset(audiences))]
        out.sort(key=lambda c: -c.score)
        return out

    # -- the turn --------------------------------------------------------------------------
    def reply(self, message: str, state: ConversationState | None = None,
              audiences: Collection[Audience] = ANONYMOUS) -> Reply:
        state = state if state is not None else ConversationState()
        text = clean_message(message, self.config.max_message_chars)
        if not text:
            return Reply(ReplyKind.SMALLTALK, "Please type your question.", intent="empty")
        picked = self._picked_option(text, state, audiences)
        if picked is not None:
            return self._answer(picked, state, picked_confidence=None)
        intent = self.intents.detect(text, self.embedder.encode_query(
            self.intents.normalize(text)))
        if intent.name is IntentName.HANDOFF:
            return self._handoff(state, intent)
        if intent.name is IntentName.NEGATIVE:
            state.negative += 1
            state.options = {}
            if state.negative >= 2:
                return self._handoff(state, intent)
            return Reply(ReplyKind.FALLBACK, NEGATIVE_TEXT, intent=intent.name.value)
        if intent.smalltalk:
            return Reply(ReplyKind.SMALLTALK, SMALLTALK_TEXT[intent.name], intent=intent.name.value)
        return self._question(text, state, audiences, intent)

    def _question(self, text: str, state: ConversationState, audiences: Collection[Audience],
                  intent: Intent) -> Reply:
        cands = self.candidates(text, audiences)
        state.options = {}
        kind, chosen = self.decide(cands)
        if kind is ReplyKind.FALLBACK:
            state.last_sources = ()
            return Reply(ReplyKind.FALLBACK, FALLBACK_TEXT,
                         confidence=cands[0].score if cands else 0.0, intent=intent.name.value)
        if kind is ReplyKind.CLARIFY:
            return self._clarify(chosen, state)
        top = chosen[0]
        # Answered through the search's answer model: that is the confidence it was answered on.
        sure = top.score < self.config.confidence_threshold and top.answer_confidence is not None
        return self._answer(top, state, picked_confidence=top.answer_confidence if sure
                            else top.score)

    def decide(self, cands: list[Candidate], threshold: float | None = None
               ) -> tuple[ReplyKind, list[Candidate]]:
        """answer / clarify / fallback for ranked candidates (pure: the benchmark sweeps it)."""
        threshold = self.config.confidence_threshold if threshold is None else threshold
        if not cands:
            return ReplyKind.FALLBACK, []
        if cands[0].score < threshold:
            sure = self._sure(cands)
            return (ReplyKind.ANSWER, [sure]) if sure is not None else (ReplyKind.FALLBACK, [])
        top = cands[0]
        rivals = [c for c in cands[1:4]
                  if c.score >= threshold and top.score - c.score < self.config.clarify_margin
                  and self._distinct(top, c)]
        if rivals:
            return ReplyKind.CLARIFY, [top, *rivals[:2]]
        return ReplyKind.ANSWER, [top]

    def _sure(self, cands: list[Candidate]) -> Candidate | None:
        """The search's first result when its answer model is sure of it (chatbot/confidence.py)
        although the chunk score is not."""
        answer = load_model().answer
        if answer is None:
            return None
        return next((c for c in cands if c.answer_confidence is not None
                     and c.answer_confidence >= answer.chat), None)

    def _distinct(self, a: Candidate, b: Candidate) -> bool:
        """True when two articles are about different things (their heads are far apart)."""
        searcher = self.searcher
        ra, rb = searcher.chunks(a.doc).vectors, searcher.chunks(b.doc).vectors
        if ra.size == 0 or rb.size == 0:
            return True
        return float(np.dot(ra[0], rb[0])) < self.config.clarify_distinct

    def _clarify(self, options: list[Candidate], state: ConversationState) -> Reply:
        labels = [c.article.title for c in options]
        state.options = {c.article.title: c.article.id for c in options}
        question = "Which of these is closest to your problem? " + " / ".join(labels)
        return Reply(ReplyKind.CLARIFY, question,
                     sources=tuple(self._source(c.article) for c in options),
                     confidence=options[0].score, options=tuple(labels), intent="question")

    def _picked_option(self, text: str, state: ConversationState,
                       audiences: Collection[Audience]) -> Candidate | None:
        if not state.options:
            return None
        labels = list(state.options)
        choice: str | None = None
        if text.strip().isdigit() and 1 <= int(text) <= len(labels):
            choice = labels[int(text) - 1]
        else:
            hit = process.extractOne(text, labels, scorer=fuzz.WRatio, score_cutoff=90)
            choice = hit[0] if hit else None
        if choice is None:
            return None
        searcher = self.searcher
        article = searcher.article(state.options[choice], audiences)  # access re-checked
        if article is None:
            return None
        doc = searcher.row(article.id)
        if doc is None:
            return None
        vector = self.embedder.encode_query(self.intents.normalize(text))
        return score_candidate(doc, article, searcher.chunks(doc), vector, None, None)

    def _answer(self, cand: Candidate, state: ConversationState,
                picked_confidence: float | None) -> Reply:
        article = cand.article
        labels = self.searcher.chunks(cand.doc).labels
        label = (labels[cand.best_chunk] or None) if cand.best_chunk < len(labels) else None
        body = answer_text(article, label, self.config.max_answer_chars)
        freshness = self._freshness(article.id)
        banner = banner_text(article, freshness)
        parts = [f"{article.title}:", body]
        if banner:
            parts.insert(0, f"Note: {banner}")
        # No "Did this help?" here: the widget asks it under the answer, with its buttons.
        state.options = {}
        state.last_sources = (article.id,)
        return Reply(ReplyKind.ANSWER, "\n\n".join(parts), sources=(self._source(article),),
                     confidence=picked_confidence, freshness=freshness if banner else None,
                     banner=banner, intent="question")

    def _freshness(self, article_id: str) -> Freshness | None:
        if self.freshness_source is None:
            return None
        try:
            return self.freshness_source.freshness(article_id)
        except Exception:  # a broken provider must not break the chat: no banner, answer anyway
            return None

    def _handoff(self, state: ConversationState, intent: Intent) -> Reply:
        state.options = {}
        return Reply(ReplyKind.HANDOFF, HANDOFF_TEXT, intent=intent.name.value)

    def _source(self, article: Article) -> Source:
        return Source(article.id, article.path, article.title, self.config.article_url(article.id))
