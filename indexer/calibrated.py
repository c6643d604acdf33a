"""Calibrated fusion: a logistic model over per-(query, article) evidence from every leg.

Each candidate article (any leg's hit) is described by what the legs said about it — its rank and
score in each leg, the score relative to the leg's top, the leg's margin between its first and
second hit, whether its title and its path (the folders a wiki files it under, its file name)
hold the query's words — and by the query's shape. A logistic
model maps that to a probability of relevance; results are ranked by it, and its per-leg terms
explain the rank. The model is a small versioned JSON file (``fusion-model.json`` beside this
module) trained leave-one-corpus-out by ``bench/train_fusion.py``; scoring is numpy only.

No feature names a corpus, a path or a query set: the same evidence is computed for any
knowledge base.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from indexer.legs import LegHit
from indexer.normalize import QueryShape, is_stopword_token, tokenize

MODEL_PATH = Path(__file__).with_name("fusion-model.json")
MODEL_FORMAT = 1
DEPTH = 50  # candidates per leg (FusionConfig.depth)

# (name, leg it explains): "query" terms are the query's shape alone, constant across candidates.
FEATURES: tuple[tuple[str, str], ...] = (
    ("lex_in", "lexical"), ("lex_rr", "lexical"), ("lex_rel", "lexical"),
    ("lex_top", "lexical"), ("lex_margin_top", "lexical"), ("lex_log_score", "lexical"),
    ("lex_margin_top_ident", "lexical"), ("lex_margin_top_plain", "lexical"),
    ("lex_rr_question", "lexical"), ("lex_rr_ident", "lexical"), ("lex_rr_words", "lexical"),
    ("den_in", "dense"), ("den_rr", "dense"), ("den_cos", "dense"), ("den_gap", "dense"),
    ("den_top_margin", "dense"), ("den_missing", "dense"), ("den_rr_question", "dense"),
    ("den_rr_ident", "dense"), ("den_rr_words", "dense"), ("den_cos_plain", "dense"),
    ("den_agree", "dense"),
    ("fz_in", "fuzzy"), ("fz_rr", "fuzzy"), ("fz_score", "fuzzy"), ("fz_rr_question", "fuzzy"),
    ("fz_score_words", "fuzzy"),
    ("tag_in", "tags"), ("tag_strong", "tags"), ("tag_log", "tags"), ("pinned", "tags"),
    ("title_overlap", "title"), ("title_all", "title"),
    ("path_overlap", "path"), ("path_log_shared", "path"),
    ("agree_lex_den", "agreement"), ("agree_legs", "agreement"),
)
NAMES = tuple(n for n, _ in FEATURES)
_COL = {n: i for i, n in enumerate(NAMES)}


@dataclass(frozen=True)
class Candidates:
    """The candidate articles of one query and their evidence, one row per article."""

    docs: list[int]
    x: npt.NDArray[np.float64]  # (len(docs), len(FEATURES))


def path_tokens(path: str) -> frozenset[str]:
    """The tokens of an article's relative path, each folder and the file name on its own
    (``docs/web-pages/README.md`` -> doc, web-pages, web, page, readm...): wikis file a page
    under the service or product it is about, and alerts and questions name that service."""
    stem = path[:-3] if path.endswith(".md") else path
    return frozenset(tokenize(stem.replace("/", " / ")))


def _margin(hits: list[LegHit], relative: bool) -> float:
    if len(hits) < 2:
        return 1.0 if hits else 0.0
    top, second = hits[0].score, hits[1].score
    if relative:
        return max(0.0, 1.0 - second / top) if top > 0 else 0.0
    return max(0.0, top - second)


def candidates(shape: QueryShape, tokens: tuple[str, ...], rankings: dict[str, list[LegHit]],
               pinned: set[int], title_tokens: list[frozenset[str]],
               path_tokens: list[frozenset[str]]) -> Candidates:
    """Every leg's hits (down to ``DEPTH``) as rows of evidence."""
    rows: dict[int, int] = {}
    for hits in rankings.values():
        for hit in hits[:DEPTH]:
            rows.setdefault(hit.doc, len(rows))
    docs = list(rows)
    x = np.zeros((len(docs), len(NAMES)), dtype=np.float64)
    question = 1.0 if shape.question else 0.0
    ident = 1.0 if shape.identifiers >= 1 else 0.0
    words = math.log1p(shape.words)
    col = _COL

    lex = rankings.get("lexical") or []
    lex_margin = _margin(lex, relative=True)
    for rank, hit in enumerate(lex[:DEPTH], 1):
        r = x[rows[hit.doc]]
        rr = 1.0 / rank
        r[col["lex_in"]] = 1.0
        r[col["lex_rr"]] = rr
        r[col["lex_rel"]] = hit.score / lex[0].score if lex[0].score > 0 else 0.0
        r[col["lex_log_score"]] = math.log1p(max(hit.score, 0.0))
        if rank == 1:
            r[col["lex_top"]] = 1.0
            r[col["lex_margin_top"]] = lex_margin
            r[col["lex_margin_top_ident"]] = lex_margin * ident
            r[col["lex_margin_top_plain"]] = lex_margin * (1.0 - ident)
        r[col["lex_rr_question"]] = rr * question
        r[col["lex_rr_ident"]] = rr * ident
        r[col["lex_rr_words"]] = rr * words

    den = rankings.get("dense")
    if den is not None:
        top = den[0].score if den else 0.0
        den_margin = _margin(den, relative=False)
        x[:, col["den_missing"]] = 1.0
        for rank, hit in enumerate(den[:DEPTH], 1):
            r = x[rows[hit.doc]]
            rr = 1.0 / rank
            r[col["den_in"]] = 1.0
            r[col["den_missing"]] = 0.0
            r[col["den_rr"]] = rr
            r[col["den_cos"]] = hit.score
            r[col["den_gap"]] = top - hit.score
            if rank == 1:
                r[col["den_top_margin"]] = den_margin
            r[col["den_rr_question"]] = rr * question
            r[col["den_rr_ident"]] = rr * ident
            r[col["den_rr_words"]] = rr * words
            r[col["den_cos_plain"]] = hit.score * (1.0 - ident)
            r[col["den_agree"]] = hit.agree

    for rank, hit in enumerate((rankings.get("fuzzy") or [])[:DEPTH], 1):
        r = x[rows[hit.doc]]
        rr = 1.0 / rank
        r[col["fz_in"]] = 1.0
        r[col["fz_rr"]] = rr
        r[col["fz_score"]] = hit.score / 100.0
        r[col["fz_rr_question"]] = rr * question
        r[col["fz_score_words"]] = hit.score / 100.0 * words

    for hit in (rankings.get("tags") or [])[:DEPTH]:
        r = x[rows[hit.doc]]
        r[col["tag_in"]] = 1.0
        r[col["tag_strong"]] = 1.0 if hit.score >= 10.0 else 0.0
        r[col["tag_log"]] = math.log1p(hit.score)

    content = {t for t in tokens if not is_stopword_token(t)}
    for doc, i in rows.items():
        r = x[i]
        r[col["pinned"]] = 1.0 if doc in pinned else 0.0
        if content:
            shared = len(content & title_tokens[doc])
            r[col["title_overlap"]] = shared / len(content)
            r[col["title_all"]] = 1.0 if shared == len(content) else 0.0
            in_path = len(content & path_tokens[doc])
            r[col["path_overlap"]] = in_path / len(content)
            r[col["path_log_shared"]] = math.log1p(in_path)
        r[col["agree_lex_den"]] = r[col["lex_in"]] * r[col["den_in"]]
        r[col["agree_legs"]] = (r[col["lex_in"]] + r[col["den_in"]] + r[col["fz_in"]]
                                + r[col["tag_in"]])
    return Candidates(docs, x)


