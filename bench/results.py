"""Every development query's full answer, dumped and compared: the check that a refactor changed
nothing a user can see (ranks, scores, snippets, what matched, the suggestion).

    python bench/results.py dump --out .bench/results-before [--sets ...]
    python bench/results.py compare .bench/results-before .bench/results-after

``dump`` builds (or reuses) each set's index under ``--work`` exactly as ``bench/quality.py`` does,
searches every query as an engineer (all audiences, limit 10, snippets on, explain data kept) and
writes one JSON Lines file per set. ``compare`` reports, per set, how many queries differ and in
what (ranking, score, snippet, matched, legs, suggestion), and prints the first differences;
exit 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

DEFAULT_SETS = "alerts-prometheus,alerts-openshift,officedocs-errors,stackfaq"
FIELDS = ("ranking", "score", "snippet", "matched", "legs", "suggestion", "total")


def _legs(legs: dict[str, Any]) -> dict[str, Any]:
    """Each leg's explain form, from typed evidence or (older trees, for a before/after
    comparison) from the dicts they carried."""
    return {k: v.explain() if hasattr(v, "explain") else v for k, v in legs.items()}


def _answer(searcher: Any, text: str) -> dict[str, Any]:
    resp = searcher.search(text, limit=10)
    return {
        "total": resp.total, "suggestion": resp.suggestion,
        "results": [{"id": r.article.id, "score": r.score, "snippet": r.snippet,
                     "matched": r.matched, "legs": _legs(r.legs), "pinned": r.pinned}
                    for r in resp.results]}


def dump(args: argparse.Namespace) -> int:
    from indexer.build import build_index
    from indexer.embed import Embedder
    from indexer.search import Searcher

    specs = json.loads((args.shared / "benchmarks" / "sets.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    embedder = Embedder(cache_path=args.work / "embeddings.sqlite")
    for name in args.sets.split(","):
        spec = specs[name]
        root = args.shared / spec["content_root"]
        index_dir = args.work / root.as_posix().replace("/", "_")
        build_index(root, index_dir, embedder)
        searcher = Searcher.open(index_dir, embedder)
        queries = [json.loads(line) for line in (args.shared / "benchmarks" / spec["queries"]).open()]
        with (args.out / f"{name}.jsonl").open("w") as fh:
            for q in queries:
                row = {"id": q["id"], "query": q["query"], **_answer(searcher, q["query"])}
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"{name}: {len(queries)} queries", file=sys.stderr)
    return 0


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = []
    ra, rb = a["results"], b["results"]
    if [r["id"] for r in ra] != [r["id"] for r in rb]:
        out.append("ranking")
    else:
        for key, field in (("score", "score"), ("snippet", "snippet"), ("matched", "matched"),
                           ("legs", "legs")):
            if any(x[field] != y[field] for x, y in zip(ra, rb, strict=True)):
                out.append(key)
    if a.get("suggestion") != b.get("suggestion"):
        out.append("suggestion")
    if a.get("total") != b.get("total"):
        out.append("total")
    return out


def compare(args: argparse.Namespace) -> int:
    changed_any = False
    for before in sorted(args.before.glob("*.jsonl")):
        after = args.after / before.name
        if not after.is_file():
            print(f"{before.stem}: missing in {args.after}")
            changed_any = True
            continue
        old = {r["id"]: r for r in map(json.loads, before.open())}
        new = {r["id"]: r for r in map(json.loads, after.open())}
        counts = dict.fromkeys(FIELDS, 0)
        examples: list[str] = []
        for qid, a in old.items():
            b = new.get(qid)
            if b is None:
                continue
            diff = _differences(a, b)
            for d in diff:
                counts[d] += 1
            if diff and len(examples) < args.show:
                examples.append(f"  {qid} {diff}: {a['query'][:80]!r}")
        n_diff = sum(1 for qid, a in old.items() if qid in new and _differences(a, new[qid]))
        changed_any |= n_diff > 0
        detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"{before.stem}: {len(old)} queries, {n_diff} differ" + (f" ({detail})" if detail else ""))
        for line in examples:
            print(line)
    return 1 if changed_any else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="search every query, write one JSON Lines file per set")
    d.add_argument("--shared", type=Path, default=_HERE.parents[1] / "shared")
    d.add_argument("--work", type=Path, default=Path(".bench"))
    d.add_argument("--sets", default=DEFAULT_SETS)
    d.add_argument("--out", type=Path, required=True)
    d.set_defaults(func=dump)
    c = sub.add_parser("compare", help="report what differs between two dumps")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--show", type=int, default=5, help="examples printed per set")
    c.set_defaults(func=compare)
    args = ap.parse_args()
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
