"""Chatbot calibration: answer accuracy and fallback rates over a threshold sweep.

    python bench/chat.py [--shared /work/shared] [--work .bench] [--json out.json]

In scope: StackFAQ questions over the StackFAQ corpus. Out of scope: CLINC150's out-of-scope
questions, and bench/data/near-oos.jsonl (IT questions the corpus does not cover: the hard case).
For every threshold: in-scope top-1 answer accuracy (a clarify is not correct), false fallback
rate (in-scope questions answered "no answer"), out-of-scope fallback rate (fallback or
smalltalk counts). Also the naive baseline (dense top-1 cosine threshold) and the p50 turn time.
"""

# ruff: noqa: E402  (the sys.path fix must run before the project imports)
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# bench/ holds http.py: as the script's own folder it would shadow the standard library's http.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from chatbot.engine import ChatEngine, ConversationState, ReplyKind
from chatbot.intents import IntentDetector
from indexer.article import STAFF
from indexer.build import build_index
from indexer.embed import Embedder
from indexer.search import Searcher

HERE = Path(__file__).resolve().parent
THRESHOLDS = [round(t, 2) for t in np.arange(0.30, 0.625, 0.01)]
ALL = STAFF


class PrimedEmbedder(Embedder):
    """Embeds the whole query set in batches up front (a bench speed-up, same vectors)."""

    def prime(self, texts: list[str]) -> None:
        self._query_cache_size = max(self._query_cache_size, len(texts) + 4096)
        for start in range(0, len(texts), 256):
            part = texts[start:start + 256]
            for text, vec in zip(part, self._encode(part), strict=True):
                vec.setflags(write=False)
                self._queries[text] = vec


