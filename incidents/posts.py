"""The channel post for an alert group (Slack Block Kit / mrkdwn, Teams cards), a prefilled runbook
template for alerts that have none, and the outbox sender that delivers posts and never loses one.

    >>> message = render_firing(alerts, team, flavor="slack")     # rendered once, at intake
    >>> sender = OutboxSender(sessions, {"slack": SlackBlocksNotifier(url)})
    >>> sender.send_due()                 # claims due rows, sends, reschedules the failures
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from freshness.notify import Message, Notifier, SlackWebhookNotifier, deliver
from freshness.policy import Freshness, Status
from incidents.models import ChannelPostRow, utcnow
from indexer.article import Article
from indexer.teams import Team

log = logging.getLogger("fieldguide.incidents.posts")

MAX_STEPS = 3  # what a responder reads before opening the runbook
MAX_ALERTS_SHOWN = 5
MAX_RUNBOOKS_SHOWN = 3
MAX_STEP_CHARS = 300
KEY_LABELS = ("service", "job", "namespace", "instance", "pod", "cluster", "team")
_DIAGNOSTIC_HEADINGS = re.compile(r"diagnos|investigat|triage|troubleshoot|check", re.I)
_ESCALATION_HEADINGS = re.compile(r"escalat", re.I)


# -- what a post shows -------------------------------------------------------------------------
@dataclass(frozen=True)
class RunbookView:
    """A runbook as a post shows it: the link, its freshness, the first steps to take."""

    id: str
    title: str
    url: str
    how: str  # runbook_url | alert | search
    freshness: Freshness
    diagnostic: tuple[str, ...]
    escalation: tuple[str, ...]

    @property
    def unverified(self) -> bool:
        return self.freshness.banner or self.freshness.status is Status.UNVERIFIED


@dataclass(frozen=True)
class AlertView:
    """One alert of the group as a post shows it."""

    alertname: str
    status: str
    severity: str | None
    labels: tuple[tuple[str, str], ...]  # the key labels only
    summary: str
    generator_url: str | None
    runbook: RunbookView | None
    template_url: str  # a prefilled new-runbook template for this alert


def _first_paragraph(text: str) -> str:
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```") or (not stripped and lines):
            break
        if stripped:
            lines.append(stripped.lstrip("-*0123456789. ").strip())
    out = " ".join(lines)
    return out if len(out) <= MAX_STEP_CHARS else out[: MAX_STEP_CHARS - 1].rstrip() + "…"


def section_steps(article: Article, key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The first steps of a section: the templated one (``key``), else the first whose heading
    matches ``pattern`` (an imported wiki page); its list items, else its first paragraph."""
    found = next((s for s in article.sections if s.key == key), None)
    if found is None:
        found = next((s for s in article.sections if s.level > 1 and pattern.search(s.heading)),
                     None)
    if found is None:
        return ()
    if found.list_items:
        return tuple(_first_paragraph(i) for i in found.list_items[:MAX_STEPS] if i.strip())
    first = _first_paragraph(found.text)
    return (first,) if first else ()


def runbook_view(article: Article, how: str, url: str, freshness: Freshness) -> RunbookView:
    return RunbookView(article.id, article.title, url, how, freshness,
                       section_steps(article, "diagnostic_steps", _DIAGNOSTIC_HEADINGS),
                       section_steps(article, "escalation_criteria", _ESCALATION_HEADINGS))


def template_url(public_url: str, alertname: str, labels: Mapping[str, str], summary: str) -> str:
    query = {"alertname": alertname}
    if labels.get("service"):
        query["service"] = labels["service"]
    if summary:
        query["summary"] = summary[:300]
    return public_url.rstrip("/") + "/api/hooks/template?" + urllib.parse.urlencode(query)


def _slug(text: str) -> str:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return "-".join(re.findall(r"[a-z0-9]+", words.lower()))[:80] or "new-runbook"


