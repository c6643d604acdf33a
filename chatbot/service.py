"""Conversations in the database: turns, feedback, opened sources, escalations and outcomes.

    >>> service = ChatService(engine, sessions, sink=WebhookSink(url))
    >>> turn = service.chat(None, "vpn keeps disconnecting")     # a new conversation
    >>> service.feedback(turn.session_id, helpful=True)
    >>> service.sweep()                                          # closes idle conversations

Outcomes (exactly one per closed conversation): ``confirmed_deflection`` (said it helped, did
not escalate), ``potential_deflection`` (an answer was shown, no feedback, no return and no
escalation within ``potential_window``), ``escalated``, ``unanswered`` (questions asked but no
answer that helped: only fallbacks/clarifications, or answers marked unhelpful) and
``abandoned`` (nothing but smalltalk). A message to a closed conversation reopens it.

Every call returns a typed value (``Turn``, ``FeedbackResult``, ``Escalation``, ``Ticket``,
``Retried``); the HTTP layer maps them to its response models (``app/schemas.py``).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chatbot.config import ChatConfig
from chatbot.engine import ChatEngine, ConversationState, Reply, ReplyKind, clean_message
from chatbot.handoff import DeliveryResult, RetryPolicy, TicketSink, clean_description, deliver
from chatbot.models import (
    ChatFeedbackRow,
    ChatOpenRow,
    ChatOutcomeRow,
    ChatSessionRow,
    ChatTicketRow,
    ChatTurnRow,
)
from indexer.article import STAFF, Audience

IN_FLIGHT = "a delivery of this ticket is under way"
OUTCOMES = ("confirmed_deflection", "potential_deflection", "escalated", "unanswered",
            "abandoned")
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Requester:
    """The signed-in person who asked for the hand-off (verified by the service, not typed)."""

    name: str
    email: str | None
    role: str

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "email": self.email, "role": self.role}


class UnknownSessionError(LookupError):
    """No conversation with that id."""


class NotShownError(ValueError):
    """Feedback about an article the conversation never showed."""


class TurnAbandoned(Exception):
    """The request the turn worked for was given up (the client left, or its time ran out):
    the turn is not committed."""


# commit(session, abandoned, deadline): commits unless ``abandoned`` is set or, where the
# database can tell, unless the commit reaches it after ``deadline`` (a ``time.time()``);
# raises otherwise. The app injects one that makes PostgreSQL itself check the deadline.
Commit = Callable[[Session, threading.Event, "float | None"], None]


def plain_commit(session: Session, abandoned: threading.Event, _deadline: float | None) -> None:
    if abandoned.is_set():
        raise TurnAbandoned("the request was abandoned before its commit")
    session.commit()


@dataclass(frozen=True)
class Turn:
    """One answered message: the conversation it belongs to (new or continued) and the reply."""

    session_id: str
    reply: Reply


@dataclass(frozen=True)
class FeedbackResult:
    session_id: str
    article_id: str | None  # the article the verdict is about (the last answer's, by default)
    suggest_handoff: bool  # twice "did not help": offer a person


@dataclass(frozen=True)
class Escalation:
    """A hand-off: the ticket's reference and what happened to its first delivery."""

    ticket: str
    status: str  # delivered | stored (no ticket system configured) | failed
    attempts: int
    session_id: str


@dataclass(frozen=True)
class Ticket:
    reference: str
    session_id: str
    created_at: dt.datetime
    sink: str  # the ticket system's name, "none" without one
    status: str  # pending | delivered | failed
    attempts: int
    last_error: str | None
    delivered_at: dt.datetime | None
    description: str | None
    contact: str | None

    @classmethod
    def from_row(cls, t: ChatTicketRow) -> Ticket:
        return cls(t.reference, t.session_id, _aware(t.created_at), t.sink, t.status, t.attempts,
                   t.last_error, _aware(t.delivered_at) if t.delivered_at else None,
                   t.description, t.contact)


