"""A hung ticket webhook does not hold escalations: bounded wait, ticket queued and retried.

1. A webhook that accepts the connection and never answers: ``POST .../escalate`` answers
   ``queued`` while that request is still hanging (the review measured 33-35 s per escalation).
2. The ticket is not lost: the attempt times out (``TICKET_TIMEOUT_SECONDS``), the retry reaches
   the webhook once it answers again, and the ticket ends ``delivered``, sent once.
3. Escalating again meanwhile opens no second ticket and starts no second delivery.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from indexer.embed import Embedder
from tests.api_support import ADMIN, client_for, copy_index, settings_for


class HungWebhook:
    """Hangs every request until ``release`` is set, then answers 200 to the later ones."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.hanging = 0
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not outer.release.is_set():
                    outer.hanging += 1
                    outer.release.wait(60)
                    outer.hanging -= 1
                    return  # the client gave up long ago: close without an answer
                outer.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tickets"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[HungWebhook]:
    hook = HungWebhook()
    yield hook
    hook.close()


def test_a_hung_webhook_queues_the_ticket_and_it_is_delivered_later(
        webhook: HungWebhook, tmp_path: Path, kb_index: Path, embedder: Embedder) -> None:
    settings = settings_for(tmp_path / "data", copy_index(kb_index, tmp_path / "index"),
                            ticket_webhook_url=webhook.url, ticket_timeout_seconds=1,
                            ticket_retries=5, ticket_backoff_seconds=0.5,
                            chat_sweep_seconds=0, freshness_schedule_hours=0)
    with client_for(settings, embedder) as client:
        session_id = client.post("/api/chat", json={"message": "vpn keeps disconnecting"}
                                 ).json()["session_id"]
        first = client.post(f"/api/chat/{session_id}/escalate", json={"contact": "a@b.example"})
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "queued"
        assert webhook.hanging >= 1  # answered while the webhook still holds the request
        again = client.post(f"/api/chat/{session_id}/escalate", json={})
        assert again.json()["ticket"] == first.json()["ticket"]  # no second ticket
        webhook.release.set()  # the ticket system recovers: the next retry goes through
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            tickets = client.get("/api/chat/tickets", headers=ADMIN).json()["tickets"]
            status = tickets[0]["status"]
            if status == "delivered":
                break
            time.sleep(0.2)
        assert status == "delivered"
        assert len(tickets) == 1 and tickets[0]["attempts"] >= 2
        assert [p["reference"] for p in webhook.received] == [first.json()["ticket"]]
