"""Fit the answer model and choose its two thresholds on the leave-one-corpus-out curve.

    python bench/answer_model.py [--shared ../shared] [--work .bench] [--l2 X] [--write]

The answer model (``indexer.calibrated.AnswerModel``) reads one search's evidence — the fusion's
logit for the first result and its gap to the second, the best chunk cosine, the first result's
BM25 score, title and path overlap, the query's shape (``ANSWER_FEATURES``) — and gives the
probability that the first result answers the query at all. Two thresholds read it:

- ``weak_match``: below it the search page says "no good match" (the results stay one click
  away). Rule: the best mean ``uncovered flagged - relevant-first flagged`` among thresholds that
  flag at most ``MAX_FALSE_WEAK`` of the covered queries whose first result is relevant.
- ``chat``: at or above it the chatbot answers with the search's first result even when its own
  chunk score (chatbot/confidence.py) is below its threshold: the short question ("wifi doesn't
  work") that the search knows the answer to. A wrong answer costs more than "I don't know", so
  the rule is strict: the lowest threshold at which, on *every* corpus it is chosen on, at most
  ``MAX_SURE_UNCOVERED`` of the uncovered queries of each negative set would be answered.

A result pinned by an exact identifier (error code, alert name) is never weak and always answered.

Covered queries: every development set's judged queries over its own corpus (label: the first
result is relevant). Uncovered queries (label 0): CLINC150's out-of-scope questions over every
development corpus, and ``bench/data/near-oos.jsonl`` (near-domain IT questions) over every corpus
that does not answer them. Corpora weigh equally; within one, its covered and its uncovered
queries weigh half each.

Nothing is scored by a model that saw it. For a held-out corpus H: each other corpus C's
evidence comes from the fusion fitted without C and H; the thresholds are chosen on the other
corpora's answer probabilities, each from an answer model fitted without it (and H); H is scored
by the fusion fitted without H and the answer model fitted on the other corpora. The shipped
answer model is fitted on every corpus's held-out evidence (a customer's corpus is always
held out), its thresholds chosen on the five held-out curves; ``--write`` stores it, with the
curves and the LOCO table, in ``indexer/fusion-model.json``.
"""

# ruff: noqa: E402  (the sys.path fix must run before the project imports)
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench import train_fusion as tf
from bench.sets import DEVELOPMENT, default_shared, query_sets
from indexer.calibrated import ANSWER_FEATURES, MODEL_PATH, AnswerModel, FusionModel, answer_evidence

GRID = tuple(round(float(t), 2) for t in np.arange(0.01, 0.96, 0.01))
MAX_FALSE_WEAK = 0.05
MAX_SURE_UNCOVERED = 0.01
ANSWER_L2 = 1.0  # per "1000 queries of one corpus", as the fusion's
# Near-domain IT questions that a corpus does answer are not negatives there: Microsoft's Office
# support articles cover Outlook and Office questions of the set. (Which data is a valid negative,
# not a product setting: nothing in the product reads this.)
NEAR_OOS_COVERED_BY = frozenset({"officedocs-errors"})
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Corpus:
    """One development corpus's evidence: its judged queries and its uncovered ones."""

    name: str
    covered: tf.SetData
    uncovered: dict[str, tf.SetData]  # negative set name -> its queries over this corpus


@dataclass(frozen=True)
class Evidence:
    """Per query of one set, as a search under one fusion model shows it: the answer model's
    features, whether there is a result, whether the first is pinned, whether it is relevant."""

    z: Array
    has_result: npt.NDArray[np.bool_]
    pinned: npt.NDArray[np.bool_]
    relevant: npt.NDArray[np.bool_]


def evidence(s: tf.SetData, model: FusionModel) -> Evidence:
    logits = model.logits(s.x) if len(s.x) else np.zeros(0)
    n = len(s.queries)
    z = np.zeros((n, len(ANSWER_FEATURES)))
    has = np.zeros(n, dtype=bool)
    pinned = np.zeros(n, dtype=bool)
    relevant = np.zeros(n, dtype=bool)
    for q, ((_, a, b, rel), shape) in enumerate(zip(s.queries, s.shapes, strict=True)):
        order = tf.shown(s, logits, a, b)
        if not order:
            continue
        has[q] = True
        pinned[q] = bool(s.pinned[order[0]])
        relevant[q] = s.docs[order[0]] in rel
        second = order[1] - a if len(order) > 1 else None
        z[q] = answer_evidence(s.x[a:b], logits[a:b], order[0] - a, second, shape)
    return Evidence(z, has, pinned, relevant)


@dataclass(frozen=True)
class CorpusEvidence:
    name: str
    covered: Evidence
    uncovered: dict[str, Evidence]


def corpus_evidence(c: Corpus, model: FusionModel) -> CorpusEvidence:
    return CorpusEvidence(c.name, evidence(c.covered, model),
                          {k: evidence(v, model) for k, v in c.uncovered.items()})


