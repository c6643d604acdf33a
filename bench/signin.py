"""What a credential costs per request: anonymous, an engineer key, a personal key, a session.

    python bench/signin.py [--work .bench/signin] [--requests 400] [--json out.json]

Starts ``fieldguide serve`` (one worker, SQLite) over content/, creates a personal key with
``fieldguide keys create`` and signs in with it on ``POST /signin`` (a real session cookie).
Then, from this separate process on one keep-alive connection, it sends ``--requests``
sequential ``GET /api/articles/{id}`` for each credential (an engineer article, so every caller
but the anonymous one gets the full page, and the route's own work is small enough that
authentication shows) and reports p50/p95 latency and requests per second.
"""

# ruff: noqa: E402  (the sys.path fix below must run before the imports)
from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's `http` (httpx imports it) from sys.path[0].
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import time
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
ENGINEER_KEY = "bench-engineer-key-0123456789"
ARTICLE = "alertmanager-notifications-not-delivered"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(client: httpx.Client, n: int, **kw: Any) -> dict[str, float]:
    for _ in range(20):  # warm-up
        client.get(f"/api/articles/{ARTICLE}", **kw)
    took = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.get(f"/api/articles/{ARTICLE}", **kw)
        took.append((time.perf_counter() - start) * 1000)
        assert r.status_code in (200, 404), r.text
    took.sort()
    return {"p50_ms": round(statistics.median(took), 2),
            "p95_ms": round(took[int(0.95 * len(took)) - 1], 2),
            "req_per_s": round(1000 * len(took) / sum(took), 1), "status": r.status_code}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=ROOT / ".bench/signin")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "FIELDGUIDE_DATA_DIR": str(args.work),
           "FIELDGUIDE_CONTENT_DIR": str(ROOT / "content"),
           "FIELDGUIDE_ENGINEER_KEYS": ENGINEER_KEY, "FIELDGUIDE_RATE_LIMIT_PER_SECOND": "0",
           "FIELDGUIDE_PUBLIC_URL": f"http://127.0.0.1:{port}", "FIELDGUIDE_LOG_LEVEL": "warning",
           "FIELDGUIDE_FRESHNESS_SCHEDULE_HOURS": "0"}
    cli = [sys.executable, "-m", "app.cli"]
    subprocess.run([*cli, "index"], env=env, cwd=ROOT, check=True, capture_output=True)
    created = subprocess.run([*cli, "keys", "create", "--name", "Bench", "--email",
                              "bench@x.example", "--role", "engineer"], env=env, cwd=ROOT,
                             check=True, capture_output=True, text=True)
    personal = created.stdout.strip().splitlines()[-1]
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(600):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            results = {
                "anonymous": run(client, args.requests),
                "engineer key (FIELDGUIDE_ENGINEER_KEYS)": run(
                    client, args.requests, headers={"Authorization": f"Bearer {ENGINEER_KEY}"}),
                "personal key (database)": run(
                    client, args.requests, headers={"Authorization": f"Bearer {personal}"}),
            }
            page = client.get("/signin")
            field = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert field
            r = client.post("/signin", data={"key": personal, "csrf": field.group(1)})
            assert r.status_code in (200, 303), r.text
            results["session cookie (database)"] = run(client, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    for name, row in results.items():
        print(f"{name:42s} p50 {row['p50_ms']:6.2f} ms  p95 {row['p95_ms']:6.2f} ms  "
              f"{row['req_per_s']:7.1f} req/s  ({row['status']})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
