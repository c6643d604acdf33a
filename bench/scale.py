"""Cost as the knowledge base grows: 2.5k, 10k and 50k articles, built, served and searched.

    nice python bench/scale.py [--work .bench/scale] [--sizes 2500,10000,50000] [--passes 1]
                               [--json out.json]

**The articles** are the 3,387 real articles of the five corpora in ``/work/shared/corpora``
(officedocs, GitLab, OpenShift and Prometheus runbooks, StackFAQ), repeated in variants: variant
``v`` of an article gets the id ``<id>-v<v>``, a path under ``variants/v<v>/``, a title qualifier
("on macOS", "for contractors", ...) and its wording changed by a word table (``error`` ->
``failure``, ``cannot`` -> ``is unable to``, ...; a different subset per variant). Variant 0 is
the article as it is. Sizes are prefixes of one sequence (the 2.5k set is real articles only).

**The vectors** are not all computed by the model, so that the bench runs in minutes: the 20,616
distinct real chunks are embedded once (through the embedding cache of ``indexer/embed.py``,
``--source-cache``, a copy of the shared bench cache) and chunk ``j`` of a variant gets the
vector of chunk ``j`` of its article (the last one when the variant has more chunks), plus
gaussian noise (sigma 0.02 per dimension, cosine ~0.93 to the original), normalised. Those
vectors are written into the index's own embedding cache under the variant chunks' real text
hashes, so the build runs the real code path (``build_snapshot`` + ``Snapshot.save``) and finds
every vector in the cache (it checks that none had to be embedded). Build time is therefore
chunking + cache look-up + the four legs + writing the snapshot; parsing Markdown and the model
are not in it (the parse rate of the real corpora is reported beside it), and for the variants
neither is the Markdown-to-text conversion (``VariantPlain``: it is 90% of a build without the
model; the 2.5k set, real articles only, shows its real cost).

**Each size** is built in a child process (its wall time and peak RSS), then served by
``fieldguide serve`` (one worker, default settings: ``FIELDGUIDE_FAISS_INDEX=auto``), and the 698
officedocs queries are replayed from this process through ``bench/http.py``'s client at
concurrency 1 and 8 (search as an engineer, who may read every article). **Recall**: on the
largest size the dense leg of the snapshot (HNSW from ``HNSW_MIN_CHUNKS`` chunks) is compared with
an exact flat scan of the same vectors, article top 10 for the same queries, unmasked and masked
to end-user articles; with the dense leg's own latency in this process, single thread.
"""

# ruff: noqa: E402  (the sys.path fix below must run before the imports)
from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's `http` package that httpx imports: the
# bench folder leaves sys.path and the checkout's root comes first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import argparse
import dataclasses
import hashlib
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import time
from typing import Any

import httpx
import numpy as np

import indexer.build
from bench.http import WARMUP, Server, cpu_seconds, pct, replay, rss_mb
from indexer.article import Article, Audience
from indexer.build import build_snapshot, chunk_article
from indexer.content import scan_content
from indexer.embed import DEFAULT_MODEL, Embedder, text_hash
from indexer.legs import dense as dense_module
from indexer.legs.dense import HNSW_EF_SEARCH as DEFAULT_EF
from indexer.legs.dense import HNSW_MIN_CHUNKS, DenseLeg, FaissKind
from indexer.normalize import plain
from indexer.snapshot import Snapshot, article_from_dict, article_to_dict

ROOT = Path(__file__).resolve().parent.parent
# /work/shared beside the checkout (/work/main) or beside the worktrees' folder (/work/wt/NAME).
SHARED = next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()),
              ROOT.parent / "shared")
CORPORA = SHARED / "corpora"
QUERIES = SHARED / "benchmarks/officedocs-errors.jsonl"
SOURCES = ("microsoft-officedocs-support", "gitlab-com-runbooks", "openshift-runbooks",
           "prometheus-operator-runbooks", "stackfaq")