def runbook_template(alertname: str, service: str | None = None, summary: str | None = None,
                     team: str | None = None) -> str:
    """A new article in the template's shape, prefilled for an alert that has no runbook."""
    def one_line(value: str | None) -> str | None:
        return " ".join(value.split()) if value else None

    alertname = one_line(alertname) or "NewAlert"
    service, summary, team = one_line(service), one_line(summary), one_line(team)
    title = (summary or alertname).replace('"', "'").replace("\\", "/").strip()
    lines = ["---", f"id: {_slug(alertname)}", f'title: "{title}"', "symptoms:",
             f'  - "{title}"', "error_codes: []", f"alerts: [{alertname}]",
             f"services: [{service}]" if service else "services: []", "tags: []",
             "audience: [engineer]", "owner: ", f"team: {team}" if team else "team: ",
             f"created: {dt.date.today().isoformat()}", "---", "", f"# {title}", "",
             "## Symptom", "", f"The alert `{alertname}` fires." + (f" {summary}" if summary else ""),
             "", "## Likely causes", "", "1. ", "", "## Diagnostic steps", "", "1. ", "",
             "## Resolution", "", "1. ", "", "## Escalation criteria", "", "- ", ""]
    return "\n".join(lines)


# -- rendering -----------------------------------------------------------------------------------
def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, title: str, flavor: str) -> str:
    if flavor == "slack":
        safe = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
        return f"<{safe}|{_slack_escape(title).replace('|', '¦')}>"
    return f"[{title.replace(']', ')').replace('[', '(')}]({url.replace(')', '%29')})"


def _bold(text: str, flavor: str) -> str:
    return f"*{text}*" if flavor == "slack" else f"**{text}**"  # Slack mrkdwn; Markdown


def _text(text: str, flavor: str) -> str:
    return _slack_escape(text) if flavor == "slack" else text


def _freshness_line(view: RunbookView, flavor: str) -> str:
    status = view.freshness.status.value if view.freshness.status else "unknown"
    line = f"freshness: {status}"
    if view.freshness.review_by:
        line += f" (review by {view.freshness.review_by.isoformat()})"
    if view.unverified:
        line += (f" ⚠️ {_bold('Unverified', flavor)}: not reviewed in time, check each step "
                 "before acting on it")
    return line


def _alert_lines(alert: AlertView, flavor: str) -> list[str]:
    sev = f" [{alert.severity}]" if alert.severity else ""
    head = f"{_bold(_text(alert.alertname, flavor), flavor)}{_text(sev, flavor)} ({alert.status})"
    if alert.generator_url:
        head += " " + _link(alert.generator_url, "source", flavor)
    lines = [head]
    if alert.labels:
        lines.append(_text(", ".join(f"{k}={v}" for k, v in alert.labels), flavor))
    if alert.summary:
        lines.append(_text(alert.summary[:500], flavor))
    return lines


def _runbook_lines(view: RunbookView, flavor: str) -> list[str]:
    lines = [f"Runbook ({view.how}): " + _link(view.url, view.title, flavor),
             _freshness_line(view, flavor)]
    if view.diagnostic:
        lines.append(_bold("First diagnostic steps", flavor))
        lines += [f"{i}. {_text(step, flavor)}" for i, step in enumerate(view.diagnostic, 1)]
    if view.escalation:
        lines.append(_bold("Escalate when", flavor))
        lines += [f"• {_text(step, flavor)}" for step in view.escalation]
    return lines


def _runbooks(alerts: Sequence[AlertView]) -> list[RunbookView]:
    seen: dict[str, RunbookView] = {}
    for a in alerts:
        if a.runbook is not None and a.runbook.id not in seen:
            seen[a.runbook.id] = a.runbook
    return list(seen.values())[:MAX_RUNBOOKS_SHOWN]


def _missing(alerts: Sequence[AlertView]) -> list[AlertView]:
    by_name: dict[str, AlertView] = {}
    for a in alerts:
        if a.runbook is None:
            by_name.setdefault(a.alertname, a)
    return list(by_name.values())[:MAX_RUNBOOKS_SHOWN]


