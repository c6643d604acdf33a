"""Ticket sinks for hand-offs: a JSON webhook (any helpdesk) or an email over SMTP.

    >>> sink = WebhookSink("https://helpdesk.example/hooks/fieldguide")
    >>> result = deliver(sink, packet, RetryPolicy(attempts=3, backoff=0.5))

Delivery retries with exponential backoff, a bounded number of times; the caller keeps the
ticket whatever happens (``failed`` with the last error when every attempt failed).
"""

from __future__ import annotations

import json
import re
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from chatbot.engine import _CONTROL


class DeliveryError(Exception):
    """One delivery attempt failed (the message says why)."""


class TicketSink(Protocol):
    name: str

    def send(self, packet: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.5  # seconds before the 2nd attempt; doubles each time
    max_backoff: float = 10.0


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    attempts: int
    error: str | None


class WebhookSink:
    """POSTs the packet as JSON; any 2xx is a delivery. ``timeout`` bounds each phase (connect,
    each read, each write) of an attempt: a webhook that accepts and never answers fails the
    attempt instead of holding it."""

    name = "webhook"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def send(self, packet: dict[str, Any]) -> None:
        try:
            resp = httpx.post(self.url, json=packet, timeout=self.timeout,
                              headers={"User-Agent": "fieldguide-chatbot"})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {exc}") from exc
        if resp.status_code >= 300:
            raise DeliveryError(f"HTTP {resp.status_code} from the webhook")


class EmailSink:
    """Sends the packet as a readable email with the JSON attached."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, to: str, user: str | None = None,
                 password: str | None = None, starttls: bool = False,
                 timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.to = host, port, sender, to
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    def send(self, packet: dict[str, Any]) -> None:
        msg = EmailMessage()
        first = (packet.get("questions") or ["(no question)"])[0]
        msg["Subject"] = f"[{packet.get('reference')}] Chat hand-off: {first[:80]}"
        msg["From"] = self.sender
        msg["To"] = self.to
        msg.set_content(render_text(packet))
        msg.add_attachment(json.dumps(packet, indent=1, ensure_ascii=False).encode(),
                           maintype="application", subtype="json", filename="handoff.json")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {exc}") from exc


NO_SINK_HELP = ("no ticket system is configured: hand-offs are recorded (status 'stored') and "
                "nobody is notified. Set FIELDGUIDE_TICKET_WEBHOOK_URL (a helpdesk's JSON "
                "webhook) or FIELDGUIDE_TICKET_EMAIL with FIELDGUIDE_SMTP_HOST, then restart "
                "and retry the stored tickets.")


def clean_description(text: str, limit: int = 4000) -> str:
    """What the user tried, as they wrote it: line breaks kept (so "expense report" and "I tried"
    on two lines never run together), control characters and runs of spaces out, clipped."""
    lines = (" ".join(_CONTROL.sub(" ", line).split())
             for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()[:limit]


def render_text(packet: dict[str, Any]) -> str:
    """The packet as plain text for a human: what was asked, shown, tried and said."""
    lines = [f"Ticket {packet.get('reference')} from the Fieldguide chatbot",
             f"Contact: {packet.get('contact') or '(none given)'}", "",
             "What the user already tried:",
             *(f"  {line}" for line in (packet.get("description") or "(not given)").split("\n")),
             "",
             "Questions:"]
    lines += [f"  - {q}" for q in packet.get("questions", [])]
    lines += ["", "Articles shown (confidence, opened?, feedback):"]
    for a in packet.get("articles_shown", []):
        lines.append(f"  - {a['title']} <{a['url']}>  confidence {a.get('confidence')}, "
                     f"opened: {'yes' if a.get('opened') else 'no'}, "
                     f"feedback: {a.get('feedback') or 'none'}")
    lines += ["", "Transcript:"]
    for t in packet.get("transcript", []):
        lines.append(f"  [{t['at']}] user: {t['message']}")
        lines.append(f"  [{t['at']}] bot ({t['kind']}): {t['text']}")
    return "\n".join(lines) + "\n"


def deliver(sink: TicketSink, packet: dict[str, Any], policy: RetryPolicy,
            sleep: Callable[[float], None] = time.sleep) -> DeliveryResult:
    """Send with bounded retries; never raises."""
    error: str | None = None
    delay = policy.backoff
    for attempt in range(1, max(1, policy.attempts) + 1):
        try:
            sink.send(packet)
            return DeliveryResult(True, attempt, None)
        except DeliveryError as exc:
            error = str(exc)
        except Exception as exc:  # a broken sink must not lose the ticket
            error = f"{exc.__class__.__name__}: {exc}"
        if attempt < policy.attempts:
            sleep(min(delay, policy.max_backoff))
            delay *= 2
    return DeliveryResult(False, max(1, policy.attempts), error)


def sink_from_settings(settings: Any) -> TicketSink | None:
    """The configured sink: the webhook when set, else email when SMTP and an address are set."""
    url = getattr(settings, "ticket_webhook_url", None)
    timeout = float(getattr(settings, "ticket_timeout_seconds", 10.0))
    if url:
        return WebhookSink(url, timeout=timeout)
    to = getattr(settings, "ticket_email", None)
    host = getattr(settings, "smtp_host", None)
    if to and host:
        return EmailSink(host, int(getattr(settings, "smtp_port", 25)),
                         getattr(settings, "smtp_from", "fieldguide@localhost"), to,
                         getattr(settings, "smtp_user", None),
                         getattr(settings, "smtp_password", None),
                         bool(getattr(settings, "smtp_starttls", False)), timeout=timeout)
    return None
