"""Candidate ranking and the confidence score, from the search signals plus the chunk vectors.

Signals per candidate article (the hybrid top-k and the dense top-k, within the caller's access):
- ``best``: cosine of the question with the article's best chunk (what the dense leg ranks by);
- ``second``: cosine with its second-best chunk: an article that answers a question tends to
  match it in more than one place, a chance hit matches one line;
- ``lexical``: agreement of the lexical leg (a bonus falling with its rank);
- ``pinned``: an exact identifier hit (error code, alert name) reported by the searcher.

``score = (best + SECOND_WEIGHT * second) / (1 + SECOND_WEIGHT) + lexical bonus + pinned bonus``
ranks the candidates, and the top candidate's score is the reply's confidence. The weights are
generic; only the threshold is chosen by the benchmark (bench/chat.py).

The search's own answer model (indexer/calibrated.py) reads the same question from every leg's
evidence; its probability that the search's first result answers the question travels on that
candidate as ``answer_confidence``. A short question ("wifi doesn't work") matches few chunk
words and can score low here while the search is sure of it: above the answer model's ``chat``
threshold (chosen leave-one-corpus-out by bench/answer_model.py so that at most 1% of
out-of-scope questions reach it on every development corpus) that candidate is answered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexer.article import Article
from indexer.legs.dense import Chunks
from indexer.search import SearchResult

SECOND_WEIGHT = 0.3
LEXICAL_BONUS = 0.03  # divided by the lexical rank
PINNED_BONUS = 0.15


@dataclass(frozen=True)
class Candidate:
    doc: int
    article: Article
    score: float  # the confidence of answering with this article
    best: float
    second: float
    head: float
    best_chunk: int  # index of the best-matching chunk within the article
    lexical_rank: int | None
    pinned: bool
    fused_rank: int | None
    answer_confidence: float | None = None  # the search's first result: the answer model's


def score_candidate(doc: int, article: Article, chunks: Chunks, vector: npt.NDArray[np.float32],
                    result: SearchResult | None, fused_rank: int | None,
                    answer_confidence: float | None = None) -> Candidate:
    """The candidate ``article`` (row ``doc``) for a question embedded as ``vector``."""
    sims = chunks.similarities(vector)
    if sims.size:
        order = np.argsort(-sims)
        best = float(sims[order[0]])
        second = float(sims[order[1]]) if sims.size > 1 else best
        head, best_chunk = float(sims[0]), int(order[0])
    else:
        best = second = head = 0.0
        best_chunk = 0
    lexical_rank = None
    pinned = False
    if result is not None:
        lex = result.legs.get("lexical")
        lexical_rank = lex.rank if lex else None
        pinned = result.pinned
    score = (best + SECOND_WEIGHT * second) / (1 + SECOND_WEIGHT)
    if lexical_rank:
        score += LEXICAL_BONUS / lexical_rank
    if pinned:
        score += PINNED_BONUS
    return Candidate(doc, article, round(min(score, 1.0), 4), best, second, head, best_chunk,
                     lexical_rank, pinned, fused_rank, answer_confidence)