def render_firing(alerts: Sequence[AlertView], team: Team | None, *, flavor: str,
                  update: bool = False, group_key: str = "") -> Message:
    """The post for a group that fires (``update``: its set of firing alerts changed)."""
    names = sorted({a.alertname for a in alerts})
    subject = ("Still firing, changed: " if update else "Firing: ") + ", ".join(names[:3])
    if len(names) > 3:
        subject += f" and {len(names) - 3} more"
    alert_parts = ["\n".join(_alert_lines(a, flavor)) for a in alerts[:MAX_ALERTS_SHOWN]]
    if len(alerts) > MAX_ALERTS_SHOWN:
        alert_parts.append(f"…and {len(alerts) - MAX_ALERTS_SHOWN} more alerts in this group")
    runbook_parts = ["\n".join(_runbook_lines(v, flavor)) for v in _runbooks(alerts)]
    missing_parts = [f"No runbook found for {_bold(_text(a.alertname, flavor), flavor)}: "
                     + _link(a.template_url, "start one from the prefilled template", flavor)
                     for a in _missing(alerts)]
    parts = [*alert_parts, *runbook_parts, *missing_parts]
    text = "\n\n".join(parts)
    links = [(v.title, v.url) for v in _runbooks(alerts)]
    links += [(f"{a.alertname} source", a.generator_url) for a in alerts[:2] if a.generator_url]
    links += [(f"New runbook for {a.alertname}", a.template_url) for a in _missing(alerts)]
    facts = [("Alerts firing", str(sum(a.status == "firing" for a in alerts)))]
    severities = sorted({a.severity for a in alerts if a.severity})
    if severities:
        facts.append(("Severity", ", ".join(severities)))
    if team is not None:
        facts.append(("Team", team.name))
    extra: dict[str, Any] = {"group_key": group_key}
    if flavor == "slack":
        extra["blocks"] = _blocks(subject, [*alert_parts, *runbook_parts, *missing_parts])
    return Message("incident", team.id if team else "", subject, text,
                   channel=team.channel if team else None, facts=tuple(facts),
                   links=tuple(links), extra=extra)


def render_resolved(alertnames: Iterable[str], minutes: int, team: Team | None, *, flavor: str,
                    group_key: str = "") -> Message:
    names = sorted(set(alertnames))
    subject = f"Resolved after {minutes} min: " + ", ".join(names[:3])
    if len(names) > 3:
        subject += f" and {len(names) - 3} more"
    text = f"✅ {_text(', '.join(names), flavor)} resolved after {minutes} min."
    extra: dict[str, Any] = {"group_key": group_key}
    if flavor == "slack":
        extra["blocks"] = _blocks(subject, [text])
    return Message("incident", team.id if team else "", subject, text,
                   channel=team.channel if team else None,
                   facts=(("Resolved after", f"{minutes} min"),), extra=extra)


