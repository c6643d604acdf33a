"""HTTP benchmark: `fieldguide serve` (one worker) on the officedocs corpus, replayed from here.

    python bench/http.py [--work .bench/http] [--concurrency 1,8] [--repeat 3] [--json out.json]

Builds the index into ``--work`` when it is missing. For each concurrency level it then starts
``--repeat`` fresh servers in turn (so the query-embedding cache starts cold) and replays the
development queries of ``officedocs-errors.jsonl`` against ``GET /api/search`` from this
separate process: one asyncio coroutine per client, each on its own keep-alive connection. It
reports throughput, p50/p95/p99 latency, failed requests and the server's RSS per run, and the
median of the runs (698 queries take about two seconds: one run's p99 is noisy). A last run
keeps 8 clients busy while ``POST /api/admin/reindex`` rebuilds and swaps the index, and counts
failed requests.
"""

# ruff: noqa: E402  (the sys.path fix below must run before the imports)
from __future__ import annotations

import sys
from pathlib import Path

# This file is called http.py: when run as a script its folder is sys.path[0] and would shadow
# the standard library's `http` package that httpx imports.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpora/microsoft-officedocs-support/articles"
QUERIES = SHARED / "benchmarks/officedocs-errors.jsonl"
ADMIN_TOKEN = "bench-admin-token-0123456789"
# The officedocs articles are IT-pro material (audience engineer): search as an engineer, or an
# anonymous caller would be measured against an empty result set.
ENGINEER_KEY = "bench-engineer-key-0123456789"
WARMUP = ["outlook cannot connect", "teams sign in error", "sharepoint access denied",
          "excel file is locked for editing", "onedrive sync stuck"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB of the server process, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return round(values["VmRSS"], 1), round(values["VmHWM"], 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used, from /proc (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


class Server:
    """`fieldguide serve` in a child process, one worker."""

    def __init__(self, work: Path, corpus: Path, root: Path = ROOT, index: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "FIELDGUIDE_DATA_DIR": str(work),
               "FIELDGUIDE_RATE_LIMIT_PER_SECOND": "0", "FIELDGUIDE_ADMIN_TOKEN": ADMIN_TOKEN,
               "FIELDGUIDE_ENGINEER_KEYS": ENGINEER_KEY,
               "FIELDGUIDE_INDEX_POLL_SECONDS": "0", "FIELDGUIDE_LOG_LEVEL": "warning",
               **(env or {})}
        self.log = (work / "server.log").open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--content", str(corpus), "--index",
             str(index or work / "officedocs-index"), "--port", str(self.port), "--workers", "1"],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        started = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see server.log")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.startup_s = round(time.perf_counter() - started, 1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
                 ) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urllib.parse.urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    async def get(self, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
        lines = [f"GET {target} HTTP/1.1", f"Host: {self.host}",
                 *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        self.writer.write("\r\n".join(lines).encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        length = None
        for field in fields:
            name, _, value = field.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding":
                raise RuntimeError("the bench client reads Content-Length responses only")
        body = await self.reader.readexactly(length or 0)
        return int(status_line.split()[1]), body

    def close(self) -> None:
        self.writer.close()


def replay(url: str, queries: list[str], concurrency: int, pid: int,
           stop: threading.Event | None = None) -> dict[str, Any]:
    """Send every query once (or cycle until ``stop`` is set) with ``concurrency`` clients.

    The clients are coroutines of one event loop on keep-alive connections: a request costs the
    load generator ~0.1 ms of CPU (one httpx client per thread cost ~1.2 ms, on the same two
    cores as the server, and its threads' GIL waits were counted as server latency)."""
    targets = ["/api/search?" + urllib.parse.urlencode({"q": q, "limit": 10}) for q in queries]
    headers = {"Authorization": f"Bearer {ENGINEER_KEY}"}
    latencies: list[float] = []
    failures: list[str] = []
    empty = [0]  # answered 200 with no result (should be rare: a sign of a wrong audience)
    peak_rss = [0.0]
    next_target = iter(range(len(targets))) if stop is None else itertools.count()

    async def client() -> None:
        conn = await Connection.open(url)
        try:
            for i in next_target:
                if stop is not None and stop.is_set():
                    return
                t = time.perf_counter()
                try:
                    status, body = await conn.get(targets[i % len(targets)], headers)
                    ok = status == 200
                    if ok and not json.loads(body)["results"]:
                        empty[0] += 1
                    detail = f"{status} {body[:120]!r}"
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    ok, detail = False, repr(exc)
                    conn.close()
                    conn = await Connection.open(url)
                latencies.append((time.perf_counter() - t) * 1000)
                if not ok:
                    failures.append(detail)
        finally:
            conn.close()

    async def sample_rss(done: asyncio.Event) -> None:
        while not done.is_set():
            peak_rss[0] = max(peak_rss[0], rss_mb(pid)[0])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.2)

    async def main() -> float:
        done = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(done))
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        done.set()
        await sampler
        return wall

    wall = asyncio.run(main())
    return {"concurrency": concurrency, "requests": len(latencies), "failed": len(failures),
            "zero_results": empty[0],
            "failures_sample": failures[:3], "seconds": round(wall, 1),
            "throughput_rps": round(len(latencies) / wall, 1),
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95),
            "p99_ms": pct(latencies, 99), "mean_ms": round(statistics.fmean(latencies), 2),
            "rss_mb_peak_during_run": peak_rss[0]}


def reindex_under_load(server: Server, queries: list[str], concurrency: int) -> dict[str, Any]:
    stop = threading.Event()
    result: dict[str, Any] = {}

    def load() -> None:
        result.update(replay(server.url, queries, concurrency, server.proc.pid, stop))

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(2)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    started = time.perf_counter()
    r = httpx.post(f"{server.url}/api/admin/reindex", headers=admin, timeout=30)
    assert r.status_code == 202, r.text
    before = r.json()["index_version"]
    while True:
        time.sleep(1)
        status = httpx.get(f"{server.url}/api/admin/reindex", headers=admin, timeout=30).json()
        if not status["running"]:
            break
    rebuild_s = round(time.perf_counter() - started, 1)
    time.sleep(2)
    stop.set()
    loader.join()
    return {**result, "reindex_seconds": rebuild_s, "swapped": status["index_version"] != before,
            "last_build": status["last_build"]}


def probe_oversized(url: str) -> dict[str, Any]:
    """A 1 MB query in the URL must get our 413 error body, not a bare server 400."""
    # httpx refuses URLs over 64 KB, so the request line is written by hand.
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30) as s:
        s.sendall(b"GET /api/search?q=" + b"x" * (1024 * 1024) + b" HTTP/1.1\r\nHost: b\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return {"status_line": head.split(b"\r\n")[0].decode(), "body": body[:200].decode()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / ".bench/http")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--limit", type=int, default=None, help="use the first N queries")
    parser.add_argument("--no-reindex", action="store_true")
    parser.add_argument("--repeat", type=int, default=3,
                        help="fresh servers per concurrency level (the table adds the median)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds between the warm-up and the run")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose server runs (e.g. a git worktree of an older "
                        "commit, to measure before and after with the same client)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    index = args.work / "officedocs-index"
    if not (index / "CURRENT").is_file():
        print(f"building the index into {index} (once; vectors are cached)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "app.cli", "index", "--content", str(args.corpus),
                        "--index", str(index)], cwd=ROOT, check=True)
    queries = [json.loads(line)["query"] for line in args.queries.open()][:args.limit]
    report: dict[str, Any] = {"queries": len(queries), "cpus": os.cpu_count(),
                              "loadavg_before": os.getloadavg()[0], "runs": []}
    levels = [int(c) for c in args.concurrency.split(",")]
    for level in levels:
        for attempt in range(1, args.repeat + 1):
            server = Server(args.work, args.corpus, args.root)  # fresh: cold query-embedding cache
            try:
                for w in WARMUP:
                    httpx.get(f"{server.url}/api/search", params={"q": w}, timeout=60)
                time.sleep(args.settle)  # the snippet preparation after a load runs meanwhile
                run = replay(server.url, queries, level, server.proc.pid)
                run["rss_mb"], run["rss_mb_peak"] = rss_mb(server.proc.pid)
                run["startup_s"] = server.startup_s
                run["attempt"] = attempt
                report["runs"].append(run)
                print(json.dumps(run), file=sys.stderr)
                if level == max(levels) and attempt == args.repeat:
                    report["oversized_probe"] = probe_oversized(server.url)
                    if not args.no_reindex:
                        rr = reindex_under_load(server, queries, level)
                        rr["rss_mb"], rr["rss_mb_peak"] = rss_mb(server.proc.pid)
                        report["reindex_under_load"] = rr
                        print(json.dumps(rr), file=sys.stderr)
            finally:
                server.stop()
    report["loadavg_after"] = os.getloadavg()[0]
    print("| concurrency | run | requests | failed | throughput (req/s) | p50 ms | p95 ms | p99 ms "
          "| server RSS MB (peak) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for level in levels:
        runs = [r for r in report["runs"] if r["concurrency"] == level]
        for run in runs:
            print(f"| {level} | {run['attempt']} | {run['requests']} | {run['failed']} | "
                  f"{run['throughput_rps']} | {run['p50_ms']} | {run['p95_ms']} | {run['p99_ms']} | "
                  f"{run['rss_mb']} ({run['rss_mb_peak']}) |")
        if len(runs) > 1:
            med = {k: round(statistics.median(r[k] for r in runs), 2)
                   for k in ("throughput_rps", "p50_ms", "p95_ms", "p99_ms", "rss_mb")}
            print(f"| {level} | median | {sum(r['requests'] for r in runs)} | "
                  f"{sum(r['failed'] for r in runs)} | {med['throughput_rps']} | {med['p50_ms']} | "
                  f"{med['p95_ms']} | {med['p99_ms']} | {med['rss_mb']} |")
    rr = report.get("reindex_under_load")
    if rr:
        print(f"\nreindex under load (c={rr['concurrency']}): {rr['requests']} requests, "
              f"{rr['failed']} failed, p50 {rr['p50_ms']} ms, p99 {rr['p99_ms']} ms, rebuild "
              f"{rr['reindex_seconds']} s, swapped={rr['swapped']}, RSS peak {rr['rss_mb_peak']} MB")
    print(f"\n1 MB query in the URL: {report['oversized_probe']}")
    print(f"load average before/after: {report['loadavg_before']:.1f} / "
          f"{report['loadavg_after']:.1f} on {report['cpus']} CPUs")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