@dataclass(frozen=True)
class Retried:
    ticket: Ticket  # as it stands after the new attempts
    attempts: int  # made by this retry


class ChatService:
    """The chatbot with memory. Thread-safe: every call opens its own database session."""

    def __init__(self, engine: ChatEngine, sessions: sessionmaker[Session],
                 sink: TicketSink | None = None, retry: RetryPolicy | None = None,
                 clock: Clock | None = None,
                 sleep: Callable[[float], None] | None = None,
                 commit: Commit = plain_commit, turn_threads: int = 8,
                 delivery_wait: float = 5.0) -> None:
        self.engine = engine
        self.sessions = sessions
        self._commit = commit
        # Turns wait on the database: on their own threads (created on first use), so a frozen
        # database holds at most these, never the web server's pool.
        self._turns = ThreadPoolExecutor(turn_threads, thread_name_prefix="fieldguide-chat")
        # Deliveries too: an escalation waits for the ticket system at most ``delivery_wait``
        # seconds (a hung webhook held each one 33 s); a slower delivery goes on here, with
        # its retries, and the reply says "queued".
        self.delivery_wait = delivery_wait
        self._deliveries = ThreadPoolExecutor(2, thread_name_prefix="fieldguide-tickets")
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()
        self.sink = sink
        self.retry = retry or RetryPolicy()
        self.clock = clock or engine.clock
        self._sleep = sleep

    @property
    def config(self) -> ChatConfig:
        return self.engine.config

    def now(self) -> dt.datetime:
        return _aware(self.clock())

    # -- turns -----------------------------------------------------------------------------
    def submit(self, session_id: str | None, message: str, engineer: bool = False,
               client: str = "", abandoned: threading.Event | None = None,
               deadline: float | None = None,
               audiences: frozenset[Audience] | None = None) -> Future[Turn]:
        """``chat`` on the service's own turn threads."""
        return self._turns.submit(self.chat, session_id, message, engineer, client, abandoned,
                                  deadline, audiences)

    def close(self) -> None:
        self._turns.shutdown(wait=False, cancel_futures=True)
        self._deliveries.shutdown(wait=False)

    def chat(self, session_id: str | None, message: str, engineer: bool = False,
             client: str = "", abandoned: threading.Event | None = None,
             deadline: float | None = None,
             audiences: frozenset[Audience] | None = None) -> Turn:
        """Answer ``message`` and store the turn, unless ``abandoned`` is set before the commit
        or the commit would land after ``deadline``: then ``TurnAbandoned``, nothing stored.

        ``audiences``: what the caller reads (default: an engineer's, or end-user articles)."""
        abandoned = abandoned or threading.Event()
        if abandoned.is_set():  # waited in the queue past its request's life
            raise TurnAbandoned("the request was abandoned before the turn started")
        now = self.now()
        if audiences is None:
            audiences = STAFF if engineer else frozenset({Audience.END_USER})
        # "engineer" on the conversation: it started with more than end-user access.
        engineer = engineer or bool(audiences - {Audience.END_USER})
        with self.sessions() as db:
            row = self._session(db, session_id) if session_id else None
            if row is None:
                if session_id:
                    raise UnknownSessionError(session_id)
                row = ChatSessionRow(id=uuid.uuid4().hex, created_at=now, last_activity=now,
                                     engineer=engineer, client=client[:64], state={},
                                     closed=False)
                db.add(row)
                db.flush()
            elif row.closed and row.outcome != "escalated":
                self._reopen(db, row)
            # A conversation started anonymously stays so: a key added later does not widen it;
            # otherwise each turn reads what its own caller may (never more).
            if not row.engineer:
                audiences = frozenset({Audience.END_USER})
            state = ConversationState.from_dict(row.state)
            reply = self.engine.reply(message, state, audiences)
            seq = self._count_turns(db, row.id)
            db.add(ChatTurnRow(session_id=row.id, seq=seq + 1, at=now,
                               message=clean_message(message, self.config.max_message_chars),
                               kind=reply.kind.value, intent=reply.intent, text=reply.text,
                               sources=[s.to_dict() for s in reply.sources],
                               confidence=reply.confidence))
            row.state = state.to_dict()
            row.last_activity = now
            turn = Turn(row.id, reply)
            self._commit(db, abandoned, deadline)
            return turn

    def feedback(self, session_id: str, helpful: bool, comment: str | None = None,
                 article_id: str | None = None) -> FeedbackResult:
        now = self.now()
        with self.sessions.begin() as db:
            row = self._require(db, session_id)
            turn = db.scalars(select(ChatTurnRow).where(
                ChatTurnRow.session_id == row.id, ChatTurnRow.kind == ReplyKind.ANSWER.value)
                .order_by(ChatTurnRow.seq.desc()).limit(1)).first()
            if article_id is None and turn is not None and turn.sources:
                article_id = turn.sources[0]["id"]
            elif article_id is not None and article_id not in self._shown(db, row.id):
                # A verdict about an article this conversation never showed would skew the
                # per-article helpfulness (and probe engineer articles' ids).
                raise NotShownError(article_id)
            db.add(ChatFeedbackRow(session_id=row.id, turn_id=turn.id if turn else None,
                                   article_id=article_id, helpful=helpful,
                                   comment=clean_message(comment, 2000) if comment else None,
                                   at=now))
            state = ConversationState.from_dict(row.state)
            state.negative = 0 if helpful else state.negative + 1
            row.state = state.to_dict()
            row.last_activity = now
            if row.closed and row.outcome != "escalated":
                self._reopen(db, row)
            handoff = not helpful and state.negative >= 2
        return FeedbackResult(session_id, article_id, handoff)

    def opened(self, session_id: str, article_id: str) -> None:
        with self.sessions.begin() as db:
            row = self._require(db, session_id)
            db.add(ChatOpenRow(session_id=row.id, article_id=article_id[:512], at=self.now()))

    # -- hand-off --------------------------------------------------------------------------
    def escalate(self, session_id: str, description: str | None = None,
                 contact: str | None = None, requester: Requester | None = None) -> Escalation:
        """Hand the conversation to a person. One ticket per conversation: asking again (a
        double click, a retried request) answers with the ticket already opened, and only
        tries its delivery again if it failed. ``requester``: who is signed in, when someone
        is (the packet's ``requester``; their email is the contact unless one is given)."""
        now = self.now()
        reference = "FG-" + secrets.token_hex(4).upper()
        with self.sessions.begin() as db:
            # The row lock makes two escalations at once open one ticket (PostgreSQL; SQLite
            # writes one transaction at a time anyway).
            row = self._require(db, session_id, lock=True)
            existing = db.scalars(select(ChatTicketRow).where(
                ChatTicketRow.session_id == row.id).order_by(ChatTicketRow.id)).first()
            if existing is None:
                if requester is not None and not contact:
                    contact = requester.email
                packet = self.packet(db, row, reference, description, contact)
                packet["requester"] = requester.to_dict() if requester is not None else None
                db.add(ChatTicketRow(reference=reference, session_id=row.id, created_at=now,
                                     sink=self.sink.name if self.sink else "none",
                                     status="pending" if self.sink else "stored", attempts=0,
                                     description=packet["description"],
                                     contact=packet["contact"], packet=packet))
                self._close(db, row, "escalated", now)
            else:
                reference = existing.reference
                if existing.status != "failed" or self.sink is None:
                    return Escalation(reference, existing.status, 0, session_id)
        # Delivered outside the transaction: the ticket is stored before the first attempt.
        delivery = self._deliveries.submit(self._deliver, reference)
        try:
            result = delivery.result(timeout=self.delivery_wait)
        except FutureTimeout:
            return Escalation(reference, "queued", 0, session_id)
        if result.error == IN_FLIGHT:
            return Escalation(reference, "queued", 0, session_id)
        status = "delivered" if result.delivered else ("stored" if self.sink is None else "failed")
        return Escalation(reference, status, result.attempts, session_id)

    def _deliver(self, reference: str) -> DeliveryResult:
        """One delivery (with its retries) of ``reference`` at a time; a second call while one
        runs does nothing, so a retry never sends a ticket twice."""
        with self._inflight_lock:
            if reference in self._inflight:
                return DeliveryResult(False, 0, IN_FLIGHT)
            self._inflight.add(reference)
        try:
            return self._deliver_once(reference)
        finally:
            with self._inflight_lock:
                self._inflight.discard(reference)

    def _deliver_once(self, reference: str) -> DeliveryResult:
        with self.sessions() as db:
            ticket = db.scalars(select(ChatTicketRow).where(
                ChatTicketRow.reference == reference)).one()
            packet = dict(ticket.packet)
            if ticket.status == "delivered":  # never sent twice
                return DeliveryResult(True, 0, None)
        if self.sink is None:
            return DeliveryResult(False, 0, "no ticket sink configured")
        kwargs = {"sleep": self._sleep} if self._sleep else {}
        result = deliver(self.sink, packet, self.retry, **kwargs)
        with self.sessions.begin() as db:
            ticket = db.scalars(select(ChatTicketRow).where(
                ChatTicketRow.reference == reference)).one()
            ticket.attempts += result.attempts
            ticket.status = "delivered" if result.delivered else "failed"
            ticket.last_error = result.error
            if result.delivered:
                ticket.delivered_at = self.now()
        return result

    def retry_ticket(self, reference: str) -> Retried:
        self.ticket(reference)  # UnknownSessionError (a 404) for a reference never issued
        delivery = self._deliveries.submit(self._deliver, reference)
        try:
            attempts = delivery.result(timeout=self.delivery_wait).attempts
        except FutureTimeout:
            attempts = 0  # still trying in the background; the row says how it ends
        return Retried(self.ticket(reference), attempts)

    def ticket(self, reference: str) -> Ticket:
        with self.sessions() as db:
            t = db.scalars(select(ChatTicketRow).where(
                ChatTicketRow.reference == reference)).first()
            if t is None:
                raise UnknownSessionError(reference)
            return Ticket.from_row(t)

    def tickets(self, status: str | None = None, limit: int = 100) -> list[Ticket]:
        with self.sessions() as db:
            q = select(ChatTicketRow).order_by(ChatTicketRow.id.desc()).limit(limit)
            if status:
                q = q.where(ChatTicketRow.status == status)
            return [Ticket.from_row(t) for t in db.scalars(q)]

    def packet(self, db: Session, row: ChatSessionRow, reference: str,
               description: str | None, contact: str | None) -> dict[str, Any]:
        """Everything the engineer needs so they never ask "what have you tried so far?"."""
        turns = list(db.scalars(select(ChatTurnRow).where(ChatTurnRow.session_id == row.id)
                                .order_by(ChatTurnRow.seq)))
        feedback = list(db.scalars(select(ChatFeedbackRow).where(
            ChatFeedbackRow.session_id == row.id).order_by(ChatFeedbackRow.id)))
        opened = {o.article_id for o in db.scalars(select(ChatOpenRow).where(
            ChatOpenRow.session_id == row.id))}
        verdict: dict[str, str] = {}
        for f in feedback:
            if f.article_id:
                verdict[f.article_id] = "helpful" if f.helpful else "not helpful"
        shown: dict[str, dict[str, Any]] = {}
        for t in turns:
            if t.kind == ReplyKind.ANSWER.value:
                for s in t.sources:
                    shown[s["id"]] = {**s, "confidence": t.confidence,
                                      "opened": s["id"] in opened,
                                      "feedback": verdict.get(s["id"])}
        questions = [t.message for t in turns
                     if t.intent in ("question", None) and t.kind != ReplyKind.SMALLTALK.value]
        return {
            "reference": reference,
            "session_id": row.id,
            "created_at": self.now().isoformat(),
            "contact": clean_message(contact, 320) if contact else None,
            "description": clean_description(description) if description else None,
            "questions": questions,
            "articles_shown": list(shown.values()),
            "articles_opened": sorted(opened),
            "feedback": [{"article_id": f.article_id, "helpful": f.helpful,
                          "comment": f.comment, "at": _aware(f.at).isoformat()}
                         for f in feedback],
            "answers": [{"question": t.message, "kind": t.kind, "confidence": t.confidence,
                         "sources": [s["id"] for s in t.sources]} for t in turns],
            "transcript": [{"at": _aware(t.at).isoformat(), "message": t.message,
                            "kind": t.kind, "text": t.text} for t in turns],
        }

    # -- outcomes --------------------------------------------------------------------------
    def sweep(self, now: dt.datetime | None = None) -> dict[str, int]:
        """Close idle conversations; returns how many closed per outcome."""
        now = _aware(now or self.now())
        idle_before = now - self.config.idle_timeout
        closed = dict.fromkeys(OUTCOMES, 0)
        with self.sessions.begin() as db:
            rows = db.scalars(select(ChatSessionRow).where(
                ChatSessionRow.closed.is_(False), ChatSessionRow.last_activity <= idle_before))
            for row in rows:
                outcome = self.classify(db, row, now)
                if outcome is not None:
                    self._close(db, row, outcome, now)
                    closed[outcome] += 1
        return closed

    def classify(self, db: Session, row: ChatSessionRow, now: dt.datetime) -> str | None:
        """The outcome of an idle conversation, or ``None`` while it must stay open."""
        if db.scalars(select(ChatTicketRow.id).where(ChatTicketRow.session_id == row.id)).first():
            return "escalated"
        kinds = [k for k in db.scalars(select(ChatTurnRow.kind).where(
            ChatTurnRow.session_id == row.id))]
        last = db.scalars(select(ChatFeedbackRow).where(ChatFeedbackRow.session_id == row.id)
                          .order_by(ChatFeedbackRow.id.desc()).limit(1)).first()
        if last is not None and last.helpful:
            return "confirmed_deflection"
        answered = ReplyKind.ANSWER.value in kinds
        if answered and last is None:
            # Only after the whole window: coming back or escalating within it changes the story.
            if _aware(row.last_activity) + self.config.potential_window <= now:
                return "potential_deflection"
            return None
        if any(k != ReplyKind.SMALLTALK.value for k in kinds):
            return "unanswered"
        return "abandoned"

    def _close(self, db: Session, row: ChatSessionRow, outcome: str, now: dt.datetime) -> None:
        row.closed = True
        row.outcome = outcome
        row.outcome_at = now
        db.add(ChatOutcomeRow(session_id=row.id, outcome=outcome, at=now, superseded=False))

    def _reopen(self, db: Session, row: ChatSessionRow) -> None:
        for o in db.scalars(select(ChatOutcomeRow).where(
                ChatOutcomeRow.session_id == row.id, ChatOutcomeRow.superseded.is_(False))):
            o.superseded = True
        row.closed = False
        row.outcome = None
        row.outcome_at = None

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _session(db: Session, session_id: str, lock: bool = False) -> ChatSessionRow | None:
        if not session_id or len(session_id) > 32:
            return None
        return db.get(ChatSessionRow, session_id, with_for_update=lock or None)

    def _require(self, db: Session, session_id: str, lock: bool = False) -> ChatSessionRow:
        row = self._session(db, session_id, lock)
        if row is None:
            raise UnknownSessionError(session_id)
        return row

    @staticmethod
    def _shown(db: Session, session_id: str) -> set[str]:
        """The ids of every article any reply of the conversation offered."""
        return {s["id"] for sources in db.scalars(select(ChatTurnRow.sources).where(
            ChatTurnRow.session_id == session_id)) for s in (sources or [])}

    @staticmethod
    def _count_turns(db: Session, session_id: str) -> int:
        return len(list(db.scalars(select(ChatTurnRow.id).where(
            ChatTurnRow.session_id == session_id))))


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