def _blocks(subject: str, parts: Sequence[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": subject[:150]}}]
    for i, part in enumerate(parts):
        if i:
            blocks.append({"type": "divider"})
        # Block Kit caps a section's text at 3,000 characters.
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": part[:3000]}})
    return blocks[:50]  # and a message at 50 blocks


class SlackBlocksNotifier(SlackWebhookNotifier):
    """The Slack-compatible webhook notifier, with the post's Block Kit blocks when it has them
    (Mattermost and Rocket.Chat ignore ``blocks`` and show ``text``)."""

    def payload(self, message: Message) -> dict[str, Any]:
        body = super().payload(message)
        blocks = message.extra.get("blocks")
        if blocks:
            body["blocks"] = blocks
        return body


def message_json(message: Message) -> dict[str, Any]:
    """A ``Message`` as the outbox stores it (JSON)."""
    data = asdict(message)
    data["facts"] = [list(f) for f in message.facts]
    data["links"] = [list(link) for link in message.links]
    return data


def message_from_json(data: Mapping[str, Any]) -> Message:
    return Message(
        kind=str(data.get("kind", "incident")), recipient=str(data.get("recipient", "")),
        subject=str(data.get("subject", "")), text=str(data.get("text", "")),
        email=data.get("email"), channel=data.get("channel"),
        facts=tuple((str(k), str(v)) for k, v in data.get("facts") or ()),
        links=tuple((str(t), str(u)) for t, u in data.get("links") or ()),
        extra=dict(data.get("extra") or {}))


# -- the outbox sender ---------------------------------------------------------------------------
class OutboxSender:
    """Delivers ``incident_posts`` rows: claims the due ones (a lease, so two replicas never send
    the same row), sends each through its notifier, marks it sent or reschedules it with a
    doubling pause. A post whose channel is down stays pending until it goes through.

        >>> sender = OutboxSender(sessions, {"slack": SlackBlocksNotifier(url)})
        >>> sender.start(); sender.wake(); sender.stop()
    """

    def __init__(self, sessions: sessionmaker[Session], notifiers: Mapping[str, Notifier], *,
                 retries: int = 3, backoff_s: float = 0.5, max_backoff_s: float = 300.0,
                 lease_s: float = 60.0, batch: int = 50, poll_s: float = 5.0,
                 clock: Callable[[], dt.datetime] = utcnow,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.sessions = sessions
        self.notifiers = dict(notifiers)
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.lease = dt.timedelta(seconds=lease_s)
        self.batch, self.poll_s, self.clock = batch, poll_s, clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sleep: Callable[[float], None] = sleep if sleep is not None else self._pause
        self._thread: threading.Thread | None = None
        self._full = False

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)  # a retry pause that ends at once on shutdown

    def _claim(self) -> list[ChannelPostRow]:
        now = self.clock()
        with self.sessions.begin() as session:
            rows = list(session.scalars(
                select(ChannelPostRow)
                .where(ChannelPostRow.status == "pending", ChannelPostRow.next_attempt_at <= now,
                       or_(ChannelPostRow.claimed_until.is_(None),
                           ChannelPostRow.claimed_until < now))
                .order_by(ChannelPostRow.id).limit(self.batch)
                .with_for_update(skip_locked=True)))  # PostgreSQL; SQLite writes one at a time
            for row in rows:
                row.claimed_until = now + self.lease
            return rows

    def send_due(self) -> int:
        """One pass: every due post sent or rescheduled. Returns how many were sent."""
        sent = 0
        rows = self._claim()
        self._full = len(rows) >= self.batch
        for row in rows:
            notifier = self.notifiers.get(row.notifier)
            error: str | None
            if notifier is None:
                ok, attempts, error = False, 1, f"no {row.notifier} webhook is configured"
            else:
                result = deliver(notifier, message_from_json(row.message), self.retries,
                                 self.backoff_s, sleep=self._sleep)
                ok, attempts, error = result.ok, result.attempts, result.error
            self._finish(row.id, ok, attempts, error)
            sent += ok
        return sent

    def _finish(self, row_id: int, ok: bool, attempts: int, error: str | None) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            row = session.get(ChannelPostRow, row_id)
            if row is None:
                return
            row.attempts += attempts
            row.claimed_until = None
            if ok:
                row.status, row.sent_at, row.error = "sent", now, None
                log.info("channel post %d (%s, %s) sent to %s %s after %d attempt(s)", row.id,
                         row.kind, row.key_hash[:12], row.notifier, row.channel or "-",
                         row.attempts)
                return
            passes = max(1, row.attempts // max(1, self.retries))
            pause = min(self.max_backoff_s, self.backoff_s * 2 ** passes)
            row.error = (error or "failed")[:2000]
            row.next_attempt_at = now + dt.timedelta(seconds=pause)
            log.warning("channel post %d (%s) to %s %s failed (%d attempt(s)): %s; "
                        "next try in %.1f s", row.id, row.kind, row.notifier, row.channel or "-",
                        row.attempts, row.error, pause)

    def next_due(self) -> dt.datetime | None:
        with self.sessions() as session:
            return session.scalar(
                select(ChannelPostRow.next_attempt_at).where(ChannelPostRow.status == "pending")
                .order_by(ChannelPostRow.next_attempt_at).limit(1))

    # -- the background thread --------------------------------------------------------------
    def wake(self) -> None:
        """A post was just written: send it now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fieldguide-channel-posts",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for notifier in self.notifiers.values():
            close = getattr(notifier, "close", None)
            if close is not None:
                close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.send_due()
                due = self.next_due()
            except Exception:  # the database is away: keep the thread, try again later
                log.exception("channel post sender pass failed")
                due = None
            wait = self.poll_s
            if due is not None:
                if due.tzinfo is None:  # SQLite gives naive times back
                    due = due.replace(tzinfo=dt.UTC)
                # At least a moment: a due row claimed by another replica is not ours to spin on.
                wait = max(0.05, min(wait, (due - self.clock()).total_seconds()))
            if not self._full:
                self._wake.wait(wait)
