"""Alert in -> runbook posted: latency from the moment an alert is sent to the moment its channel
post arrives, at a given rate, through the real Alertmanager (or straight to the hook).

    python bench/alerts.py [--rate 50] [--seconds 20] [--via alertmanager|direct] [--json out.json]

Starts `fieldguide serve` (one worker) on content/ with SQLite, a local HTTP server standing in
for the Slack webhook, and (``--via alertmanager``, the default) `prometheus-alertmanager` with
``group_by: [instance]`` and ``group_wait: 0s`` so every alert is its own group and its own post.
Alerts are sent one by one at ``--rate`` per second; each carries a unique ``instance`` label
that the post repeats, so a post is matched to its alert. The alert kinds cycle: a runbook by
``runbook_url``, by alert name, and by search (an unknown alert name, a summary to search) — the
last is the costly one. Reports p50/p95/p99 of alert-in -> post-received and the posts missing.

``--kb RATE`` sends signed Slack ``/kb`` slash commands at RATE per second meanwhile (engineer
error texts, each request signed as Slack signs it) and reports their latency: Slack gives up
after 3 s.
"""

# ruff: noqa: E402  (the sys.path fix below must run before the imports)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder is sys.path[0] and its http.py would shadow the standard library's
# `http` that httpx imports; the checkout's root goes there instead (for `bench` and `tests`).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
from typing import Any

import httpx

from bench.http import Server, free_port, pct
from tests.hooks_support import channel_receiver

ROOT = _HERE.parent
TOKEN = "bench-alerts-token-0123456789"
CONFIG = """\
route:
  receiver: fieldguide
  group_by: [instance]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: fieldguide
    webhook_configs:
      - url: {url}/api/hooks/alertmanager
        send_resolved: false
        http_config:
          authorization: {{type: Bearer, credentials: {token}}}
"""
KINDS = [
    ("SomethingArgo", {"runbook_url": "http://localhost:8000/articles/argocd-app-outofsync"}),
    ("RedisMemoryHigh", {"summary": "Redis memory above 90% of maxmemory"}),
    ("CheckoutSessionsLost", {"summary": "customers are logged out of checkout, Redis is "
                              "evicting session keys"}),
]
_INSTANCE = re.compile(r"instance=(bench-\d+)")
SLACK_SECRET = "bench-slack-signing-secret"
KB_QUERIES = ["HikariPool-1 - Connection is not available", "x509: certificate has expired",
              "printer shows offline", "ERR_CONNECTION_RESET on the ingress", "vpn keeps dropping"]


def kb_load(url: str, rate: float, stop: threading.Event, out: list[float],
            errors: list[str]) -> None:
    """Signed /kb commands at ``rate`` per second until ``stop``; latencies (ms) into ``out``."""
    with httpx.Client(timeout=10) as client:
        i = 0
        start = time.monotonic()
        while not stop.is_set():
            pause = start + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            body = urllib.parse.urlencode({"command": "/kb", "text": f"{KB_QUERIES[i % 5]} {i}",
                                           "user_id": "U1", "team_id": "T1"})
            ts = str(int(time.time()))
            sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:{body}".encode(),
                                   hashlib.sha256).hexdigest()
            t = time.monotonic()
            try:
                r = client.post(f"{url}/api/chatops/slack", content=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
                if r.status_code == 200:
                    out.append((time.monotonic() - t) * 1000)
                else:
                    errors.append(f"{r.status_code} {r.text[:100]}")
            except httpx.HTTPError as exc:
                errors.append(str(exc))
            i += 1


def alert(i: int) -> dict[str, Any]:
    name, annotations = KINDS[i % len(KINDS)]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"labels": {"alertname": name, "instance": f"bench-{i}", "severity": "warning",
                       "service": "redis"},
            "annotations": annotations, "startsAt": now,
            "generatorURL": f"http://prometheus:9090/graph?g0.expr={name}"}


def webhook_body(i: int) -> dict[str, Any]:
    a = dict(alert(i), status="firing", endsAt="0001-01-01T00:00:00Z", fingerprint=f"fp{i}")
    return {"version": "4", "groupKey": f'{{}}:{{instance="bench-{i}"}}', "status": "firing",
            "receiver": "fieldguide", "groupLabels": {"instance": f"bench-{i}"},
            "commonLabels": a["labels"], "commonAnnotations": a["annotations"],
            "externalURL": "http://alertmanager", "truncatedAlerts": 0, "alerts": [a]}