def load(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("/work/shared"))
    ap.add_argument("--work", type=Path, default=Path(".bench"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--latency-sample", type=int, default=200)
    args = ap.parse_args()

    root = args.shared / "corpora/stackfaq/articles"
    sets = {"in": load(args.shared / "benchmarks/stackfaq.jsonl"),
            "oos": load(args.shared / "benchmarks/out-of-scope.jsonl"),
            "near": load(HERE / "data/near-oos.jsonl")}
    embedder = PrimedEmbedder(cache_path=args.work / "embeddings.sqlite")
    index_dir = args.work / "chat-stackfaq"
    build_index(root, index_dir, embedder)
    searcher = Searcher.open(index_dir, embedder)
    engine = ChatEngine(searcher, embedder)
    engine.warm_up()

    # Latency first, with nothing primed: a real turn embeds the message.
    sample = [q["query"] for q in sets["in"][:: max(1, len(sets["in"]) // args.latency_sample)]]
    lat = []
    for text in sample:
        t0 = time.perf_counter()
        engine.reply(str(text), ConversationState(), ALL)
        lat.append(1000 * (time.perf_counter() - t0))

    embedder.prime(list(dict.fromkeys(IntentDetector.normalize(str(q["query"]))
                                      for qs in sets.values() for q in qs)))
    # The same turns again, their embeddings now cached: the engine's own share of a turn.
    warm = []
    for text in sample:
        t0 = time.perf_counter()
        engine.reply(str(text), ConversationState(), ALL)
        warm.append(1000 * (time.perf_counter() - t0))
    t0 = time.perf_counter()
    for text in sample:
        embedder._encode([IntentDetector.normalize(str(text))])
    encode_ms = 1000 * (time.perf_counter() - t0) / max(1, len(sample))
    per_set: dict[str, list[tuple[object, ...]]] = {k: [] for k in sets}
    for name, queries in sets.items():
        for q in queries:
            text = str(q["query"])
            intent = engine.intents.detect(text)
            cands = engine.candidates(text, ALL)
            relevant = set(q["relevant"])  # type: ignore[call-overload]
            dense_top = max(cands, key=lambda c: c.best) if cands else None
            per_set[name].append((intent, cands, relevant, dense_top))

    curve = []
    for t in THRESHOLDS:
        row: dict[str, float] = {"threshold": t}
        for name, items in per_set.items():
            correct = fallback = clarify = 0
            for intent, cands, relevant, _ in items:
                if intent.name.value != "question":  # type: ignore[attr-defined]
                    kind = ReplyKind.SMALLTALK if intent.smalltalk else ReplyKind.HANDOFF  # type: ignore[attr-defined]
                    chosen: list[object] = []
                else:
                    kind, chosen = engine.decide(cands, t)  # type: ignore[arg-type]
                if kind is ReplyKind.ANSWER and chosen[0].article.path in relevant:  # type: ignore[attr-defined,operator]
                    correct += 1
                fallback += kind in (ReplyKind.FALLBACK, ReplyKind.SMALLTALK)
                clarify += kind is ReplyKind.CLARIFY
            n = len(items)
            if name == "in":
                row.update(accuracy=correct / n, false_fallback=fallback / n, clarify=clarify / n)
            else:
                row[f"{name}_fallback"] = fallback / n
        curve.append(row)

    baseline = []
    for t in (0.35, 0.40, 0.45, 0.50):
        ins = per_set["in"]
        acc = sum(1 for _, _, rel, d in ins if d is not None and d.best >= t  # type: ignore[attr-defined]
                  and d.article.path in rel) / len(ins)  # type: ignore[attr-defined,operator]
        ff = sum(1 for _, _, _, d in ins if d is None or d.best < t) / len(ins)  # type: ignore[attr-defined]
        oos = {k: sum(1 for _, _, _, d in per_set[k] if d is None or d.best < t)  # type: ignore[attr-defined]
               / len(per_set[k]) for k in ("oos", "near")}
        baseline.append({"threshold": t, "accuracy": acc, "false_fallback": ff,
                         "oos_fallback": oos["oos"], "near_fallback": oos["near"]})

    print(f"in scope {len(sets['in'])}, CLINC out-of-scope {len(sets['oos'])}, "
          f"near out-of-scope {len(sets['near'])}; operating point "
          f"{engine.config.confidence_threshold}\n")
    print("| threshold | accuracy | false fallback | clarify | oos fallback | near-oos fallback | meets |")
    print("|---|---|---|---|---|---|---|")
    for r in curve:
        meets = (r["accuracy"] >= 0.95 and r["false_fallback"] <= 0.03
                 and r["oos_fallback"] >= 0.98)
        mark = " ←" if abs(r["threshold"] - engine.config.confidence_threshold) < 1e-9 else ""
        print(f"| {r['threshold']:.2f}{mark} | {r['accuracy']:.3f} | {r['false_fallback']:.3f} | "
              f"{r['clarify']:.3f} | {r['oos_fallback']:.3f} | {r['near_fallback']:.3f} | "
              f"{'yes' if meets else ''} |")
    print("\nnaive baseline (dense top-1 cosine threshold):\n")
    print("| threshold | accuracy | false fallback | oos fallback | near-oos fallback |")
    print("|---|---|---|---|---|")
    for r in baseline:
        print(f"| {r['threshold']:.2f} | {r['accuracy']:.3f} | {r['false_fallback']:.3f} | "
              f"{r['oos_fallback']:.3f} | {r['near_fallback']:.3f} |")
    p50 = statistics.median(lat)
    p95 = sorted(lat)[int(0.95 * (len(lat) - 1))]
    print(f"\nchat turn (in-process, embedding included): p50 {p50:.1f} ms, p95 {p95:.1f} ms "
          f"over {len(lat)} turns; with the message embedding cached p50 "
          f"{statistics.median(warm):.1f} ms; one MiniLM query embedding alone {encode_ms:.1f} ms "
          "(machine load shows up here)")
    if args.json:
        args.json.write_text(json.dumps({"curve": curve, "baseline": baseline, "p50_ms": p50,
                                         "p95_ms": p95, "p50_cached_ms": statistics.median(warm),
                                         "encode_ms": encode_ms}, indent=1))


if __name__ == "__main__":
    main()
