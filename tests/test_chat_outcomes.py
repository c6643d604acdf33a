"""Conversations in the database: every outcome, the 24 h window, reopening, metrics.

Runs on SQLite and PostgreSQL (``db_url``), schema by Alembic ``upgrade head``, with an
injected clock.

1. confirmed_deflection: said it helped and did not escalate.
2. potential_deflection: answer shown, no feedback; only after the whole window (24 h).
3. escalated; unanswered (only fallbacks); abandoned (only smalltalk).
4. Returning after a potential deflection reopens the conversation.
5. The deflection metrics report confirmed and potential rates separately.
6. First-contact resolution counts the confirmed conversations that needed no hand-off and no
   second contact: coming back with a new message after the conversation closed (even to say
   it helped in the end) is a second contact; a late "it helped" alone is not. It sits beside
   the escalation rate, per week too, and is never added to the potential deflections.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, session_factory, upgrade
from chatbot.engine import ChatEngine
from chatbot.metrics import deflection_metrics
from chatbot.models import ChatOutcomeRow, ChatSessionRow
from chatbot.service import ChatService, UnknownSessionError

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(chat_engine: ChatEngine, sessions: sessionmaker[Session], clock: Clock
            ) -> ChatService:
    return ChatService(chat_engine, sessions, clock=clock)


def outcome(service: ChatService, session_id: str) -> str | None:
    with service.sessions() as db:
        row = db.get(ChatSessionRow, session_id)
        assert row is not None
        return row.outcome


def test_confirmed_deflection(service: ChatService, clock: Clock) -> None:
    sid = service.chat(None, "printer shows offline").session_id
    service.feedback(sid, helpful=True)
    clock.advance(minutes=31)
    assert service.sweep()["confirmed_deflection"] == 1
    assert outcome(service, sid) == "confirmed_deflection"


def test_potential_deflection_only_after_the_whole_window(service: ChatService,
                                                         clock: Clock) -> None:
    sid = service.chat(None, "printer shows offline").session_id
    clock.advance(hours=2)
    assert sum(service.sweep().values()) == 0  # idle, but the 24 h window is still open
    assert outcome(service, sid) is None
    clock.advance(hours=21, minutes=59)
    service.sweep()
    assert outcome(service, sid) is None
    clock.advance(minutes=2)  # 24 h and 1 min after the answer
    assert service.sweep()["potential_deflection"] == 1
    assert outcome(service, sid) == "potential_deflection"


def test_returning_after_potential_deflection_reopens(service: ChatService,
                                                      clock: Clock) -> None:
    sid = service.chat(None, "printer shows offline").session_id
    clock.advance(hours=25)
    service.sweep()
    assert outcome(service, sid) == "potential_deflection"
    service.chat(sid, "it is offline again")
    assert outcome(service, sid) is None
    with service.sessions() as db:
        history = db.query(ChatOutcomeRow).filter_by(session_id=sid).all()
        assert [(h.outcome, h.superseded) for h in history] == [("potential_deflection", True)]
    service.escalate(sid, "restarted it twice")
    assert outcome(service, sid) == "escalated"


def test_escalated(service: ChatService, clock: Clock) -> None:
    sid = service.chat(None, "printer shows offline").session_id
    service.feedback(sid, helpful=False)
    result = service.escalate(sid, description="turned it off and on", contact="ana@example.com")
    assert result.ticket.startswith("FG-")
    assert result.status == "stored"  # no sink configured: kept, visible, not lost
    assert outcome(service, sid) == "escalated"
    clock.advance(days=3)
    service.sweep()
    assert outcome(service, sid) == "escalated"
    assert [t.reference for t in service.tickets()] == [result.ticket]
    # The row says what the reply said (it was left "pending" with no sink to send it).
    assert service.ticket(result.ticket).status == "stored"
    assert [t.reference for t in service.tickets("stored")] == [result.ticket]


def test_escalating_twice_opens_one_ticket(service: ChatService) -> None:
    sid = service.chat(None, "printer shows offline").session_id
    first = service.escalate(sid, description="turned it off and on")
    again = service.escalate(sid, description="please hurry")
    assert again.ticket == first.ticket and again.attempts == 0
    assert len(service.tickets()) == 1


def test_unanswered_and_abandoned(service: ChatService, clock: Clock) -> None:
    unanswered = service.chat(None, "how do I bake sourdough bread").session_id
    service.chat(unanswered, "what is the best pizza dough recipe")
    abandoned = service.chat(None, "hello").session_id
    service.chat(abandoned, "are you a bot?")
    clock.advance(minutes=45)
    closed = service.sweep()
    assert closed["unanswered"] == 1 and closed["abandoned"] == 1
    assert outcome(service, unanswered) == "unanswered"
    assert outcome(service, abandoned) == "abandoned"


def test_unknown_session(service: ChatService) -> None:
    with pytest.raises(UnknownSessionError):
        service.chat("0" * 32, "printer offline")
    with pytest.raises(UnknownSessionError):
        service.feedback("nope", helpful=True)


def test_metrics_keep_confirmed_and_potential_apart(service: ChatService, clock: Clock) -> None:
    confirmed = service.chat(None, "printer shows offline").session_id
    service.feedback(confirmed, helpful=True)
    service.chat(None, "my vpn keeps disconnecting")  # becomes potential
    service.chat(None, "how do I bake sourdough bread")  # unanswered
    clock.advance(hours=25)
    service.sweep()
    with service.sessions() as db:
        m = deflection_metrics(db, clock(), days=7)
    assert m["conversations"] == 3 and m["closed"] == 3
    assert m["outcomes"]["confirmed_deflection"] == 1
    assert m["outcomes"]["potential_deflection"] == 1
    assert m["confirmed_deflection_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["potential_deflection_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["unanswered_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["top_unanswered"][0]["question"] == "how do i bake sourdough bread"
    printer = next(a for a in m["articles"] if a["id"] == "printer-offline")
    assert printer["helpful"] == 1 and printer["helpfulness"] == 1.0
    assert m["per_day"][0]["period"] == "2026-03-02"
    assert m["per_week"][0]["period"] == "2026-W10"
    views = {v["id"]: v for v in m["article_views"]}
    assert views["printer-offline"]["not_escalated"] == 1


def test_first_contact_resolution_beside_escalation(service: ChatService, clock: Clock) -> None:
    first = service.chat(None, "printer shows offline").session_id
    service.feedback(first, helpful=True)  # resolved at the first contact
    late = service.chat(None, "printer shows offline").session_id  # closes, then "it helped"
    came_back = service.chat(None, "my vpn keeps disconnecting").session_id
    escalated = service.chat(None, "printer shows offline").session_id
    service.escalate(escalated, description="restarted it")
    potential = service.chat(None, "my vpn keeps disconnecting").session_id
    clock.advance(hours=25)
    service.sweep()
    assert outcome(service, late) == "potential_deflection"
    assert outcome(service, potential) == "potential_deflection"
    service.feedback(late, helpful=True)  # reopens it: a late verdict, no second contact
    service.chat(came_back, "it still drops every hour")  # a second contact
    service.feedback(came_back, helpful=True)
    clock.advance(minutes=31)
    service.sweep()
    assert outcome(service, late) == outcome(service, came_back) == "confirmed_deflection"
    with service.sessions() as db:
        m = deflection_metrics(db, clock(), days=7)
    assert m["closed"] == 5
    assert m["outcomes"]["confirmed_deflection"] == 3
    assert m["first_contact_resolved"] == 2  # first and late; came_back needed two contacts
    assert m["first_contact_resolution_rate"] == pytest.approx(2 / 5, abs=1e-4)
    assert m["escalation_rate"] == pytest.approx(1 / 5, abs=1e-4)
    assert m["potential_deflection_rate"] == pytest.approx(1 / 5, abs=1e-4)
    week = m["per_week"][0]
    assert week["first_contact_resolved"] == 2 and week["escalation_rate"] == m["escalation_rate"]
    assert potential not in (first, late)
