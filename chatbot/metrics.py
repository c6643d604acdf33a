"""Deflection metrics: outcome rates, per-article helpfulness, the content backlog, per period."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.models import ChatFeedbackRow, ChatOpenRow, ChatSessionRow, ChatTicketRow, ChatTurnRow

OUTCOMES = ("confirmed_deflection", "potential_deflection", "escalated", "unanswered",
            "abandoned")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _rates(counts: Counter[str], conversations: int) -> dict[str, Any]:
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

    overall = _rates(Counter(s.outcome for s in convs if s.outcome), len(convs))
    per_day: dict[str, list[ChatSessionRow]] = defaultdict(list)
    per_week: dict[str, list[ChatSessionRow]] = defaultdict(list)
    for s in convs:
        day = _aware(s.created_at).date()
        per_day[day.isoformat()].append(s)
        year, week, _ = day.isocalendar()
        per_week[f"{year}-W{week:02d}"].append(s)

    def period(groups: dict[str, list[ChatSessionRow]]) -> list[dict[str, Any]]:
        return [{"period": key, **_rates(Counter(s.outcome for s in rows if s.outcome),
                                         len(rows))}
                for key, rows in sorted(groups.items())]

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
