"""Fusion of the legs' rankings into one: weighted reciprocal-rank fusion that adapts to the query.

An error code or a pasted log line is not a paraphrased question: identifier-heavy and noisy
queries lean on the lexical and fuzzy legs, natural-language questions on the dense leg. Hits
through a strong identifier (an exact error code or alert name) are pinned above everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from indexer.calibrated import FusionModel, answer_evidence, candidates, load_model
from indexer.legs import LegHit, TagMatch
from indexer.normalize import QueryShape
from indexer.query import PreparedQuery


class FusionMethod(StrEnum):
    CALIBRATED = "calibrated"  # a logistic model over every leg's evidence (default; calibrated.py)
    RRF = "rrf"  # weighted reciprocal-rank fusion with hand-set weights (the previous default)
    BLEND = "blend"  # weighted blend of min-max normalised scores


class LegDetail(NamedTuple):
    rank: int  # 1-based rank within the leg
    score: float
    matched: tuple[str | TagMatch, ...] = ()


class Fused(NamedTuple):
    doc: int
    score: float
    pinned: bool
    legs: dict[str, LegDetail]
    # Calibrated fusion: each leg's (and the title's, the agreement's) share of the logit.
    evidence: dict[str, float] | None = None


@dataclass(frozen=True)
class FusionConfig:
    method: FusionMethod = FusionMethod.CALIBRATED
    rrf_k: float = 5.0  # small: the first ranks of a confident leg should decide
    depth: int = 50  # candidates taken from each leg
    # A result found by the dense leg alone must be at least this similar to the query: below it,
    # "nearest" only means "least far", and a nonsense query should get "no results".
    min_dense_only: float = 0.3


def leg_weights(shape: QueryShape, rankings: dict[str, list[LegHit]] | None = None
                ) -> dict[str, float]:
    """Per-leg weights for one query: a prior from its surface shape, scaled by each leg's
    confidence in its own answer (how far its first hit stands above its second)."""
    lexical, dense, tags = 1.0, 1.0, 1.0
    # The fuzzy leg only reports near-verbatim matches of an article's own title, symptoms or
    # quoted error strings: for a paste that is strong evidence, for a question it is chance.
    fuzzy = 0.3 if shape.question else (1.5 if shape.words >= 6 else 1.0)
    if shape.identifiers >= 1 and shape.identifier_ratio >= 0.1:
        lexical, dense = 1.5, 0.7  # error codes, exception names, alert names: exact words matter
    elif shape.question:
        lexical, dense = 0.5, 1.5  # a question in the user's own words: meaning matters
    if rankings:
        lex = rankings.get("lexical") or []
        if len(lex) > 1 and lex[0].score > 0:
            lexical *= 1.0 + (1.0 - lex[1].score / lex[0].score)
        elif len(lex) == 1:
            lexical *= 2.0
        den = rankings.get("dense") or []
        if len(den) > 1:
            dense *= 1.0 + 10.0 * max(0.0, den[0].score - den[1].score)
    return {"lexical": lexical, "dense": dense, "fuzzy": fuzzy, "tags": tags}


def dense_needed(shape: QueryShape, rankings: dict[str, list[LegHit]], pinned: set[int],
                 near_verbatim: float = 95.0) -> bool:
    """Whether the dense leg can still change the answer. When the query names an exact error
    code or alert of exactly one article (pinned), or is a long paste that matches an article's
    own error string nearly verbatim, the exact legs have decided; embedding the query (most of a
    search's CPU) would only add noise. Several pinned articles (two runbooks named after the same
    alert) still need the dense leg to order them. On the development sets: equal or better
    nDCG, most alert-name and error-paste queries skip the embedding, no question does."""
    if len(pinned) == 1:
        return False
    fuzzy = rankings.get("fuzzy") or []
    return not (shape.words >= 6 and fuzzy and fuzzy[0].score >= near_verbatim)


def fuse(rankings: dict[str, list[LegHit]], weights: dict[str, float], pinned: set[int],
         config: FusionConfig) -> list[Fused]:
    scores: dict[int, float] = {}
    details: dict[int, dict[str, LegDetail]] = {}
    for leg, hits in rankings.items():
        w = weights.get(leg, 1.0)
        if not hits:
            continue
        if config.method is FusionMethod.BLEND:
            top, low = hits[0].score, hits[-1].score
            span = (top - low) or 1.0
        for rank, hit in enumerate(hits[: config.depth], start=1):
            if config.method is FusionMethod.BLEND:
                contrib = w * ((hit.score - low) / span if len(hits) > 1 else 1.0)
            else:
                contrib = w / (config.rrf_k + rank)
            scores[hit.doc] = scores.get(hit.doc, 0.0) + contrib
            details.setdefault(hit.doc, {})[leg] = LegDetail(rank, hit.score, hit.matched)
    fused = [Fused(d, s, d in pinned, details[d]) for d, s in scores.items()
             if not (set(details[d]) == {"dense"} and details[d]["dense"].score < config.min_dense_only)]
    fused.sort(key=lambda f: (not f.pinned, -f.score))
    return fused


class CalibratedRanking(NamedTuple):
    fused: list[Fused]
    # The answer model's probability that the first result answers the query at all (None: no
    # result, or a model without an answer part).
    confidence: float | None


def fuse_calibrated(query: PreparedQuery, rankings: dict[str, list[LegHit]], pinned: set[int],
                    title_tokens: list[frozenset[str]], path_tokens: list[frozenset[str]],
                    config: FusionConfig,
                    model: FusionModel | None = None) -> CalibratedRanking:
    """Rank the legs' candidates by the calibrated probability that each is relevant (pinned
    exact identifiers first, as with RRF); the score is that probability. The confidence is the
    answer model's reading of the same evidence for the first result."""
    model = model or load_model()
    cands = candidates(query.shape, query.tokens, rankings, pinned, title_tokens, path_tokens)
    if not cands.docs:
        return CalibratedRanking([], None)
    logits = model.logits(cands.x)
    probs = (1.0 / (1.0 + np.exp(-logits))).tolist()
    details: dict[int, dict[str, LegDetail]] = {d: {} for d in cands.docs}
    for leg, hits in rankings.items():
        for rank, hit in enumerate(hits[: config.depth], start=1):
            details[hit.doc][leg] = LegDetail(rank, hit.score, hit.matched)
    kept: list[tuple[Fused, int]] = []
    shares = model.contributions(cands.x)
    for i, doc in enumerate(cands.docs):
        legs = details[doc]
        if set(legs) == {"dense"} and legs["dense"].score < config.min_dense_only:
            continue
        kept.append((Fused(doc, probs[i], doc in pinned, legs, shares[i]), i))
    kept.sort(key=lambda fi: (not fi[0].pinned, -fi[0].score))
    confidence = None
    if kept and model.answer is not None:
        second = kept[1][1] if len(kept) > 1 else None
        confidence = model.answer.probability(
            answer_evidence(cands.x, logits, kept[0][1], second, query.shape))
    return CalibratedRanking([f for f, _ in kept], confidence)
