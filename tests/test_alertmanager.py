"""The real Alertmanager (Debian ``prometheus-alertmanager``) in front of the real service (uvicorn
on a free port), posts checked at a real local webhook receiver (issue 13). Properties proved:

1. Alertmanager's own webhook delivery, authenticated with ``http_config.authorization``, is
   accepted; alerts sharing its ``group_by`` labels arrive as one group and make one post.
2. The post names the runbook the alerts resolve to (by alert name; of two runbooks listing the
   same alert, the one for the alert's service) and goes to the channel of the team that owns it;
   another group (another team's label) is another post, in that team's channel.
3. Posting the alerts again with ``endsAt`` in the past resolves the group: Alertmanager sends the
   resolved notification and the channel gets "resolved after N min", once.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from indexer.embed import Embedder
from tests.api_support import settings_for
from tests.hooks_support import TOKEN, ChannelReceiver, channel_receiver, free_port, served

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
pytestmark = pytest.mark.skipif(
    not Path(BINARY).is_file(),
    reason="the Alertmanager binary is not installed: apt-get install prometheus-alertmanager")

CONFIG = """\
route:
  receiver: fieldguide
  group_by: [service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fieldguide
    webhook_configs:
      - url: {url}/api/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


@pytest.fixture
def alertmanager(tmp_path: Path, kb_index: Path, embedder: Embedder, db_url: str
                 ) -> Iterator[tuple[str, ChannelReceiver]]:
    with channel_receiver() as receiver:
        settings = settings_for(tmp_path, kb_index, database_url=db_url,
                                public_url="https://kb.example", alerts_token=TOKEN,
                                slack_webhook_url=receiver.url + "/slack")
        with served(create_app(settings, embedder=embedder)) as base:
            config = tmp_path / "alertmanager.yml"
            config.write_text(CONFIG.format(url=base, token=TOKEN))
            port = free_port()
            log = (tmp_path / "alertmanager.log").open("wb")
            proc = subprocess.Popen(
                [BINARY, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                 "--log.level=info"], stdout=log, stderr=subprocess.STDOUT)
            am = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + 30
                while True:
                    assert proc.poll() is None, (tmp_path / "alertmanager.log").read_text()
                    try:
                        if httpx.get(f"{am}/-/ready", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "Alertmanager did not become ready"
                    time.sleep(0.1)
                yield am, receiver
            finally:
                proc.terminate()
                proc.wait(10)
                log.close()


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _alert(name: str, labels: dict[str, str], summary: str, starts: dt.datetime,
           ends: dt.datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"labels": {"alertname": name, **labels},
                            "annotations": {"summary": summary}, "startsAt": _iso(starts),
                            "generatorURL": f"http://prometheus:9090/graph?g0.expr={name}"}
    if ends is not None:
        body["endsAt"] = _iso(ends)
    return body


def test_real_alertmanager_groups_posts_and_resolves(
        alertmanager: tuple[str, ChannelReceiver]) -> None:
    am, receiver = alertmanager
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=23)
    redis = [
        _alert("RedisMemoryHigh", {"service": "redis", "severity": "warning",
                                   "instance": "redis-sessions-0"},
               "Redis memory above 90% of maxmemory", started),
        _alert("RedisEvictionsHigh", {"service": "redis", "severity": "critical",
                                      "instance": "redis-cache-0"},
               "Redis is evicting keys", started),
    ]
    pods = [_alert("KubePodCrashLooping", {"service": "payments-api", "team": "payments",
                                           "namespace": "payments", "severity": "critical"},
                   "Pod payments-api-7d9 is restarting", started)]
    r = httpx.post(f"{am}/api/v2/alerts", json=redis + pods, timeout=5)
    assert r.status_code == 200, r.text

    posts = receiver.wait_for(2, timeout=30)
    time.sleep(2)  # a few group intervals: nothing else may come for unchanged groups
    assert len(receiver.posts) == 2, receiver.texts()
    by_channel = {p.body["channel"]: p.body for p in posts}
    assert set(by_channel) == {"#team-platform", "#team-payments"}
    platform = by_channel["#team-platform"]["text"]
    # One group, one post: both Redis alerts, the runbook both resolve to by name.
    assert "RedisMemoryHigh" in platform and "RedisEvictionsHigh" in platform
    assert "Runbook (alert): <https://kb.example/articles/redis-maxmemory-evictions|" in platform
    assert "*First diagnostic steps*" in platform and "*Escalate when*" in platform
    assert "<http://prometheus:9090/graph?g0.expr=RedisMemoryHigh|source>" in platform
    payments = by_channel["#team-payments"]["text"]
    assert "KubePodCrashLooping" in payments and "team=payments" in payments
    # Two runbooks list KubePodCrashLooping: the one for the alert's service (payments-api) wins.
    assert "Runbook (alert): <https://kb.example/articles/java-heap-outofmemoryerror|" in payments

    # Resolution: the same alerts, endsAt in the past.
    ended = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    resolved = [dict(a, endsAt=_iso(ended)) for a in redis]
    assert httpx.post(f"{am}/api/v2/alerts", json=resolved, timeout=5).status_code == 200
    done = receiver.wait_for(3, timeout=30)[2].body
    assert done["channel"] == "#team-platform"
    assert "resolved after 23 min" in done["text"]
    assert "RedisEvictionsHigh" in done["text"] and "RedisMemoryHigh" in done["text"]
    time.sleep(2)
    assert len(receiver.posts) == 3, receiver.texts()