def fit_answer(corpora: list[CorpusEvidence], l2: float = ANSWER_L2) -> AnswerModel:
    """The answer model fitted on ``corpora`` (queries with no result at all are left out: they
    need no model)."""
    xs, ys, ws = [], [], []
    for c in corpora:
        parts = [(c.covered, 0.5)] + [(e, 0.5 / len(c.uncovered)) for e in c.uncovered.values()]
        if not c.uncovered:
            parts = [(c.covered, 1.0)]
        for e, share in parts:
            keep = e.has_result
            if not keep.any():
                continue
            xs.append(e.z[keep])
            ys.append(e.relevant[keep].astype(np.float64))
            ws.append(np.full(int(keep.sum()), share / keep.sum()))
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    w = w / w.sum() * len(corpora) * 1000.0
    mean, scale, weights, bias = tf.logistic(x, y, w, l2)
    return AnswerModel(ANSWER_FEATURES, mean, scale, weights, bias)


@dataclass(frozen=True)
class Point:
    threshold: float
    covered: float  # share of covered queries flagged (chat: answered "I don't know")
    relevant_first: float  # ... of those whose first result is relevant (false weak)
    wrong_first: float  # ... of those whose first result is not relevant
    accuracy: float  # share of covered queries answered, with a relevant first result
    uncovered: dict[str, float]  # per negative set, share flagged

    @property
    def uncovered_mean(self) -> float:
        return float(np.mean(list(self.uncovered.values()))) if self.uncovered else 0.0


def flagged(e: Evidence, p: Array, t: float) -> npt.NDArray[np.bool_]:
    """As ``Searcher.finish`` and the chatbot decide it: no result, or not pinned and below."""
    return ~e.has_result | (~e.pinned & (p < t))


def _share(mask: npt.NDArray[np.bool_], among: npt.NDArray[np.bool_] | None = None) -> float:
    if among is not None:
        mask = mask[among]
    return float(mask.mean()) if mask.size else 0.0


def curve(c: CorpusEvidence, answer: AnswerModel) -> list[Point]:
    pc = answer.probabilities(c.covered.z)
    pn = {k: answer.probabilities(e.z) for k, e in c.uncovered.items()}
    right = c.covered.has_result & c.covered.relevant
    wrong = ~right
    out = []
    for t in GRID:
        f = flagged(c.covered, pc, t)
        out.append(Point(t, _share(f), _share(f, right), _share(f, wrong),
                         _share(~f & right),
                         {k: _share(flagged(e, pn[k], t)) for k, e in c.uncovered.items()}))
    return out


def choose_weak(curves: list[list[Point]]) -> float:
    """The weak-match threshold of the rule above, over corpora weighed equally."""
    best, best_j = GRID[0], -1.0
    for i, t in enumerate(GRID):
        false = float(np.mean([c[i].relevant_first for c in curves]))
        j = float(np.mean([c[i].uncovered_mean for c in curves])) - false
        if false <= MAX_FALSE_WEAK and j > best_j:
            best, best_j = t, j
    return best


def choose_chat(curves: list[list[Point]]) -> float:
    """The chat ("sure") threshold of the rule above."""
    for i, t in enumerate(GRID):
        if all(1.0 - v <= MAX_SURE_UNCOVERED for c in curves for v in c[i].uncovered.values()):
            return t
    return GRID[-1]


def load(names: list[str], shared: Path, work: Path) -> list[Corpus]:
    sets = query_sets(shared)
    clinc = [json.loads(x) for x in (shared / "benchmarks" / "out-of-scope.jsonl").open()]
    near = [json.loads(x) for x in (_HERE / "data" / "near-oos.jsonl").open()]
    out = []
    for name in names:
        root = sets[name].root
        neg = {"clinc-oos": tf.collect_queries(f"{name}+clinc-oos", root, clinc, work)}
        if name not in NEAR_OOS_COVERED_BY:
            neg["near-oos"] = tf.collect_queries(f"{name}+near-oos", root, near, work)
        out.append(Corpus(name, tf.collect(name, shared, work), neg))
    return out


def point_json(p: Point) -> dict[str, object]:
    return {"threshold": p.threshold, "covered": round(p.covered, 4),
            "relevant_first": round(p.relevant_first, 4), "wrong_first": round(p.wrong_first, 4),
            "accuracy": round(p.accuracy, 4), **{k: round(v, 4) for k, v in p.uncovered.items()}}


@dataclass(frozen=True)
class Result:
    answer: AnswerModel  # shipped: fitted on every corpus's held-out evidence, thresholds set
    held_curves: dict[str, list[Point]]  # each corpus under models that never saw it
    loco: dict[str, dict[str, dict[str, object]]]  # held out -> "weak"/"chat" -> point


