"""Train the calibrated fusion leave-one-corpus-out and ship it: one command.

    python bench/train_fusion.py [--shared ../shared] [--work .bench] [--out indexer/fusion-model.json]

For every development set: build (or reuse) its index, run each query's legs exactly as a search
does (``Searcher.plan`` + ``add_dense``: the dense leg is skipped where a search skips it) and
record every candidate's evidence (``indexer.calibrated.candidates``) with its label (one of the
query's relevant articles or not). Cached per set under ``--work``.

Then, for each corpus in turn, the L2 strength is chosen on the *other* corpora (inner
leave-one-out), the model is fitted on them and scored on the held-out one: that is the LOCO
nDCG@10. The shipped model is fitted on every corpus with the L2 chosen the same way over all of
them; its in-sample figures are printed beside the LOCO ones. Corpora weigh equally, and so do
the queries within a corpus. Last, the answer model, which reads this model's logits, is fitted
again with its weak-match and chat thresholds, leave-one-corpus-out, and stored in the same file
(``bench/answer_model.py``).
"""

# ruff: noqa: E402  (the sys.path fix must run before the project imports)
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.metrics import score_run
from bench.sets import DEVELOPMENT, default_shared, query_sets
from indexer.calibrated import MODEL_PATH, NAMES, FusionModel, candidates
from indexer.fuse import FusionConfig
from indexer.normalize import QueryShape
from indexer.search import Searcher

Array = npt.NDArray[np.float64]
L2_GRID = (0.1, 1.0, 10.0, 100.0)


@dataclass
class SetData:
    """One set's candidates: rows of evidence, labels, and per query its slice and relevant
    paths (for nDCG)."""

    name: str
    x: Array
    y: Array
    docs: list[str]  # article path per row
    dense_only_weak: npt.NDArray[np.bool_]  # dropped by min_dense_only whatever the model says
    pinned: npt.NDArray[np.bool_]
    queries: list[tuple[str, int, int, list[str]]]  # (id, start, stop, relevant)
    shapes: list[QueryShape]  # per query, as the search saw it


def collect(name: str, shared: Path, work: Path) -> SetData:
    """A development set's judged queries over its own corpus."""
    qset = query_sets(shared)[name]
    return collect_queries(name, qset.root, [q for q in qset.load() if q.get("relevant")], work)


@cache
def _searcher(root: Path, work: Path) -> Searcher:
    """One index per content root under ``work`` (built once per process, vectors cached)."""
    from indexer.build import build_index
    from indexer.embed import Embedder

    embedder = Embedder(cache_path=work / "embeddings.sqlite")
    index_dir = work / root.as_posix().replace("/", "_")
    build_index(root, index_dir, embedder)
    return Searcher.open(index_dir, embedder)