SHARED_CACHE = SHARED.parent / "main" / ".bench" / "embeddings.sqlite"
NOISE = 0.02
QUALIFIERS = ("", "on macOS", "for contractors", "in the EU tenant", "after the spring update",
              "on shared devices", "for the night shift", "in the staging region",
              "with single sign-on", "on Windows 11", "behind the proxy", "for new hires",
              "on the legacy cluster", "in a hybrid setup", "on mobile", "for admins")
WORDS = (("error", "failure"), ("cannot", "is unable to"), ("user", "person"),
         ("users", "people"), ("check", "verify"), ("fails", "breaks"), ("issue", "problem"),
         ("select", "choose"), ("open", "launch"), ("server", "host"), ("run", "execute"),
         ("message", "notice"), ("make sure", "ensure"), ("after", "once"), ("use", "employ"),
         ("file", "document"), ("setting", "option"), ("might", "may"), ("alert", "alarm"),
         ("quickly", "fast"))


# --- the articles -------------------------------------------------------------------------

def base_articles(work: Path) -> tuple[list[Article], dict[str, Any]]:
    """The real articles (scanned once, then read back from ``work``) and the parse rate."""
    cached = work / "base-articles.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
        return [article_from_dict(d) for d in data["articles"]], data["parse"]
    started = time.perf_counter()
    articles: list[Article] = []
    for name in SOURCES:
        articles.extend(scan_content(CORPORA / name / "articles").articles)
    seconds = time.perf_counter() - started
    parse = {"articles": len(articles), "seconds": round(seconds, 1),
             "ms_per_article": round(seconds * 1000 / len(articles), 2)}
    cached.write_text(json.dumps({"articles": [article_to_dict(a) for a in articles],
                                  "parse": parse}))
    return articles, parse


class Rewording:
    """Variant ``v``'s word table: about two thirds of ``WORDS``, a different subset per ``v``."""

    def __init__(self, v: int) -> None:
        pairs = dict(p for k, p in enumerate(WORDS) if (k * 7 + v) % 3 != 0) if v else {}
        self.table = pairs
        self.pattern = (re.compile(r"\b(" + "|".join(map(re.escape, self.table)) + r")\b",
                                   re.IGNORECASE) if self.table else None)

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: self.table.get(m.group(0).lower(), m.group(0)), text)


class VariantPlain:
    """``indexer.normalize.plain`` for the bench's builds: the Markdown-to-text conversion costs
    ~7-10 ms per article here (markdown-it, 90% of a build without the model: 50k articles would
    take ~30 minutes), so a variant's text is converted as the rewording of its real article's
    converted text (each real text converted once). Only the variants (10k and 50k) use it; the
    2.5k set is real articles, converted for real."""

    def __init__(self) -> None:
        self.sources: dict[str, tuple[str, Rewording]] = {}
        self.memo: dict[str, str] = {}

    def note(self, new: str, old: str, reword: Rewording) -> str:
        if new != old:
            self.sources[new] = (old, reword)
        return new

    def __call__(self, text: str) -> str:
        source = self.sources.get(text)
        if source is not None:
            return source[1](self._plain(source[0]))
        return self._plain(text)

    def _plain(self, text: str) -> str:
        out = self.memo.get(text)
        if out is None:
            out = self.memo[text] = plain(text)
        return out


VARIANT_PLAIN = VariantPlain()


def variant(article: Article, v: int, reword: Rewording) -> Article:
    if v == 0:
        return article
    qualifier = QUALIFIERS[v % len(QUALIFIERS)] or f"variant {v}"
    note = VARIANT_PLAIN.note
    sections = tuple(dataclasses.replace(s, heading=reword(s.heading),
                                         text=note(reword(s.text), s.text, reword),
                                         list_items=tuple(reword(i) for i in s.list_items))
                     for s in article.sections)
    body = note(reword(article.body), article.body, reword)
    return dataclasses.replace(
        article, id=f"{article.id}-v{v}", path=f"variants/v{v}/{article.path}",
        title=f"{reword(article.title)} {qualifier}",
        symptoms=tuple(reword(s) for s in article.symptoms), body=body, sections=sections,
        content_hash=hashlib.sha256(f"{article.content_hash}/{v}".encode()).hexdigest())


