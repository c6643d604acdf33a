"""Notifications delivered to a real SMTP server (aiosmtpd) and real local HTTP receivers.

Properties proved:
1. Each assignee gets ONE digest a week listing all their due-soon/stale/unverified articles with
   direct links; each team channel gets the weekly summary (counts, newly unverified, oldest
   stale, trust score against the 80% target).
2. A second run the same week sends nothing (week key); every send is logged.
3. A notifier that is down does not stop the job: others still deliver, the failure is recorded
   with its attempts and error, and the next run retries it.
4. SMTP works with STARTTLS and AUTH; Teams gets a MessageCard or an Adaptive Card.
"""

from __future__ import annotations

import email
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from email.message import Message as EmailMsg
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from freshness.digest import article_url
from freshness.job import Job
from freshness.models import NotificationRow
from freshness.notify import (
    Message,
    NotifyError,
    SlackWebhookNotifier,
    SmtpNotifier,
    TeamsWebhookNotifier,
    deliver,
)
from freshness.policy import Status
from indexer.content import ContentScan
from tests.test_freshness_job import NOW

PUBLIC = "https://kb.brightwater.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A real HTTP server in a thread that records JSON bodies; ``fail`` makes it answer 500."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if outer.fail:
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"receiver down")
                    return
                outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMsg] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[EmailMsg]:
        return [m for m in self.messages if m["To"] == address]