def collect_queries(name: str, root: Path, queries: list[dict[str, Any]], work: Path) -> SetData:
    """Every candidate's evidence for ``queries`` searched over the corpus at ``root``; queries
    without relevant articles (out of scope) are kept, all their rows labelled 0. Cached under
    ``work`` as ``fusion-features-{name}``."""
    cache = work / f"fusion-features-{name}.npz"
    meta = work / f"fusion-features-{name}.json"
    if cache.is_file() and meta.is_file():
        z = np.load(cache)
        m = json.loads(meta.read_text())
        if m["features"] == list(NAMES) and "shapes" in m:
            return SetData(name, z["x"], z["y"], m["docs"], z["weak"], z["pinned"],
                           [tuple(q) for q in m["queries"]],  # type: ignore[misc]
                           [QueryShape(*s) for s in m["shapes"]])
    searcher = _searcher(root, work)
    config = FusionConfig()
    xs: list[Array] = []
    ys: list[float] = []
    docs: list[str] = []
    weak: list[bool] = []
    pinned: list[bool] = []
    out: list[tuple[str, int, int, list[str]]] = []
    shapes: list[QueryShape] = []
    arts = searcher.snapshot.articles
    for q in queries:
        plan = searcher.plan(q["query"])
        searcher.add_dense(plan)
        cands = candidates(plan.query.shape, plan.query.tokens, plan.rankings, plan.pinned,
                           searcher.title_tokens, searcher.path_tokens)
        start = len(docs)
        rel = set(q.get("relevant") or ())
        found = {leg: {h.doc: h.score for h in hits} for leg, hits in plan.rankings.items()}
        for doc in cands.docs:
            docs.append(arts[doc].path)
            ys.append(1.0 if arts[doc].path in rel else 0.0)
            only_dense = [leg for leg, f in found.items() if doc in f] == ["dense"]
            weak.append(only_dense and found["dense"][doc] < config.min_dense_only)
            pinned.append(doc in plan.pinned)
        if len(cands.docs):
            xs.append(cands.x)
        out.append((q["id"], start, len(docs), list(q.get("relevant") or ())))
        shapes.append(plan.query.shape)
    x = np.concatenate(xs) if xs else np.zeros((0, len(NAMES)))
    data = SetData(name, x, np.asarray(ys), docs, np.asarray(weak, dtype=bool),
                   np.asarray(pinned, dtype=bool), out, shapes)
    np.savez(cache, x=data.x, y=data.y, weak=data.dense_only_weak, pinned=data.pinned)
    meta.write_text(json.dumps({"features": list(NAMES), "docs": docs, "queries": out,
                                "shapes": [[s.words, s.identifiers, s.question]
                                           for s in shapes]}))
    print(f"{name}: {len(out)} queries, {len(docs)} candidates", file=sys.stderr)
    return data


def row_weights(sets: list[SetData]) -> Array:
    """Each corpus weighs 1, each query 1 / its corpus's query count, spread over its rows."""
    out = []
    for s in sets:
        w = np.zeros(len(s.y))
        for _, a, b, _ in s.queries:
            if b > a:
                w[a:b] = 1.0 / (len(s.queries) * (b - a))
        out.append(w)
    return np.concatenate(out)


def fit(sets: list[SetData], l2: float) -> FusionModel:
    """The fusion fitted on ``sets``: corpora weigh equally, and so do the queries within one."""
    x = np.concatenate([s.x for s in sets])
    y = np.concatenate([s.y for s in sets])
    w = row_weights(sets)
    w = w / w.sum() * len(sets) * 1000.0  # l2 is then per "1000 queries of one corpus"
    mean, scale, weights, bias = logistic(x, y, w, l2)
    return FusionModel(dt.date.today().isoformat(), NAMES, mean, scale, weights, bias)