def articles_for(base: list[Article], size: int) -> list[Article]:
    if size > len(base):
        indexer.build.plain = VARIANT_PLAIN  # type: ignore[assignment]  # see VariantPlain
    rewordings: dict[int, Rewording] = {}
    out = []
    for i in range(size):
        v, a = divmod(i, len(base))
        reword = rewordings.setdefault(v, Rewording(v))
        out.append(variant(base[a], v, reword))
    return out


# --- the vectors --------------------------------------------------------------------------

def prefill_cache(work: Path, base: list[Article], size: int, source_cache: Path) -> dict[str, Any]:
    """Write every chunk vector of the ``size`` articles into ``work/embeddings.sqlite``."""
    target = work / "embeddings.sqlite"
    marker = work / f"prefilled-{size}"
    if marker.is_file():
        return json.loads(marker.read_text())
    started = time.perf_counter()
    embedder = Embedder(cache_path=source_cache)
    base_chunks = [chunk_article(d, a) for d, a in enumerate(base)]
    flat_texts = [c.text for cs in base_chunks for c in cs]
    vectors, embedded = embedder.encode_documents(flat_texts)
    offsets = np.cumsum([0] + [len(cs) for cs in base_chunks])
    rng = np.random.default_rng(16)
    con = sqlite3.connect(target)
    con.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vec BLOB, "
                "PRIMARY KEY (model, hash))")
    rows: list[tuple[str, str, bytes]] = []
    n_chunks = 0
    for i, article in enumerate(articles_for(base, size)):
        a = i % len(base)
        own = vectors[offsets[a]:offsets[a + 1]]
        for j, chunk in enumerate(chunk_article(i, article)):
            vec = own[min(j, len(own) - 1)]
            if i >= len(base):
                vec = vec + rng.normal(0, NOISE, vec.shape).astype(np.float32)
                vec = vec / np.linalg.norm(vec)
            rows.append((DEFAULT_MODEL, text_hash(chunk.text), vec.astype(np.float32).tobytes()))
            n_chunks += 1
        if len(rows) >= 20_000:
            with con:
                con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            rows = []
    with con:
        con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
    con.close()
    info = {"base_chunks": len(flat_texts), "base_embedded_now": embedded,
            "chunks": n_chunks, "seconds": round(time.perf_counter() - started, 1)}
    marker.write_text(json.dumps(info))
    return info


# --- one build, in a child process ---------------------------------------------------------