def body_text(msg: EmailMsg) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def test_digests_and_summaries_are_delivered_once_a_week(
        kb: ContentScan, engine: Engine, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    with Receiver() as slack, Receiver() as teams_hook:
        notifiers = [SmtpNotifier("127.0.0.1", port, sender="fg@x.example"),
                     SlackWebhookNotifier(slack.url), TeamsWebhookNotifier(teams_hook.url)]
        with Session(engine) as s:
            job = Job(kb.teams, notifiers=notifiers, public_url=PUBLIC)
            result = job.run(s, kb.articles, NOW, notify=True)
        assert result.sends
        assert {x.status for x in result.sends} == {"sent"}

        # Digests: one email per person assignee, listing all of their articles with links.
        due = [a for a in result.articles if a.status is not Status.FRESH and not a.retired]
        people = {a.assignee for a in due if "@" in a.assignee}
        assert people
        for person in people:
            mails = box.to(person)
            assert len(mails) == 1, person
            text = body_text(mails[0])
            for a in (x for x in due if x.assignee == person):
                assert article_url(PUBLIC, a.id) in text
                assert a.title in text
                assert f"[{a.status.value}]" in text
            assert "Fieldguide" in mails[0]["Subject"]
        # A fresh-only owner gets nothing.
        fresh_only = {a.assignee for a in result.articles} - {a.assignee for a in due}
        assert all(not box.to(p) for p in fresh_only if "@" in p)

        # Summaries: each team channel once, with counts, trust and the target.
        summaries = [b for b in slack.bodies if "weekly summary" in b["text"]]
        channels = [b["channel"] for b in summaries]
        assert len(channels) == len(set(channels))
        team_channels = {t.channel for t in kb.teams.teams.values()}
        teams_with_articles = {kb.teams.teams[a.team].channel for a in result.articles
                               if a.team}
        assert set(channels) == teams_with_articles
        assert set(channels) <= team_channels
        net = next(b["text"] for b in summaries if b["channel"] == "#team-network")
        net_articles = [a for a in result.articles if a.team == "network"]
        for state in Status:
            n = sum(a.status is state for a in net_articles)
            assert f"{state.value} {n}" in net
        verified = sum(a.status in (Status.FRESH, Status.DUE_SOON) for a in net_articles)
        assert f"Trust score: {verified / len(net_articles):.0%} verified (target 80%)" in net
        assert "Became unverified this week" in net
        # Teams: a MessageCard per team-addressed message, with facts.
        cards = [b for b in teams_hook.bodies if "weekly summary" in b["title"]]
        assert len(cards) == len(summaries)
        assert all(c["@type"] == "MessageCard" for c in cards)
        assert any(f["name"] == "trust" for f in cards[0]["sections"][0]["facts"])

        sent_mail, sent_slack = len(box.messages), len(slack.bodies)
        with Session(engine) as s:
            job = Job(kb.teams, notifiers=notifiers, public_url=PUBLIC)
            again = job.run(s, kb.articles, NOW, notify=True)
            logged = s.scalars(select(NotificationRow)).all()
        assert {x.status for x in again.sends} == {"already-sent"}
        assert (len(box.messages), len(slack.bodies)) == (sent_mail, sent_slack)
        assert len(logged) == len(result.sends)
        assert all(r.status == "sent" and r.attempts == 1 and r.week_key == "2026-W49"
                   for r in logged)


def test_newly_unverified_articles_are_listed_in_the_summary(
        kb: ContentScan, engine: Engine) -> None:
    with Receiver() as slack:
        with Session(engine) as s:
            job = Job(kb.teams, notifiers=[SlackWebhookNotifier(slack.url)], public_url=PUBLIC)
            result = job.run(s, kb.articles, NOW, notify=True)
        monday = NOW.date().toordinal() - NOW.date().weekday()
        newly = [a for a in result.articles if a.unverified_since
                 and a.unverified_since.toordinal() >= monday]
        assert newly, "the sample KB has articles turning unverified in week 2026-W49"
        by_channel = {b["channel"]: b["text"] for b in slack.bodies if "weekly summary" in b["text"]}
        for a in newly:
            text = by_channel[kb.teams.teams[a.team or ""].channel or ""]
            section = text.split("Became unverified this week:")[1].split("Oldest stale")[0]
            assert article_url(PUBLIC, a.id) in section
        older = [a for a in result.articles if a.status is Status.UNVERIFIED and a not in newly]
        assert older
        for a in older:
            text = by_channel[kb.teams.teams[a.team or ""].channel or ""]
            section = text.split("Became unverified this week:")[1].split("Oldest stale")[0]
            assert article_url(PUBLIC, a.id) not in section


def test_a_down_notifier_does_not_stop_the_job(
        kb: ContentScan, engine: Engine, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    sleeps: list[float] = []
    with Receiver() as slack:
        slack.fail = True
        dead = TeamsWebhookNotifier(f"http://127.0.0.1:{free_port()}/nobody-listens", timeout=2)
        notifiers = [dead, SlackWebhookNotifier(slack.url), SmtpNotifier("127.0.0.1", port)]
        with Session(engine) as s:
            job = Job(kb.teams, notifiers=notifiers, public_url=PUBLIC, retries=3, backoff=0.01,
                      sleep=sleeps.append)
            result = job.run(s, kb.articles, NOW, notify=True)
            rows = s.scalars(select(NotificationRow)).all()
        by_channel = {ch: [r for r in rows if r.channel == ch] for ch in ("teams", "slack",
                                                                           "email")}
        assert by_channel["teams"]
        assert all(r.status == "failed" and r.attempts == 3 and r.error for r in
                   by_channel["teams"] + by_channel["slack"])
        assert "500" in by_channel["slack"][0].error
        assert all(r.status == "sent" for r in by_channel["email"])
        assert len(box.messages) == len(by_channel["email"]) > 0
        assert sleeps[:2] == [0.01, 0.02]  # bounded exponential backoff
        assert result.articles  # the job finished its work

        # The receiver comes back: the next run retries only what failed.
        slack.fail = False
        with Session(engine) as s:
            job = Job(kb.teams, notifiers=[SlackWebhookNotifier(slack.url),
                                           SmtpNotifier("127.0.0.1", port)],
                      public_url=PUBLIC, backoff=0.0, sleep=sleeps.append)
            retry = job.run(s, kb.articles, NOW, notify=True)
        assert {x.status for x in retry.sends if x.channel == "slack"} == {"sent"}
        assert {x.status for x in retry.sends if x.channel == "email"} == {"already-sent"}
        assert len(slack.bodies) == len(by_channel["slack"])


def test_dry_run_sends_nothing(kb: ContentScan, engine: Engine,
                               mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    with Session(engine) as s:
        job = Job(kb.teams, notifiers=[SmtpNotifier("127.0.0.1", port)], public_url=PUBLIC)
        result = job.run(s, kb.articles, NOW, dry_run=True, notify=True)
        assert s.scalars(select(NotificationRow)).all() == []
    assert {x.status for x in result.sends} == {"would-send"}
    assert box.messages == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI for a cert")
def test_smtp_starttls_and_auth(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=server_ctx,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True)
    controller.start()
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        msg = Message(kind="digest", recipient="a@x.example", email="a@x.example",
                      subject="Fieldguide: 1 article(s) to review", text="- [stale] T: u",
                      links=(("T", "https://kb/articles/t"),))
        good = SmtpNotifier("127.0.0.1", port, user="fg", password="s3cret", starttls=True,
                            ssl_context=client_ctx)
        assert deliver(good, msg).ok
        assert logins == [(b"fg", b"s3cret")]
        assert box.messages[0]["Subject"] == msg.subject
        html_part = [p for p in box.messages[0].walk() if p.get_content_type() == "text/html"]
        assert html_part
        assert 'href="https://kb/articles/t"' in str(html_part[0].get_payload(decode=True))
        plain = SmtpNotifier("127.0.0.1", port, timeout=5)  # no STARTTLS: refused
        with pytest.raises(NotifyError, match="530"):
            plain.send(msg)
        assert len(box.messages) == 1
    finally:
        controller.stop()


def test_teams_adaptive_card_payload() -> None:
    with Receiver() as hook:
        notifier = TeamsWebhookNotifier(hook.url, card="adaptive")
        msg = Message(kind="summary", recipient="network", channel="#team-network",
                      subject="S", text="T", facts=(("trust", "75%"),),
                      links=(("A", "https://kb/articles/a"),))
        assert notifier.address(msg) is not None
        notifier.send(msg)
    card = hook.bodies[0]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert card["content"]["actions"][0]["url"] == "https://kb/articles/a"
    assert {"title": "trust", "value": "75%"} in card["content"]["body"][2]["facts"]
    with pytest.raises(ValueError, match="messagecard, adaptive"):
        TeamsWebhookNotifier(hook.url, card="hero")