# Query-level evidence for "does the first result answer the query at all?" (the answer model).
# The fusion's probabilities are relative (ranks, margins, shares of a leg's top), so an
# unrelated query whose lexical leg finds one loosely matching article can look decisive; these
# add what is absolute: the best cosine any chunk reaches, the first result's BM25 score, how much
# of the query its title holds, and the query's shape.
ANSWER_FEATURES: tuple[str, ...] = (
    "top_logit", "top_gap", "den_best", "den_ran", "top_den_cos", "top_lex_log", "top_lex_top",
    "top_lex_margin", "top_title", "top_title_all", "top_path", "top_fz", "top_tag_strong",
    "top_agree", "question", "ident", "log_words",
    # A search whose dense leg did not run (a paste decided by exact evidence) and one whose
    # dense leg did read the same evidence differently: the logit and the BM25 score per regime,
    # and the cosines' curvature.
    "den_best_sq", "top_den_cos_sq", "lex_log_no_dense", "logit_dense", "logit_no_dense",
    "den_best_question", "top_den_cos_words",
)
_LOGIT_CLIP = 15.0


def answer_evidence(x: npt.NDArray[np.float64], logits: npt.NDArray[np.float64], top: int,
                    second: int | None, shape: QueryShape) -> npt.NDArray[np.float64]:
    """The answer model's features for one query: ``x`` and ``logits`` are its candidates' rows
    and fusion logits, ``top`` and ``second`` the rows shown first and second."""
    c = _COL
    t = x[top]
    lt = float(np.clip(logits[top], -_LOGIT_CLIP, _LOGIT_CLIP))
    gap = _LOGIT_CLIP if second is None else float(
        np.clip(logits[top] - logits[second], 0.0, _LOGIT_CLIP))
    den_ran = float(bool(x[:, c["den_in"]].any() or x[:, c["den_missing"]].any()))
    den_best = float(x[:, c["den_cos"]].max(initial=0.0))
    top_cos = float(t[c["den_cos"]])
    question = 1.0 if shape.question else 0.0
    log_words = math.log1p(shape.words)
    return np.array([
        lt, gap, den_best, den_ran, top_cos, t[c["lex_log_score"]], t[c["lex_top"]],
        t[c["lex_margin_top"]], t[c["title_overlap"]], t[c["title_all"]], t[c["path_overlap"]],
        t[c["fz_score"]], t[c["tag_strong"]], t[c["agree_legs"]], question,
        1.0 if shape.identifiers >= 1 else 0.0, log_words,
        den_best * den_best, top_cos * top_cos, t[c["lex_log_score"]] * (1.0 - den_ran),
        lt * den_ran, lt * (1.0 - den_ran), den_best * question, top_cos * log_words,
    ], dtype=np.float64)