def child_build(work: Path, size: int) -> int:
    base, _ = base_articles(work)
    started = time.perf_counter()
    articles = articles_for(base, size)
    generated = time.perf_counter() - started
    index_dir = work / f"index-{size}"
    embedder = Embedder(cache_path=work / "embeddings.sqlite")
    started = time.perf_counter()
    snapshot, chunks, embedded = build_snapshot(articles, embedder)
    built = time.perf_counter() - started
    directory = snapshot.save(index_dir)
    saved = time.perf_counter() - started
    if embedded:
        raise SystemExit(f"{embedded} chunks were not in the prefilled cache")
    files = {p.name: p.stat().st_size for p in directory.iterdir()}
    print(json.dumps({
        "size": size, "chunks": chunks, "faiss": snapshot.manifest["faiss"],
        "generate_s": round(generated, 1), "build_s": round(built, 1),
        "build_and_save_s": round(saved, 1),
        "snapshot_mb": round(sum(files.values()) / 1e6, 1),
        "snapshot_files_mb": {k: round(v / 1e6, 1) for k, v in sorted(files.items())},
        "build_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))
    return 0


def build(work: Path, size: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--work", str(work), "--child-build",
                          str(size)], cwd=ROOT, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- serving --------------------------------------------------------------------------------

def serve_and_replay(work: Path, size: int, queries: list[str], levels: list[int],
                     passes: int = 1) -> dict[str, Any]:
    """Serve the index and replay the queries at each level (the first level once, cold; the
    others ``passes`` times: a longer run meets the server's periodic work, a 3 s one may not)."""
    empty = work / "no-content"
    empty.mkdir(exist_ok=True)
    server = Server(work, empty, ROOT, index=work / f"index-{size}")
    try:
        for w in WARMUP:
            httpx.get(f"{server.url}/api/search", params={"q": w}, timeout=120)
        time.sleep(5)  # the snippet preparation after a load runs meanwhile
        loaded_rss = rss_mb(server.proc.pid)[0]
        runs = []
        for i, level in enumerate(levels):
            used = cpu_seconds(server.proc.pid)
            run = replay(server.url, queries * (1 if i == 0 else passes), level, server.proc.pid)
            # The server's CPU per request (all its threads): steadier than latency on a busy
            # machine, and what throughput on two cores is made of.
            run["server_cpu_ms_per_request"] = round(
                1000 * (cpu_seconds(server.proc.pid) - used) / max(run["requests"], 1), 2)
            run["rss_mb"], run["rss_mb_peak"] = rss_mb(server.proc.pid)
            print(json.dumps({"size": size, **run}), file=sys.stderr)
            runs.append(run)
        return {"startup_s": server.startup_s, "rss_mb_loaded": loaded_rss, "runs": runs}
    finally:
        server.stop()


# --- recall of the approximate index --------------------------------------------------------

def recall(work: Path, size: int, queries: list[str], ef_sweep: tuple[int, ...] = (256, 512, 1024)
           ) -> dict[str, Any]:
    out = {"by_ef_search": {}}
    for ef in ef_sweep:  # efSearch is max(HNSW_EF_SEARCH, the chunks fetched: >= 256)
        dense_module.HNSW_EF_SEARCH = ef
        out["by_ef_search"][ef] = _recall(work, size, queries)
    dense_module.HNSW_EF_SEARCH = DEFAULT_EF
    return {**out["by_ef_search"][DEFAULT_EF], **out} if DEFAULT_EF in ef_sweep else out


_SNAPSHOTS: dict[Path, Snapshot] = {}


def _recall(work: Path, size: int, queries: list[str]) -> dict[str, Any]:
    path = work / f"index-{size}"
    snapshot = _SNAPSHOTS.get(path) or _SNAPSHOTS.setdefault(path, Snapshot.load(path))
    dense = snapshot.dense
    matrix = dense._matrix
    assert matrix is not None
    exact = DenseLeg.build(matrix, dense.owners.tolist(), dense.n_docs, FaissKind.FLAT)
    approx = dense if dense.kind is FaissKind.HNSW else DenseLeg.build(
        matrix, dense.owners.tolist(), dense.n_docs, FaissKind.HNSW)
    vectors = _query_vectors(queries)
    end_user = np.array([Audience.END_USER in a.audience for a in snapshot.articles])
    out: dict[str, Any] = {"size": size, "chunks": int(dense.index.ntotal),
                           "end_user_articles": int(end_user.sum())}
    # Half the articles at random: enough allowed chunks that HNSW searches them through its ID
    # selector (end-user articles are few: the exact scan of just those runs instead).
    half = np.random.default_rng(5).random(len(snapshot.articles)) < 0.5
    for name, mask in (("all", None), ("end_user", end_user), ("random_half", half)):
        hits, total = 0, 0
        first_same = 0
        times: dict[str, list[float]] = {"flat": [], "hnsw": []}
        for vec in vectors:
            t = time.perf_counter()
            want = exact.article_scores(vec, 10, mask)
            times["flat"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            got = approx.article_scores(vec, 10, mask)
            times["hnsw"].append((time.perf_counter() - t) * 1000)
            if mask is not None:
                assert all(mask[d] for d, _ in got), "an article outside the mask"
            want_ids = {d for d, _ in want}
            hits += len(want_ids & {d for d, _ in got})
            total += len(want_ids)
            first_same += bool(want and got and want[0][0] == got[0][0])
        out[name] = {"recall_at_10": round(hits / max(total, 1), 4),
                     "same_first": round(first_same / len(vectors), 4),
                     "flat_p50_ms": pct(times["flat"], 50), "flat_p99_ms": pct(times["flat"], 99),
                     "hnsw_p50_ms": pct(times["hnsw"], 50), "hnsw_p99_ms": pct(times["hnsw"], 99)}
    return out


_VECTORS: dict[str, np.ndarray] = {}


def _query_vectors(queries: list[str]) -> list[np.ndarray]:
    embedder = Embedder()
    return [_VECTORS.get(q) if q in _VECTORS else _VECTORS.setdefault(q, embedder.encode_query(q))
            for q in queries]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / ".bench/scale")
    parser.add_argument("--sizes", default="2500,10000,50000")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--source-cache", type=Path, default=None,
                        help="embedding cache of the real chunks (default: a copy of the shared "
                        "bench cache in --work)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N queries")
    parser.add_argument("--passes", type=int, default=1,
                        help="replays of the queries at every level after the first (default 1)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--recall-only", action="store_true",
                        help="only the recall comparison, on the largest index already built")
    parser.add_argument("--child-build", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child_build:
        return child_build(args.work, args.child_build)
    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    queries = [json.loads(line)["query"] for line in QUERIES.open()][:args.limit]
    if args.recall_only:
        result = recall(args.work, max(sizes), queries)
        print(json.dumps(result, indent=1))
        return 0
    source_cache = args.source_cache or args.work / "source-embeddings.sqlite"
    if args.source_cache is None and not source_cache.is_file() and SHARED_CACHE.is_file():
        shutil.copy(SHARED_CACHE, source_cache)  # read from a copy: the shared one stays as is
    started = time.perf_counter()
    base, parse = base_articles(args.work)
    report: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0],
                              "base_articles": len(base), "parse": parse,
                              "hnsw_min_chunks": HNSW_MIN_CHUNKS, "queries": len(queries),
                              "prefill": prefill_cache(args.work, base, max(sizes),
                                                       source_cache),
                              "sizes": []}
    print(json.dumps(report["prefill"]), file=sys.stderr)
    for size in sizes:
        built = build(args.work, size)
        print(json.dumps(built), file=sys.stderr)
        served = serve_and_replay(args.work, size, queries, levels, args.passes)
        report["sizes"].append({**built, **served})
    report["recall"] = recall(args.work, max(sizes), queries)
    print(json.dumps(report["recall"]), file=sys.stderr)
    report["loadavg_after"] = os.getloadavg()[0]
    report["bench_s"] = round(time.perf_counter() - started, 1)
    print_table(report, levels)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def print_table(report: dict[str, Any], levels: list[int]) -> None:
    print("| articles | chunks | faiss | build s | build peak RSS MB | snapshot MB | server RSS MB "
          "(loaded / peak) | " + " | ".join(f"c={c} p50 / p99 ms (req/s)" for c in levels) + " |")
    print("|---|---|---|---|---|---|---|" + "---|" * len(levels))
    for s in report["sizes"]:
        cells = [f"{r['p50_ms']} / {r['p99_ms']} ({r['throughput_rps']})" for r in s["runs"]]
        peak = max(r["rss_mb_peak"] for r in s["runs"])
        print(f"| {s['size']:,} | {s['chunks']:,} | {s['faiss']} | {s['build_and_save_s']} | "
              f"{s['build_peak_rss_mb']} | {s['snapshot_mb']} | {s['rss_mb_loaded']} / {peak} | "
              + " | ".join(cells) + " |")
    r = report["recall"]
    for name in ("all", "end_user", "random_half"):
        x = r[name]
        print(f"\ndense leg at {r['size']:,} articles ({r['chunks']:,} chunks), mask {name}: "
              f"HNSW recall@10 {x['recall_at_10']} vs exact flat, same first {x['same_first']}; "
              f"flat p50/p99 {x['flat_p50_ms']}/{x['flat_p99_ms']} ms, HNSW "
              f"{x['hnsw_p50_ms']}/{x['hnsw_p99_ms']} ms (one thread, in process)")
    failed = sum(run["failed"] for s in report["sizes"] for run in s["runs"])
    print(f"\nfailed requests: {failed}; parse rate of the real corpora "
          f"{report['parse']['ms_per_article']} ms/article (not in the build times); "
          f"load average before/after {report['loadavg_before']:.1f} / "
          f"{report['loadavg_after']:.1f} on {report['cpus']} CPUs; bench {report['bench_s']} s")


if __name__ == "__main__":
    sys.exit(main())
