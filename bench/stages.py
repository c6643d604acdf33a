"""Where a search's CPU goes, stage by stage, in process (no HTTP): the profile behind bench/http.py.

    python bench/stages.py [--index .bench/http/officedocs-index] [--queries FILE] [--repeat 1]

Opens the index as the server does (snippets prepared up front, query-embedding cache cold), runs
every query as an engineer would (all audiences, limit 10, snippets on) and prints, per stage,
the mean and p50/p95 milliseconds of CPU (``time.thread_time``) and the share of the total. The
stages are timed by wrapping the searcher's own methods, so the numbers add up to a real search.
"""

# ruff: noqa: E402  (the sys.path fix must run before the project imports)
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from app.server import single_threaded_numerics
from app.settings import Settings
from indexer import search as search_module
from indexer.search import Searcher

ROOT = _HERE.parent
QUERIES = ROOT.parent / "shared/benchmarks/officedocs-errors.jsonl"


def timed(spent: dict[str, list[float]], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name].append(time.thread_time() - t)
    return wrapper


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=ROOT / ".bench/http/officedocs-index")
    ap.add_argument("--queries", type=Path, default=QUERIES)
    ap.add_argument("--repeat", type=int, default=1, help="passes over the queries (the first "
                    "pass fills the query-embedding cache)")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    single_threaded_numerics()
    queries = [json.loads(line)["query"] for line in args.queries.open()][:args.limit]
    embedder = Settings(index_dir=args.index).embedder(serving=True)
    embedder.warm_up()
    searcher = Searcher.open(args.index, embedder)
    searcher.prepare_snippets()
    snap = searcher.snapshot
    spent: dict[str, list[float]] = defaultdict(list)
    # Per-stage wrappers on this searcher's own objects.
    # (Trees from before the leg registry kept the legs as attributes: a before/after run
    # times both.)
    legs = getattr(snap, "legs", None) or {n: getattr(snap, n)
                                           for n in ("tags", "lexical", "fuzzy", "dense")}
    for leg, obj in legs.items():
        obj.search = timed(spent, f"leg:{leg}", obj.search)
    embedder.encode_query = timed(spent, "embed query", embedder.encode_query)  # type: ignore[method-assign]
    searcher.suggest = timed(spent, "suggest", searcher.suggest)  # type: ignore[method-assign]
    searcher.mask = timed(spent, "mask", searcher.mask)  # type: ignore[method-assign]
    # The snippet function under its current name, or an older tree's (a before/after run).
    snippet_name = "snippet_in_section" if hasattr(search_module, "snippet_in_section") \
        else "make_snippet"
    setattr(search_module, snippet_name,
            timed(spent, "snippets", getattr(search_module, snippet_name)))
    search_module.fuse = timed(spent, "fuse", search_module.fuse)
    search_module.fuse_calibrated = timed(spent, "fuse", search_module.fuse_calibrated)
    search_module.PreparedQuery.from_text = timed(  # type: ignore[method-assign]
        spent, "prepare query", search_module.PreparedQuery.from_text)
    totals: list[float] = []
    for _ in range(args.repeat):
        for q in queries:
            t = time.thread_time()
            searcher.search(q, limit=10)
            totals.append(time.thread_time() - t)
    n = len(totals)
    total_ms = 1000 * sum(totals)
    print(f"{n} searches, {args.index.name}: mean {total_ms / n:.2f} ms CPU per search, "
          f"p50 {1000 * statistics.median(totals):.2f}, "
          f"p95 {1000 * sorted(totals)[int(0.95 * n) - 1]:.2f}")
    print("| stage | calls | mean ms per search | p50 ms per call | p95 ms per call | share |")
    print("|---|---|---|---|---|---|")
    accounted = 0.0
    for name, values in sorted(spent.items(), key=lambda kv: -sum(kv[1])):
        s = 1000 * sum(values)
        accounted += s  # no stage is nested in another
        ordered = sorted(values)
        print(f"| {name} | {len(values)} | {s / n:.3f} | {1000 * statistics.median(values):.3f} "
              f"| {1000 * ordered[max(0, int(0.95 * len(ordered)) - 1)]:.3f} "
              f"| {100 * s / total_ms:.1f}% |")
    print(f"| rest (matched, results, bookkeeping) | | {(total_ms - accounted) / n:.3f} | | | "
          f"{100 * (total_ms - accounted) / total_ms:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
