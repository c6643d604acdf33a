"""Deflection metrics: outcome rates, per-article helpfulness, the content backlog, per period."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.models import (
    ChatFeedbackRow,
    ChatOpenRow,
    ChatOutcomeRow,
    ChatSessionRow,
    ChatTicketRow,
    ChatTurnRow,
)

OUTCOMES = ("confirmed_deflection", "potential_deflection", "escalated", "unanswered",
            "abandoned")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _rates(counts: Counter[str], conversations: int, first_contact: int = 0) -> dict[str, Any]:
    """``first_contact``: how many of the closed conversations were resolved at the first contact."""
    closed = sum(counts[o] for o in OUTCOMES)
    out: dict[str, Any] = {"conversations": conversations, "closed": closed,
                           "open": conversations - closed,
                           "outcomes": {o: counts[o] for o in OUTCOMES}}

    def rate(name: str) -> float | None:
        return round(counts[name] / closed, 4) if closed else None

    # Rates over closed conversations; confirmed and potential are never added together.
    out["confirmed_deflection_rate"] = rate("confirmed_deflection")
    out["potential_deflection_rate"] = rate("potential_deflection")
    out["escalation_rate"] = rate("escalated")
    out["unanswered_rate"] = rate("unanswered")
    out["abandoned_rate"] = rate("abandoned")
    # A subset of the confirmed deflections (never added to the potential ones): see
    # ``first_contact``.
    out["first_contact_resolved"] = first_contact
    out["first_contact_resolution_rate"] = round(first_contact / closed, 4) if closed else None
    return out


def first_contact(convs: list[ChatSessionRow], turns: list[ChatTurnRow],
                  reopened_at: dict[str, list[dt.datetime]], handed_off: set[str]) -> set[str]:
    """The conversations resolved at the first contact: the person said an answer helped
    (``confirmed_deflection``), nobody was handed the conversation (no ticket), and the person
    did not come back with a new message after the conversation had been closed (a
    superseded outcome followed by a turn). A late "it helped" on a closed conversation
    reopens it too, but is no second contact, so only messages count."""
    last_turn: dict[str, dt.datetime] = {}
    for t in turns:
        at = _aware(t.at)
        if t.session_id not in last_turn or at > last_turn[t.session_id]:
            last_turn[t.session_id] = at
    out = set()
    for s in convs:
        if s.outcome != "confirmed_deflection" or s.id in handed_off:
            continue
        last = last_turn.get(s.id)
        # A conversation closes only after its idle timeout: a turn at its closing time or
        # later came after it closed.
        if last is not None and any(last >= closed for closed in reopened_at.get(s.id, ())):
            continue
        out.add(s.id)
    return out


def _top(counter: Counter[str], n: int) -> list[dict[str, Any]]:
    return [{"question": q, "count": c} for q, c in counter.most_common(n)]


def deflection_metrics(db: Session, now: dt.datetime, days: int = 30,
                       window: dt.timedelta = dt.timedelta(hours=24),
                       top: int = 10) -> dict[str, Any]:
    """Everything ``GET /api/metrics/deflection`` reports, over the last ``days`` days."""
    since = now - dt.timedelta(days=days)
    sessions = list(db.scalars(select(ChatSessionRow).where(ChatSessionRow.created_at >= since)))
    ids = {s.id for s in sessions}
    turns = [t for t in db.scalars(select(ChatTurnRow).where(ChatTurnRow.at >= since))
             if t.session_id in ids]
    feedback = [f for f in db.scalars(select(ChatFeedbackRow).where(ChatFeedbackRow.at >= since))
                if f.session_id in ids]
    tickets = [t for t in db.scalars(select(ChatTicketRow)) if t.session_id in ids]
    opens = [o for o in db.scalars(select(ChatOpenRow).where(ChatOpenRow.at >= since))
             if o.session_id in ids]
    with_turns = {t.session_id for t in turns}
    convs = [s for s in sessions if s.id in with_turns]
    reopened_at: dict[str, list[dt.datetime]] = defaultdict(list)
    for o in db.scalars(select(ChatOutcomeRow).where(ChatOutcomeRow.superseded.is_(True),
                                                     ChatOutcomeRow.at >= since)):
        if o.session_id in ids:
            reopened_at[o.session_id].append(_aware(o.at))
    fcr = first_contact(convs, turns, reopened_at, {t.session_id for t in tickets})

    def rates(rows: list[ChatSessionRow]) -> dict[str, Any]:
        return _rates(Counter(s.outcome for s in rows if s.outcome), len(rows),
                      sum(1 for s in rows if s.id in fcr))

    overall = rates(convs)
    per_day: dict[str, list[ChatSessionRow]] = defaultdict(list)
    per_week: dict[str, list[ChatSessionRow]] = defaultdict(list)
    for s in convs:
        day = _aware(s.created_at).date()
        per_day[day.isoformat()].append(s)
        year, week, _ = day.isocalendar()
        per_week[f"{year}-W{week:02d}"].append(s)

    def period(groups: dict[str, list[ChatSessionRow]]) -> list[dict[str, Any]]:
        return [{"period": key, **rates(rows)} for key, rows in sorted(groups.items())]

    articles: dict[str, dict[str, Any]] = {}
    for t in turns:
        if t.kind == "answer":
            for src in t.sources:
                a = articles.setdefault(src["id"], {"id": src["id"], "title": src["title"],
                                                    "shown": 0, "helpful": 0, "not_helpful": 0})
                a["shown"] += 1
    for f in feedback:
        if f.article_id:
            a = articles.setdefault(f.article_id, {"id": f.article_id, "title": f.article_id,
                                                   "shown": 0, "helpful": 0, "not_helpful": 0})
            a["helpful" if f.helpful else "not_helpful"] += 1
    for a in articles.values():
        rated = a["helpful"] + a["not_helpful"]
        a["helpfulness"] = round(a["helpful"] / rated, 4) if rated else None

    unanswered: Counter[str] = Counter()
    for t in turns:
        if t.kind == "fallback" and t.intent == "question":
            unanswered[t.message.strip().lower()[:300]] += 1
    escalated_ids = {t.session_id for t in tickets}
    escalated: Counter[str] = Counter()
    for t in turns:
        if t.session_id in escalated_ids and t.intent == "question":
            escalated[t.message.strip().lower()[:300]] += 1

    # The knowledge-base side: an article seen in the chat (shown or opened) that was not
    # followed by an escalation of that conversation within the window.
    ticket_at = {t.session_id: _aware(t.created_at) for t in tickets}
    views: list[tuple[str, str, dt.datetime]] = [
        (t.session_id, s["id"], _aware(t.at)) for t in turns if t.kind == "answer"
        for s in t.sources]
    views += [(o.session_id, o.article_id, _aware(o.at)) for o in opens]
    kb: dict[str, dict[str, int]] = defaultdict(lambda: {"views": 0, "not_escalated": 0,
                                                         "escalated": 0, "pending": 0})
    for session_id, article_id, at in views:
        entry = kb[article_id]
        entry["views"] += 1
        escalated_at = ticket_at.get(session_id)
        if escalated_at is not None and at <= escalated_at <= at + window:
            entry["escalated"] += 1
        elif at + window <= now:
            entry["not_escalated"] += 1
        else:
            entry["pending"] += 1  # the window is still open

    return {
        "since": since.isoformat(), "until": now.isoformat(), "days": days,
        "window_hours": window.total_seconds() / 3600,
        **overall,
        "per_day": period(per_day),
        "per_week": period(per_week),
        "articles": sorted(articles.values(), key=lambda a: (-a["shown"], a["id"])),
        "top_unanswered": _top(unanswered, top),
        "top_escalated": _top(escalated, top),
        "article_views": [{"id": k, **v} for k, v in sorted(kb.items())],
        "tickets_failed": sum(1 for t in tickets if t.status == "failed"),
    }