def start_alertmanager(work: Path, service_url: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        raise SystemExit("prometheus-alertmanager is not installed (apt-get install "
                         "prometheus-alertmanager), or run with --via direct")
    config = work / "alertmanager.yml"
    config.write_text(CONFIG.format(url=service_url, token=TOKEN))
    port = free_port()
    shutil.rmtree(work / "am-data", ignore_errors=True)
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.path={work / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
         "--log.level=warn"], stdout=(work / "alertmanager.log").open("wb"),
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("Alertmanager did not become ready; see alertmanager.log")


def run(rate: float, seconds: float, via: str, work: Path, kb_rate: float = 0.0
        ) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "fieldguide.db").unlink(missing_ok=True)  # every run starts with no group seen
    with channel_receiver() as receiver:
        os.environ.update({"FIELDGUIDE_ALERTS_TOKEN": TOKEN,
                           "FIELDGUIDE_SLACK_WEBHOOK_URL": receiver.url + "/slack",
                           "FIELDGUIDE_FRESHNESS_SCHEDULE_HOURS": "0",
                           "FIELDGUIDE_SLACK_SIGNING_SECRET": SLACK_SECRET})
        server = Server(work, ROOT / "content")
        am: subprocess.Popen[bytes] | None = None
        kb_ms: list[float] = []
        kb_errors: list[str] = []
        kb_stop = threading.Event()
        kb_thread = threading.Thread(target=kb_load, daemon=True,
                                     args=(server.url, kb_rate, kb_stop, kb_ms, kb_errors))
        try:
            target = f"{server.url}/api/hooks/alertmanager"
            if via == "alertmanager":
                am, am_url = start_alertmanager(work, server.url)
            sent: dict[str, float] = {}
            errors: list[str] = []
            # Warm-up: one alert of each kind (the first search loads what it needs).
            with httpx.Client(timeout=10) as client:
                for i in range(len(KINDS)):
                    client.post(target, json=webhook_body(-1 - i),
                                headers={"Authorization": f"Bearer {TOKEN}"})
                receiver.wait_for(len(KINDS), timeout=30)
                receiver.posts.clear()
                if kb_rate > 0:
                    kb_thread.start()
                total = int(rate * seconds)
                start = time.monotonic()
                for i in range(total):
                    pause = start + i / rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    sent[f"bench-{i}"] = time.monotonic()
                    try:
                        if am is not None:
                            r = client.post(f"{am_url}/api/v2/alerts", json=[alert(i)])
                        else:
                            r = client.post(target, json=webhook_body(i),
                                            headers={"Authorization": f"Bearer {TOKEN}"})
                        if r.status_code >= 300:
                            errors.append(f"{r.status_code} {r.text[:100]}")
                    except httpx.HTTPError as exc:
                        errors.append(str(exc))
                send_s = time.monotonic() - start
                kb_stop.set()
                if kb_thread.is_alive():
                    kb_thread.join(15)
            deadline = time.monotonic() + 30
            while len(receiver.posts) < total and time.monotonic() < deadline:
                time.sleep(0.2)
            latencies = []
            for post in list(receiver.posts):
                m = _INSTANCE.search(post.body.get("text", ""))
                if m and m.group(1) in sent:
                    latencies.append((post.at - sent[m.group(1)]) * 1000)
        finally:
            if am is not None:
                am.terminate()
                am.wait(10)
            server.stop()
    return {"via": via, "rate": rate, "seconds": seconds, "sent": total,
            "achieved_rate": round(total / send_s, 1), "send_errors": len(errors),
            "posts": len(latencies), "missing": total - len(latencies),
            "p50_ms": pct(latencies, 50) if latencies else None,
            "p95_ms": pct(latencies, 95) if latencies else None,
            "p99_ms": pct(latencies, 99) if latencies else None,
            "max_ms": round(max(latencies), 1) if latencies else None,
            "server_startup_s": server.startup_s,
            **({"kb_rate": kb_rate, "kb_answered": len(kb_ms), "kb_errors": len(kb_errors),
                "kb_p50_ms": pct(kb_ms, 50) if kb_ms else None,
                "kb_p95_ms": pct(kb_ms, 95) if kb_ms else None,
                "kb_max_ms": round(max(kb_ms), 1) if kb_ms else None} if kb_rate > 0 else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--via", choices=("alertmanager", "direct"), default="alertmanager")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench/alerts")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--kb", type=float, default=0.0, metavar="RATE",
                        help="signed Slack /kb commands per second during the run")
    args = parser.parse_args()
    result = run(args.rate, args.seconds, args.via, args.work, args.kb)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
