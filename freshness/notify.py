"""Pluggable notifiers (Slack-compatible webhook, Teams webhook, SMTP) with bounded retries.

Usage::

    found = notifiers(config.channels)
    delivery = deliver(found[0], message, retries=3, backoff=0.5)
"""

from __future__ import annotations

import hashlib
import html
import smtplib
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, ClassVar

import httpx

from freshness.config import ChannelsConfig


class NotifyError(RuntimeError):
    """A send failed (network, refusal, bad status)."""


@dataclass(frozen=True)
class Message:
    """One notification, rendered once and delivered through every notifier that can address it."""

    kind: str  # digest | summary
    recipient: str  # a person's email or a team id: the idempotency key with kind and week
    subject: str
    text: str  # plain text, also valid Slack mrkdwn
    email: str | None = None  # where the email notifier sends it
    channel: str | None = None  # team chat channel: webhooks only post messages that have one
    facts: tuple[tuple[str, str], ...] = ()  # key figures, shown as facts in Teams cards
    links: tuple[tuple[str, str], ...] = ()  # (title, url)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def payload_hash(self) -> str:
        return hashlib.sha256(f"{self.subject}\n{self.text}".encode()).hexdigest()

    def html(self) -> str:
        lines = [f"<p>{html.escape(line)}</p>" for line in self.text.split("\n\n")]
        if self.links:
            items = "".join(f'<li><a href="{html.escape(url)}">{html.escape(title)}</a></li>'
                            for title, url in self.links)
            lines.append(f"<ul>{items}</ul>")
        return "<html><body>" + "".join(lines) + "</body></html>"


class Notifier(ABC):
    """A delivery channel. ``address`` is None when this channel cannot reach the message's
    recipient (a person's digest has no team chat channel)."""

    name: ClassVar[str]

    @abstractmethod
    def address(self, message: Message) -> str | None: ...

    @abstractmethod
    def send(self, message: Message) -> None: ...


class _Webhook(Notifier):
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._client: httpx.Client | None = None  # created on first send, reused (TLS setup)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def address(self, message: Message) -> str | None:
        return f"{self.url}#{message.channel}" if message.channel else None

    @abstractmethod
    def payload(self, message: Message) -> dict[str, Any]: ...

    def send(self, message: Message) -> None:
        try:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout)
            resp = self._client.post(self.url, json=self.payload(message))
        except httpx.HTTPError as exc:
            raise NotifyError(f"{self.name} webhook: {exc}") from exc
        if resp.status_code >= 300:
            raise NotifyError(f"{self.name} webhook answered {resp.status_code}: "
                              f"{resp.text[:200]}")


class SlackWebhookNotifier(_Webhook):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat)."""

    name = "slack"

    def payload(self, message: Message) -> dict[str, Any]:
        return {"channel": message.channel, "username": "Fieldguide",
                "text": f"*{message.subject}*\n{message.text}"}


class TeamsWebhookNotifier(_Webhook):
    """A Microsoft Teams incoming webhook: a legacy MessageCard or an Adaptive Card."""

    name = "teams"

    def __init__(self, url: str, timeout: float = 10.0, card: str = "messagecard") -> None:
        super().__init__(url, timeout)
        if card not in ("messagecard", "adaptive"):
            raise ValueError(f"unknown Teams card {card!r} (allowed: messagecard, adaptive)")
        self.card = card

    def payload(self, message: Message) -> dict[str, Any]:
        if self.card == "messagecard":
            return {
                "@type": "MessageCard", "@context": "https://schema.org/extensions",
                "summary": message.subject, "themeColor": "D97706", "title": message.subject,
                "text": message.text.replace("\n", "  \n"),
                "sections": [{"facts": [{"name": k, "value": v} for k, v in message.facts]}],
                "potentialAction": [{"@type": "OpenUri", "name": title[:60],
                                     "targets": [{"os": "default", "uri": url}]}
                                    for title, url in message.links[:5]],
            }
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium"},
            {"type": "TextBlock", "text": message.text, "wrap": True},
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in message.facts]},
        ]
        return {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard", "version": "1.4", "body": body,
                        "actions": [{"type": "Action.OpenUrl", "title": title[:60], "url": url}
                                    for title, url in message.links[:5]]}}]}


class SmtpNotifier(Notifier):
    """Email over SMTP with optional STARTTLS and login."""

    name = "email"

    def __init__(self, host: str, port: int = 25, sender: str = "fieldguide@localhost",
                 user: str | None = None, password: str | None = None, starttls: bool = False,
                 timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls
        self.timeout = timeout
        self.ssl_context = ssl_context

    def address(self, message: Message) -> str | None:
        return message.email

    def send(self, message: Message) -> None:
        if not message.email:
            raise NotifyError("no email address")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.email
        mail["Subject"] = message.subject
        mail.set_content(message.text)
        mail.add_alternative(message.html(), subtype="html")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"smtp {self.host}:{self.port}: {exc}") from exc


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None


def deliver(notifier: Notifier, message: Message, retries: int = 3, backoff: float = 0.5,
            sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send with at most ``retries`` attempts, doubling the pause; never raises."""
    error = ""
    attempts = max(1, retries)
    for attempt in range(1, attempts + 1):
        try:
            notifier.send(message)
            return Delivery(True, attempt)
        except Exception as exc:  # a notifier must never stop the job: record and go on
            error = str(exc) or exc.__class__.__name__
            if attempt < attempts:
                sleep(backoff * 2 ** (attempt - 1))
    return Delivery(False, attempts, error)


def notifiers(channels: ChannelsConfig) -> list[Notifier]:
    """The notifiers configured in ``channels`` (none when nothing is configured)."""
    out: list[Notifier] = []
    if channels.slack_webhook_url:
        out.append(SlackWebhookNotifier(channels.slack_webhook_url))
    if channels.teams_webhook_url:
        out.append(TeamsWebhookNotifier(channels.teams_webhook_url, card=channels.teams_card))
    smtp = channels.smtp
    if smtp is not None:
        out.append(SmtpNotifier(smtp.host, smtp.port, smtp.sender, smtp.user, smtp.password,
                                smtp.starttls))
    return out