def evaluate(corpora: list[Corpus], l2: float) -> Result:
    sets = {c.name: c.covered for c in corpora}

    @cache
    def fusion_without(*names: str) -> FusionModel:
        return tf.fit([s for n, s in sets.items() if n not in names], l2)

    # Each corpus's evidence under the fusion fitted without it (and without a held-out corpus).
    def ev(c: Corpus, *without: str) -> CorpusEvidence:
        return corpus_evidence(c, fusion_without(*sorted({c.name, *without})))

    held = {c.name: ev(c) for c in corpora}
    held_curves = {n: curve(e, fit_answer([o for m, o in held.items() if m != n]))
                   for n, e in held.items()}
    shipped = fit_answer(list(held.values()))
    weak_t, chat_t = choose_weak(list(held_curves.values())), choose_chat(list(held_curves.values()))
    shipped = AnswerModel(shipped.names, shipped.mean, shipped.scale, shipped.weights,
                          shipped.bias, weak_t, chat_t)
    loco: dict[str, dict[str, dict[str, object]]] = {}
    for h in corpora:
        others = {c.name: ev(c, h.name) for c in corpora if c is not h}
        inner = [curve(e, fit_answer([o for m, o in others.items() if m != n]))
                 for n, e in others.items()]
        tw, tc = choose_weak(inner), choose_chat(inner)
        hc = curve(held[h.name], fit_answer(list(others.values())))
        loco[h.name] = {"weak": point_json(hc[GRID.index(tw)]),
                        "chat": point_json(hc[GRID.index(tc)])}
        print(f"answer model LOCO {h.name}: weak {tw}, chat {tc}", file=sys.stderr)
    return Result(shipped, held_curves, loco)


def _table(title: str, rows: dict[str, dict[str, object]], negs: list[str]) -> None:
    print(f"\n{title}\n")
    print("| held out | threshold | covered flagged | relevant first flagged | answered right | "
          + " | ".join(f"{n} flagged" for n in negs) + " |")
    print("|---|---|---|---|---|" + "---|" * len(negs))
    for name, r in rows.items():
        print(f"| {name} | {r['threshold']:.2f} | {r['covered']:.3f} | {r['relevant_first']:.3f} "
              f"| {r['accuracy']:.3f} | "
              + " | ".join(f"{r[n]:.3f}" if n in r else "—" for n in negs) + " |")


def run(shared: Path, work: Path, names: list[str], model_path: Path, l2: float | None,
        write: bool) -> AnswerModel:
    """Print the curves and the LOCO tables; with ``write``, store the answer model in the model
    file (``bench/train_fusion.py`` calls this after each retraining)."""
    data = json.loads(model_path.read_text())
    l2 = l2 if l2 is not None else float(data.get("l2", 0.1))
    corpora = load(names, shared, work)
    res = evaluate(corpora, l2)
    negs = sorted({k for c in corpora for k in c.uncovered})
    print(f"Held-out curves (fusion L2 {l2}, answer L2 {ANSWER_L2}):\n")
    print("| corpus | threshold | covered flagged | relevant first flagged | wrong first flagged "
          "| answered right | " + " | ".join(f"{n} flagged" for n in negs) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(negs))
    marks = {res.answer.weak_match: "weak", res.answer.chat: "chat"}
    for name, points in res.held_curves.items():
        for p in points:
            if round(p.threshold * 100) % 10 and p.threshold not in marks:
                continue
            mark = f" ← {marks[p.threshold]}" if p.threshold in marks else ""
            print(f"| {name} | {p.threshold:.2f}{mark} | {p.covered:.3f} | {p.relevant_first:.3f} "
                  f"| {p.wrong_first:.3f} | {p.accuracy:.3f} | "
                  + " | ".join(f"{p.uncovered[n]:.3f}" if n in p.uncovered else "—"
                               for n in negs) + " |")
    _table("LOCO weak match (threshold chosen on the other corpora, scored on the held-out one):",
           {n: r["weak"] for n, r in res.loco.items()}, negs)
    _table("LOCO chat \"sure\" threshold (not flagged = answered by the search's first result "
           "whatever the chunk score; chosen on the other corpora):",
           {n: r["chat"] for n, r in res.loco.items()}, negs)
    print(f"\nshipped thresholds (chosen on all five corpora's held-out curves): weak match "
          f"{res.answer.weak_match}, chat {res.answer.chat}")
    if write:
        data.pop("weak_match", None)  # the previous format's fusion-probability threshold
        data["answer"] = res.answer.to_dict(
            l2=ANSWER_L2,
            rules={"weak_match": f"best mean (uncovered flagged - relevant-first flagged) with "
                                 f"relevant-first flagged <= {MAX_FALSE_WEAK}",
                   "chat": f"lowest threshold answering at most {MAX_SURE_UNCOVERED} of each "
                           "negative set on every corpus",
                   "by": "bench/answer_model.py, corpora weighed equally"},
            curve={name: [point_json(p) for p in points if round(p.threshold * 100) % 5 == 0
                          or p.threshold in marks]
                   for name, points in res.held_curves.items()},
            loco=res.loco)
        model_path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"written to {model_path}")
    return res.answer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=default_shared())
    ap.add_argument("--work", type=Path, default=Path(".bench"))
    ap.add_argument("--sets", default=",".join(DEVELOPMENT))
    ap.add_argument("--model", type=Path, default=MODEL_PATH)
    ap.add_argument("--l2", type=float, default=None,
                    help="L2 strength of the fusion's LOCO fits (default: the model file's)")
    ap.add_argument("--write", action="store_true",
                    help="store the answer model, its thresholds and curves in the model file")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run(args.shared, args.work, args.sets.split(","), args.model, args.l2, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
