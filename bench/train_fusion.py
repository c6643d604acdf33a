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
the queries within a corpus.
"""

# ruff: noqa: E402  (the sys.path fix must run before the project imports)
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.metrics import score_run
from bench.sets import DEVELOPMENT, query_sets
from indexer.calibrated import MODEL_PATH, NAMES, FusionModel, candidates
from indexer.fuse import FusionConfig

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


def collect(name: str, shared: Path, work: Path) -> SetData:
    cache = work / f"fusion-features-{name}.npz"
    meta = work / f"fusion-features-{name}.json"
    if cache.is_file() and meta.is_file():
        z = np.load(cache)
        m = json.loads(meta.read_text())
        if m["features"] == list(NAMES):
            return SetData(name, z["x"], z["y"], m["docs"], z["weak"], z["pinned"],
                           [tuple(q) for q in m["queries"]])  # type: ignore[misc]
    from indexer.build import build_index
    from indexer.embed import Embedder
    from indexer.search import Searcher

    qset = query_sets(shared)[name]
    embedder = Embedder(cache_path=work / "embeddings.sqlite")
    index_dir = work / qset.root.as_posix().replace("/", "_")
    build_index(qset.root, index_dir, embedder)
    searcher = Searcher.open(index_dir, embedder)
    config = FusionConfig()
    xs: list[Array] = []
    ys: list[float] = []
    docs: list[str] = []
    weak: list[bool] = []
    pinned: list[bool] = []
    queries: list[tuple[str, int, int, list[str]]] = []
    arts = searcher.snapshot.articles
    for q in qset.load():
        if not q.get("relevant"):
            continue
        plan = searcher.plan(q["query"])
        searcher.add_dense(plan)
        cands = candidates(plan.query.shape, plan.query.tokens, plan.rankings, plan.pinned,
                           searcher.title_tokens)
        start = len(docs)
        rel = set(q["relevant"])
        found = {leg: {h.doc: h.score for h in hits} for leg, hits in plan.rankings.items()}
        for doc in cands.docs:
            docs.append(arts[doc].path)
            ys.append(1.0 if arts[doc].path in rel else 0.0)
            only_dense = [leg for leg, f in found.items() if doc in f] == ["dense"]
            weak.append(only_dense and found["dense"][doc] < config.min_dense_only)
            pinned.append(doc in plan.pinned)
        if len(cands.docs):
            xs.append(cands.x)
        queries.append((q["id"], start, len(docs), q["relevant"]))
    x = np.concatenate(xs) if xs else np.zeros((0, len(NAMES)))
    data = SetData(name, x, np.asarray(ys), docs, np.asarray(weak, dtype=bool),
                   np.asarray(pinned, dtype=bool), queries)
    np.savez(cache, x=data.x, y=data.y, weak=data.dense_only_weak, pinned=data.pinned)
    meta.write_text(json.dumps({"features": list(NAMES), "docs": docs, "queries": queries}))
    print(f"{name}: {len(queries)} queries, {len(docs)} candidates", file=sys.stderr)
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
    """Weighted L2-regularised logistic regression by Newton's method (standardised features)."""
    x = np.concatenate([s.x for s in sets])
    y = np.concatenate([s.y for s in sets])
    w = row_weights(sets)
    w = w / w.sum() * len(sets) * 1000.0  # l2 is then per "1000 queries of one corpus"
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
    version = dt.date.today().isoformat()
    return FusionModel(version, NAMES, mean, scale, beta[:-1], float(beta[-1]))


def rankings(s: SetData, model: FusionModel) -> dict[str, list[str]]:
    """Each query's top 10 as a search ranks them: pinned first, then by probability, weak
    dense-only hits dropped."""
    logits = model.logits(s.x) if len(s.x) else np.zeros(0)
    run: dict[str, list[str]] = {}
    for qid, a, b, _ in s.queries:
        order = sorted((i for i in range(a, b) if not s.dense_only_weak[i]),
                       key=lambda i: (not s.pinned[i], -logits[i]))
        run[qid] = [s.docs[i] for i in order[:10]]
    return run


def ndcg(s: SetData, model: FusionModel) -> float:
    qs = [{"id": qid, "relevant": rel, "kind": ""} for qid, _, _, rel in s.queries]
    return float(score_run(qs, rankings(s, model))["ndcg@10"])


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


def loco(sets: list[SetData], fixed: float | None = None) -> dict[str, dict[str, float]]:
    """Per held-out corpus: the L2 chosen on the others, and the nDCG@10 of the model fitted on
    the others."""
    out = {}
    for held in sets:
        others = [s for s in sets if s is not held]
        l2 = fixed if fixed is not None else choose_l2(others)
        out[held.name] = {"l2": l2, "ndcg@10": round(ndcg(held, fit(others, l2)), 4)}
        print(f"LOCO {held.name}: l2 {l2}, nDCG@10 {out[held.name]['ndcg@10']}", file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=_HERE.parents[1] / "shared")
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
    print(f"\nshipped: l2 {l2}, {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
