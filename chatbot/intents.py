"""Intent detection without a hosted LLM: example phrases matched by embedding and by rapidfuzz.

    >>> detector = IntentDetector(embedder)
    >>> detector.detect("hi there").name
    'greeting'
    >>> detector.detect("my vpn drops every hour").name
    'question'

Each intent has a handful of examples. A message takes the intent of its nearest example when
the cosine clears ``cosine_threshold``; short messages (typed quickly, with typos) also match
when rapidfuzz says they are nearly the same string as an example. Everything else is a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from indexer.embed import Embedder
from indexer.query import PreparedQuery


class IntentName(StrEnum):
    GREETING = "greeting"
    THANKS = "thanks"
    BYE = "bye"
    BOT = "bot"  # "are you a bot?"
    HANDOFF = "handoff"  # wants a human
    NEGATIVE = "negative"  # "that didn't help"
    QUESTION = "question"


SMALLTALK = frozenset({IntentName.GREETING, IntentName.THANKS, IntentName.BYE, IntentName.BOT})

EXAMPLES: dict[IntentName, tuple[str, ...]] = {
    IntentName.GREETING: (
        "hi", "hello", "hey", "hey there", "hello there", "hi there", "good morning",
        "good afternoon", "good evening", "howdy", "yo", "hiya", "greetings",
        "how are you", "how are you doing", "what's up",
    ),
    IntentName.THANKS: (
        "thanks", "thank you", "thanks a lot", "thank you very much", "cheers", "many thanks",
        "great, thanks", "that helped, thanks", "awesome thank you", "perfect, thanks",
        "that worked", "it works now", "thx", "ty",
    ),
    IntentName.BYE: (
        "bye", "goodbye", "see you", "see you later", "bye bye", "have a nice day",
        "that's all", "that is all for now", "I'm done", "ok bye",
    ),
    IntentName.BOT: (
        "are you a bot", "are you a robot", "am I talking to a machine", "are you human",
        "are you a real person", "who are you", "what are you", "is this an automated chat",
        "what can you do", "how do you work",
    ),
    IntentName.HANDOFF: (
        "talk to a human", "I want to speak to a person", "agent please", "human please",
        "connect me to an agent", "can I talk to someone", "speak to support staff",
        "let me talk to a real person", "get me a technician", "I need a human",
        "open a ticket", "create a support ticket", "call the service desk",
        "escalate this", "representative", "speak to an agent", "talk to an agent",
        "I want a real person", "real person please", "can I speak to a person",
        "transfer me to support", "is there a person I can talk to",
    ),
    IntentName.NEGATIVE: (
        "that didn't help", "that did not help", "this doesn't help", "not helpful",
        "that's not it", "that is not what I asked", "wrong answer", "that didn't work",
        "it still doesn't work", "still broken", "no, that's not my problem",
        "useless", "that does not solve my problem", "nope",
    ),
}

_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Intent:
    name: IntentName
    score: float  # cosine (or rapidfuzz ratio / 100) of the nearest example
    example: str = ""
    via: str = "embedding"  # "embedding", "fuzzy" or "none"

    @property
    def smalltalk(self) -> bool:
        return self.name in SMALLTALK


class IntentDetector:
    """Nearest-example intent matching. Cheap constructor; ``warm_up`` embeds the examples."""

    def __init__(self, embedder: Embedder, *, cosine_threshold: float = 0.70,
                 fuzzy_threshold: float = 82.0, fuzzy_max_words: int = 6,
                 max_words: int = 12,
                 examples: dict[IntentName, tuple[str, ...]] | None = None) -> None:
        self.embedder = embedder
        self.cosine_threshold = cosine_threshold
        self.fuzzy_threshold = fuzzy_threshold
        self.fuzzy_max_words = fuzzy_max_words
        self.max_words = max_words
        self.examples = examples or EXAMPLES
        self._labels: list[IntentName] = []
        self._texts: list[str] = []
        self._plain: list[str] = []  # the examples as lowercase words, for rapidfuzz
        self._matrix: npt.NDArray[np.float32] | None = None

    def warm_up(self) -> None:
        if self._matrix is not None:
            return
        labels, texts = [], []
        for name, phrases in self.examples.items():
            for phrase in phrases:
                labels.append(name)
                texts.append(phrase)
        # Embedded the way the engine embeds a message: through the query normaliser.
        vectors = [self.embedder.encode_query(self.normalize(t)) for t in texts]
        self._labels, self._texts = labels, texts
        self._plain = [" ".join(_WORDS.findall(t.lower())) for t in texts]
        self._matrix = np.stack(vectors).astype(np.float32)

    @staticmethod
    def normalize(text: str) -> str:
        return PreparedQuery.from_text(text).normalized

    def detect(self, text: str, vector: npt.NDArray[np.float32] | None = None) -> Intent:
        """The intent of ``text``; ``vector`` is its query embedding when the caller has it."""
        self.warm_up()
        assert self._matrix is not None
        words = _WORDS.findall(text.lower())
        if not words:
            return Intent(IntentName.QUESTION, 0.0, via="none")
        # A long message is a question even when it opens with "hi": never swallow it as smalltalk.
        if len(words) > self.max_words:
            return Intent(IntentName.QUESTION, 0.0, via="none")
        # One typo in a short word costs ~17 points of ratio: below 4 characters, no fuzz at all.
        if len(words) <= self.fuzzy_max_words and len(" ".join(words)) >= 4:
            hit = process.extractOne(" ".join(words), self._plain, scorer=fuzz.ratio,
                                     score_cutoff=self.fuzzy_threshold)
            if hit is not None:
                return Intent(self._labels[hit[2]], hit[1] / 100, self._texts[hit[2]],
                              via="fuzzy")
        if vector is None:
            vector = self.embedder.encode_query(self.normalize(text))
        sims = self._matrix @ vector
        best = int(np.argmax(sims))
        score = float(sims[best])
        if score >= self.cosine_threshold:
            return Intent(self._labels[best], score, self._texts[best])
        return Intent(IntentName.QUESTION, score, self._texts[best], via="none")
