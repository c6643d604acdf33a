"""Search quality on the development sets: the hybrid, each leg alone, per set and per query kind.

    python bench/quality.py [--shared ../shared] [--sets alerts-prometheus,stackfaq] [--json out.json]
    python bench/quality.py --loco [--l2 X]

Builds (or reuses) one index per content root under ``--work`` (vectors are cached by content
hash, so a rerun only re-embeds what changed), then prints Markdown tables: nDCG@10, MRR@10,
R@1, R@10 and the median query time, plus the index build time.

With ``--loco``: the leave-one-corpus-out table instead, from ``bench/train_fusion.py``'s
machinery (its cached evidence, its fit): for each development corpus, the calibrated fusion
fitted on the *other* corpora (L2 chosen on them too, unless ``--l2``) scored on it, beside the
shipped model (``indexer/fusion-model.json``, fitted on all of them) scored on it in-sample.
"""

# ruff: noqa: E402  (the sys.path fix must run before the project imports)
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

# bench/ holds http.py: as the script's own folder it would shadow the standard library's http.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench import train_fusion
from bench.metrics import score_run
from bench.sets import DEVELOPMENT, QuerySet, default_shared, query_sets
from indexer.build import build_index
from indexer.calibrated import MODEL_PATH, load_model
from indexer.embed import Embedder
from indexer.search import LEGS, Searcher

CONFIGS: dict[str, tuple[str, ...]] = {"hybrid": LEGS, **{leg: (leg,) for leg in LEGS}}


def run_set(qset: QuerySet, work: Path, configs: list[str],
            limit: int | None) -> dict[str, object]:
    name, root = qset.name, qset.root
    queries = [q for q in qset.load() if q.get("relevant")][:limit]
    index_dir = work / root.as_posix().replace("/", "_")
    embedder = Embedder(cache_path=work / "embeddings.sqlite")
    t0 = time.perf_counter()
    report = build_index(root, index_dir, embedder)
    build_s = time.perf_counter() - t0
    searcher = Searcher.open(index_dir, embedder)
    out: dict[str, object] = {"set": name, "queries": len(queries), "build_s": round(build_s, 1),
                              "articles": report.articles, "chunks": report.chunks,
                              "embedded": report.embedded}
    rows = {}
    for config in configs:
        run: dict[str, list[str]] = {}
        lat = []
        by_kind: dict[str, list[dict[str, object]]] = defaultdict(list)
        for q in queries:
            t = time.perf_counter()
            resp = searcher.search(q["query"], limit=10, legs=CONFIGS[config], snippets=False)
            lat.append(time.perf_counter() - t)
            run[q["id"]] = [r.article.path for r in resp.results]
            by_kind[q["kind"]].append(q)
        row: dict[str, object] = dict(score_run(queries, run))
        row["median_ms"] = round(1000 * statistics.median(lat), 2)
        row["kinds"] = {k: score_run(qs, run) for k, qs in by_kind.items()}
        rows[config] = row
    out["configs"] = rows
    return out


def table(results: list[dict[str, object]]) -> str:
    lines = ["| set | config | nDCG@10 | MRR@10 | R@1 | R@10 | median ms |",
             "|---|---|---|---|---|---|---|"]
    for res in results:
        for config, row in res["configs"].items():  # type: ignore[attr-defined]
            lines.append(f"| {res['set']} | {config} | {row['ndcg@10']:.3f} | {row['mrr@10']:.3f} "
                         f"| {row['r@1']:.3f} | {row['r@10']:.3f} | {row['median_ms']} |")
    lines += ["", "| set | kind | n | nDCG@10 (hybrid) | R@1 |", "|---|---|---|---|---|"]
    for res in results:
        hybrid = res["configs"].get("hybrid")  # type: ignore[attr-defined]
        if hybrid:
            for kind, m in sorted(hybrid["kinds"].items()):
                lines.append(f"| {res['set']} | {kind} | {m['n']} | {m['ndcg@10']:.3f} "
                             f"| {m['r@1']:.3f} |")
    lines += ["", "| set | articles | chunks | newly embedded | build s |", "|---|---|---|---|---|"]
    for res in results:
        lines.append(f"| {res['set']} | {res['articles']} | {res['chunks']} | {res['embedded']} "
                     f"| {res['build_s']} |")
    return "\n".join(lines)


def loco_table(shared: Path, work: Path, names: list[str], l2: float | None) -> str:
    """LOCO beside in-sample, per development corpus (``train_fusion``'s evidence and fit)."""
    sets = [train_fusion.collect(name, shared, work) for name in names]
    held = train_fusion.loco(sets, l2)
    shipped = load_model(MODEL_PATH)
    lines = ["| set | queries | LOCO nDCG@10 | LOCO MRR@10 | LOCO R@1 | L2 | in-sample nDCG@10 "
             "| in-sample MRR@10 | in-sample R@1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in sets:
        h, m = held[s.name], train_fusion.scores(s, shipped)
        lines.append(f"| {s.name} | {len(s.queries)} | {h['ndcg@10']:.3f} | {h['mrr@10']:.3f} "
                     f"| {h['r@1']:.3f} | {h['l2']} | {m['ndcg@10']:.3f} | {m['mrr@10']:.3f} "
                     f"| {m['r@1']:.3f} |")
    mean = {k: sum(held[s.name][k] for s in sets) / len(sets) for k in ("ndcg@10", "mrr@10", "r@1")}
    lines.append(f"| mean | | {mean['ndcg@10']:.3f} | {mean['mrr@10']:.3f} | {mean['r@1']:.3f} "
                 "| | | | |")
    lines.append(f"\nin-sample: the shipped model {MODEL_PATH.name} (version {shipped.version})")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", type=Path, default=default_shared())
    ap.add_argument("--work", type=Path, default=Path(".bench"))
    ap.add_argument("--sets", default=",".join(DEVELOPMENT))
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--limit", type=int, default=None, help="only the first N queries of each set")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--loco", action="store_true",
                    help="the leave-one-corpus-out table of the calibrated fusion instead")
    ap.add_argument("--l2", type=float, default=None,
                    help="with --loco: a fixed L2 strength instead of choosing it on the others")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.loco:
        print(loco_table(args.shared, args.work, args.sets.split(","), args.l2))
        return
    sets = query_sets(args.shared)
    results = []
    for name in args.sets.split(","):
        res = run_set(sets[name], args.work, args.configs.split(","), args.limit)
        print(json.dumps({k: v for k, v in res.items() if k != "configs"}), file=sys.stderr)
        results.append(res)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