def logistic(x: Array, y: Array, w: Array, l2: float) -> tuple[Array, Array, Array, float]:
    """Weighted L2-regularised logistic regression by Newton's method on standardised features:
    (mean, scale, weights, bias)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        grad = z.T @ (w * (p - y)) + reg * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return mean, scale, beta[:-1], float(beta[-1])


def shown(s: SetData, logits: Array, a: int, b: int) -> list[int]:
    """Rows ``a:b`` (one query's candidates) in the order a search shows them: pinned first,
    then by the fusion's logit, weak dense-only hits dropped."""
    return sorted((i for i in range(a, b) if not s.dense_only_weak[i]),
                  key=lambda i: (not s.pinned[i], -logits[i]))


def rankings(s: SetData, model: FusionModel) -> dict[str, list[str]]:
    """Each query's top 10 as a search ranks them: pinned first, then by probability, weak
    dense-only hits dropped."""
    logits = model.logits(s.x) if len(s.x) else np.zeros(0)
    run: dict[str, list[str]] = {}
    for qid, a, b, _ in s.queries:
        order = shown(s, logits, a, b)
        run[qid] = [s.docs[i] for i in order[:10]]
    return run


def scores(s: SetData, model: FusionModel) -> dict[str, float]:
    """nDCG@10, MRR@10, R@1 and R@10 of ``model``'s rankings on ``s``."""
    qs = [{"id": qid, "relevant": rel, "kind": ""} for qid, _, _, rel in s.queries]
    return score_run(qs, rankings(s, model))


def ndcg(s: SetData, model: FusionModel) -> float:
    return float(scores(s, model)["ndcg@10"])


@dataclass(frozen=True)
class Top:
    """What a search shows first for one query: its calibrated probability (``None``: no
    result at all), whether an exact identifier pinned it, whether it is relevant."""

    query: str
    probability: float | None
    pinned: bool
    relevant: bool


def tops(s: SetData, model: FusionModel) -> list[Top]:
    """Each query's first result as ``rankings`` orders them."""
    logits = model.logits(s.x) if len(s.x) else np.zeros(0)
    out = []
    for qid, a, b, rel in s.queries:
        order = shown(s, logits, a, b)
        if not order:
            out.append(Top(qid, None, False, False))
            continue
        i = order[0]
        out.append(Top(qid, float(1.0 / (1.0 + np.exp(-logits[i]))), bool(s.pinned[i]),
                       s.docs[i] in rel))
    return out


def choose_l2(sets: list[SetData]) -> float:
    """The L2 strength with the best mean leave-one-out nDCG@10 among ``sets``."""
    if len(sets) < 2:
        return 1.0
    best, best_score = L2_GRID[0], -1.0
    for l2 in L2_GRID:
        score = np.mean([ndcg(held, fit([s for s in sets if s is not held], l2))
                         for held in sets])
        if score > best_score:
            best, best_score = l2, float(score)
    return best


def loco_models(sets: list[SetData], fixed: float | None = None
                ) -> dict[str, tuple[float, FusionModel]]:
    """Per held-out corpus: the L2 chosen on the others and the model fitted on the others."""
    out = {}
    for held in sets:
        others = [s for s in sets if s is not held]
        l2 = fixed if fixed is not None else choose_l2(others)
        out[held.name] = (l2, fit(others, l2))
    return out


def loco(sets: list[SetData], fixed: float | None = None,
         models: dict[str, tuple[float, FusionModel]] | None = None
         ) -> dict[str, dict[str, float]]:
    """Per held-out corpus: the L2 chosen on the others, and the nDCG@10, MRR@10 and R@1 of the
    model fitted on the others."""
    models = models or loco_models(sets, fixed)
    out: dict[str, dict[str, float]] = {}
    for held in sets:
        l2, model = models[held.name]
        m = scores(held, model)
        out[held.name] = {"l2": l2, **{k: round(m[k], 4) for k in ("ndcg@10", "mrr@10", "r@1")}}
        print(f"LOCO {held.name}: l2 {l2}, nDCG@10 {out[held.name]['ndcg@10']}", file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=default_shared())
    ap.add_argument("--work", type=Path, default=Path(".bench"))
    ap.add_argument("--sets", default=",".join(DEVELOPMENT))
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--l2", type=float, default=None,
                    help="a fixed L2 strength instead of choosing it by inner leave-one-out")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sets = [collect(name, args.shared, args.work) for name in args.sets.split(",")]
    held_out = loco(sets, args.l2)
    l2 = args.l2 if args.l2 is not None else choose_l2(sets)
    model = fit(sets, l2)
    in_sample = {s.name: round(ndcg(s, model), 4) for s in sets}
    args.out.write_text(model.to_json(l2=l2, trained_on=[s.name for s in sets],
                                      in_sample_ndcg10=in_sample, loco=held_out) + "\n")
    print("| set | LOCO nDCG@10 (L2 chosen on the others) | in-sample nDCG@10 |")
    print("|---|---|---|")
    for s in sets:
        print(f"| {s.name} | {held_out[s.name]['ndcg@10']:.3f} (l2 {held_out[s.name]['l2']}) "
              f"| {in_sample[s.name]:.3f} |")
    print(f"\nshipped: l2 {l2}, {args.out}\n")
    # The answer model reads this model's logits: fit it again, and its thresholds, LOCO.
    from bench import answer_model

    answer_model.run(args.shared, args.work, args.sets.split(","), args.out, l2, write=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