@dataclass(frozen=True)
class AnswerModel:
    """A logistic model over ``ANSWER_FEATURES``: the probability that a search's first result
    answers the query (the query may be one the knowledge base does not cover at all).

    Two thresholds read it, each chosen leave-one-corpus-out by ``bench/answer_model.py``:
    ``weak_match`` (below it the search page says "no good match") and ``chat`` (at or above it
    the chatbot answers with the search's first result even when its own chunk score is low:
    a short question the search knows the answer to)."""

    names: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    bias: float
    weak_match: float = 0.5
    chat: float = 0.5

    def probabilities(self, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        logit = self.bias + ((z - self.mean) / self.scale) @ self.weights
        return 1.0 / (1.0 + np.exp(-logit))

    def probability(self, z: npt.NDArray[np.float64]) -> float:
        return float(self.probabilities(z[None, :])[0])

    def to_dict(self, **extra: object) -> dict[str, object]:
        return {"features": list(self.names), "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(), "weights": self.weights.round(6).tolist(),
                "bias": round(self.bias, 6), "weak_match": self.weak_match, "chat": self.chat,
                **extra}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AnswerModel:
        features = data.get("features")
        if not isinstance(features, list) or tuple(features) != ANSWER_FEATURES:
            raise ValueError("fusion model: its answer model's features do not match this "
                             f"code's {ANSWER_FEATURES}; retrain with bench/answer_model.py")
        return cls(ANSWER_FEATURES, np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["scale"], dtype=np.float64),
                   np.asarray(data["weights"], dtype=np.float64),
                   float(data["bias"]),  # type: ignore[arg-type]
                   float(data["weak_match"]), float(data["chat"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class FusionModel:
    """A logistic model over standardised evidence: ``p = sigmoid(bias + w . (x - mean) / scale)``.

    ``answer``: the query-level model over this model's output (is the first result an answer
    at all?) with the weak-match and chat thresholds. It belongs to the model, whose logits it
    reads: ``bench/answer_model.py`` fits it leave-one-corpus-out whenever the fusion is retrained
    (a fitted-but-not-yet-shipped fusion has none)."""

    version: str
    names: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    bias: float
    answer: AnswerModel | None = None

    def logits(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return self.bias + ((x - self.mean) / self.scale) @ self.weights

    def probabilities(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 1.0 / (1.0 + np.exp(-self.logits(x)))

    def contributions(self, x: npt.NDArray[np.float64]) -> list[dict[str, float]]:
        """Each leg's share of each candidate's logit (its features' terms summed), for explain:
        one dict per row of ``x``, computed as one matrix product (a search has ~60 candidates)."""
        groups, summing = _leg_groups(self.names)
        shares = (((x - self.mean) / self.scale * self.weights) @ summing).tolist()
        return [dict(zip(groups, row, strict=True)) for row in shares]

    def to_json(self, **extra: object) -> str:
        """The model file; ``extra`` carries the evidence (``answer`` there: the answer model
        with its thresholds and the curves they were chosen on)."""
        return json.dumps({"format": MODEL_FORMAT, "version": self.version,
                           "features": list(self.names), "mean": self.mean.round(6).tolist(),
                           "scale": self.scale.round(6).tolist(),
                           "weights": self.weights.round(6).tolist(),
                           "bias": round(self.bias, 6), **extra}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FusionModel:
        data = json.loads(text)
        if data.get("format") != MODEL_FORMAT or tuple(data["features"]) != NAMES:
            raise ValueError(f"fusion model: format {data.get('format')} with features "
                             f"{data.get('features')} does not match this code's {NAMES}; "
                             "retrain with bench/train_fusion.py")
        answer = data.get("answer")
        if not isinstance(answer, dict):
            raise ValueError("fusion model: no answer model; fit it with "
                             "bench/answer_model.py --write")
        return cls(str(data["version"]), tuple(data["features"]),
                   np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["scale"], dtype=np.float64),
                   np.asarray(data["weights"], dtype=np.float64), float(data["bias"]),
                   AnswerModel.from_dict(answer))


@lru_cache(maxsize=8)
def _leg_groups(names: tuple[str, ...]) -> tuple[tuple[str, ...], npt.NDArray[np.float64]]:
    """The legs a model's features explain (in ``FEATURES`` order) and the 0/1 matrix that sums
    each feature's term into its leg (features outside ``names`` count for nothing)."""
    groups = tuple(dict.fromkeys(leg for name, leg in FEATURES if name in names))
    summing = np.zeros((len(FEATURES), len(groups)), dtype=np.float64)
    for f, (name, leg) in enumerate(FEATURES):
        if name in names:
            summing[f, groups.index(leg)] = 1.0
    return groups, summing


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> FusionModel:
    return FusionModel.from_json(path.read_text())
