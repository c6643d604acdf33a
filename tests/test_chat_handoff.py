"""Hand-off tickets through real sinks: a local HTTP receiver and an aiosmtpd SMTP server.

1. The packet carries the questions, articles shown (opened? feedback? confidence), the
   user's description of what they tried, the contact and the transcript.
2. Email delivery: a readable body and the JSON attached.
3. A receiver that is down: bounded retries, then the ticket is kept as failed, visible,
   and can be retried once the receiver is back.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, session_factory, upgrade
from chatbot.engine import ChatEngine
from chatbot.handoff import EmailSink, RetryPolicy, WebhookSink, sink_from_settings
from chatbot.service import ChatService


class Receiver:
    """A real HTTP server recording JSON bodies; ``fail`` makes it answer 503."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.hits = 0
        self.fail = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.hits += 1
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(body))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tickets"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'chat.db'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def converse(service: ChatService) -> str:
    sid = service.chat(None, "hello").session_id
    service.chat(sid, "my vpn keeps disconnecting every few minutes")
    service.opened(sid, "vpn-keeps-disconnecting")
    service.feedback(sid, helpful=False, comment="drops anyway")
    service.chat(sid, "printer shows offline")
    return sid


def test_webhook_packet_has_the_full_context(chat_engine: ChatEngine,
                                             sessions: sessionmaker[Session],
                                             receiver: Receiver) -> None:
    service = ChatService(chat_engine, sessions, sink=WebhookSink(receiver.url))
    sid = converse(service)
    result = service.escalate(sid, description="Restarted the router and the laptop",
                              contact="ana@example.com")
    assert result.status == "delivered" and result.attempts == 1
    [packet] = receiver.bodies
    assert packet["reference"] == result.ticket
    assert packet["questions"] == ["my vpn keeps disconnecting every few minutes",
                                   "printer shows offline"]
    shown = {a["id"]: a for a in packet["articles_shown"]}
    assert set(shown) == {"vpn-keeps-disconnecting", "printer-offline"}
    vpn = shown["vpn-keeps-disconnecting"]
    assert vpn["opened"] is True and vpn["feedback"] == "not helpful"
    assert vpn["confidence"] > 0.5 and vpn["url"].endswith("/articles/vpn-keeps-disconnecting")
    assert shown["printer-offline"]["opened"] is False
    assert packet["feedback"][0]["comment"] == "drops anyway"
    assert packet["description"] == "Restarted the router and the laptop"
    assert packet["contact"] == "ana@example.com"
    assert packet["transcript"][0]["message"] == "hello"
    assert len(packet["transcript"]) == 3
    assert service.tickets()[0].status == "delivered"
    # A delivered ticket is never sent again: not by a second escalation, not by a retry.
    assert service.escalate(sid).ticket == result.ticket
    assert service.retry_ticket(result.ticket).attempts == 0
    assert len(receiver.bodies) == 1 and len(service.tickets()) == 1


def test_receiver_down_retries_then_keeps_the_ticket_failed(
        chat_engine: ChatEngine, sessions: sessionmaker[Session], receiver: Receiver) -> None:
    waits: list[float] = []
    service = ChatService(chat_engine, sessions, sink=WebhookSink(receiver.url),
                          retry=RetryPolicy(attempts=3, backoff=0.5), sleep=waits.append)
    receiver.fail = True
    sid = converse(service)
    result = service.escalate(sid, description="tried everything")
    assert result.status == "failed" and result.attempts == 3
    assert receiver.hits == 3
    assert waits == [0.5, 1.0]  # exponential backoff, bounded
    [failed] = service.tickets("failed")
    assert failed.reference == result.ticket
    assert "503" in failed.last_error
    # Back up: the kept ticket goes out on retry, with the same packet.
    receiver.fail = False
    again = service.retry_ticket(result.ticket)
    assert again.ticket.status == "delivered" and again.ticket.attempts == 4
    assert receiver.bodies[0]["description"] == "tried everything"


def test_unreachable_receiver_is_failed_not_lost(chat_engine: ChatEngine,
                                                 sessions: sessionmaker[Session]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    service = ChatService(chat_engine, sessions,
                          sink=WebhookSink(f"http://127.0.0.1:{port}/x", timeout=2),
                          retry=RetryPolicy(attempts=2, backoff=0), sleep=lambda _: None)
    sid = service.chat(None, "printer shows offline").session_id
    result = service.escalate(sid)
    assert result.status == "failed"
    [ticket] = service.tickets("failed")
    assert ticket.attempts == 2 and "Connect" in ticket.last_error


def test_email_sink_over_real_smtp(chat_engine: ChatEngine,
                                   sessions: sessionmaker[Session]) -> None:
    mailbox = Mailbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        service = ChatService(chat_engine, sessions, sink=EmailSink(
            "127.0.0.1", port, "bot@example.com", "helpdesk@example.com"))
        sid = converse(service)
        result = service.escalate(sid, description="Restarted the router", contact="+44 20 0000")
        assert result.status == "delivered"
    finally:
        controller.stop()
    [raw] = mailbox.messages
    msg = message_from_bytes(raw)
    assert result.ticket in msg["Subject"]
    assert msg["To"] == "helpdesk@example.com"
    parts = list(msg.walk())
    body = next(p for p in parts if p.get_content_type() == "text/plain").get_payload(decode=True)
    text = body.decode()
    assert "Restarted the router" in text and "+44 20 0000" in text
    assert "VPN keeps disconnecting" in text and "opened: yes" in text
    attached = next(p for p in parts if p.get_content_type() == "application/json")
    assert json.loads(attached.get_payload(decode=True))["reference"] == result.ticket


def test_sink_from_settings() -> None:
    class S:
        ticket_webhook_url = None
        ticket_email = "help@example.com"
        smtp_host = "mail.example.com"
        smtp_port = 2525
        smtp_from = "bot@example.com"

    sink = sink_from_settings(S())
    assert isinstance(sink, EmailSink) and sink.port == 2525
    S.ticket_webhook_url = "http://helpdesk.example/hook"  # type: ignore[assignment]
    assert isinstance(sink_from_settings(S()), WebhookSink)
    S.ticket_webhook_url = None
    S.smtp_host = None  # type: ignore[assignment]
    assert sink_from_settings(S()) is None
