"""``POST /api/chat`` and the conversation's feedback, opened sources and escalation routes.

The chatbot itself lives in ``chatbot/`` (no HTTP there); this module validates input, applies
the access rule (anonymous callers only ever get end-user articles) and maps errors.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.access import AdminDep, CallerDep, RateLimitDep
from app.deps import ServicesDep, SettingsDep
from app.errors import ApiError
from app.links import article_link
from app.openapi import NOT_BLANK
from app.schemas import (
    ChatTurnPublic,
    EscalationPublic,
    FeedbackPublic,
    RecordedPublic,
    TicketListPublic,
    TicketPublic,
    TicketRetryPublic,
    chat_turn_json,
)
from chatbot.engine import clean_message
from chatbot.handoff import NO_SINK_HELP
from chatbot.service import (
    ChatService,
    NotShownError,
    Requester,
    Turn,
    TurnAbandoned,
    UnknownSessionError,
)

log = logging.getLogger("fieldguide.chat")
router = APIRouter(tags=["chat"])

MAX_BODY_TEXT = 100_000  # absolute cap on any text field, before the configurable limits


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(None, max_length=64)
    message: str = Field(..., max_length=MAX_BODY_TEXT * 2, json_schema_extra=NOT_BLANK)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    helpful: bool
    comment: str | None = Field(None, max_length=4000)
    article_id: str | None = Field(None, max_length=512)


class EscalateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(None, max_length=8000,
                                    description="What the user already tried.")
    contact: str | None = Field(None, max_length=320)


class OpenedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    article_id: str = Field(..., min_length=1, max_length=512)


async def get_chat(services: ServicesDep) -> ChatService:
    return services.chat


ChatDep = Annotated[ChatService, Depends(get_chat)]


def _unknown(session_id: str) -> ApiError:
    return ApiError("not_found", f"no conversation {session_id[:64]!r}")


@router.post("/api/chat", response_model=ChatTurnPublic, response_model_exclude_unset=True,
             responses={503: {"description": "database_unavailable or unavailable (the turn "
                                             "timed out), with Retry-After; nothing stored"}})
async def chat(body: ChatIn, request: Request, caller: CallerDep, _limit: RateLimitDep,
               service: ChatDep, settings: SettingsDep) -> dict[str, Any]:
    limit = service.config.max_message_chars
    if len(body.message) > limit:
        raise ApiError("payload_too_large", f"the message is longer than {limit} characters; "
                       "describe the problem and paste only the error message")
    if not clean_message(body.message, limit).strip():  # nothing but spaces and controls
        raise ApiError("empty_query", "the message is empty")
    # A turn reads and writes the conversation in the database: it runs on the chat service's
    # own threads, so a database that does not answer never holds the web server's pool.
    budget = settings.chat_timeout_seconds
    abandoned = threading.Event()
    future = service.submit(body.session_id, body.message, engineer=caller.engineer,
                            client=caller.client, abandoned=abandoned,
                            deadline=time.time() + budget, audiences=caller.audiences)
    try:
        turn = await _until_done(asyncio.wrap_future(future), request, abandoned,
                                 budget + COMMIT_GRACE)
    except UnknownSessionError:
        raise _unknown(body.session_id or "") from None
    except TurnAbandoned:
        raise ApiError("unavailable", "the answer took too long and was dropped; retry",
                       {"Retry-After": "5"}) from None
    return chat_turn_json(turn, lambda article_id: article_link(request, article_id))


# A turn whose commit reached the database just before its deadline still gets its answer.
COMMIT_GRACE = 1.0


async def _until_done(work: asyncio.Future[Turn], request: Request, abandoned: threading.Event,
                      budget: float) -> Turn:
    """The turn's result; abandons it (it will not be committed) when the client leaves or the
    budget runs out."""
    loop = asyncio.get_running_loop()
    end = loop.time() + budget
    while True:
        done, _ = await asyncio.wait({work}, timeout=min(0.25, max(0.0, end - loop.time())))
        if done:
            return work.result()
        if await request.is_disconnected():
            abandoned.set()
            log.info("chat turn abandoned: the client went away")
            raise TurnAbandoned("the client went away")
        if loop.time() >= end:
            abandoned.set()
            log.warning("chat turn abandoned after %.1f s", budget)
            raise TurnAbandoned("timed out")


@router.post("/api/chat/{session_id}/feedback", response_model=FeedbackPublic,
             responses={409: {"description": "article_not_shown: the "
                                             "article was not shown in this conversation"}})
def feedback(session_id: str, body: FeedbackIn, service: ChatDep) -> FeedbackPublic:
    try:
        return FeedbackPublic.of(service.feedback(session_id, body.helpful, body.comment,
                                                  body.article_id))
    except UnknownSessionError:
        raise _unknown(session_id) from None
    except NotShownError:
        raise ApiError("article_not_shown", "article_id must be one of the articles this "
                       "conversation showed") from None


@router.post("/api/chat/{session_id}/opened", response_model=RecordedPublic)
def opened(session_id: str, body: OpenedIn, service: ChatDep) -> dict[str, Any]:
    try:
        service.opened(session_id, body.article_id)
    except UnknownSessionError:
        raise _unknown(session_id) from None
    return {"session_id": session_id, "recorded": True}


@router.post("/api/chat/{session_id}/escalate", response_model=EscalationPublic)
def escalate(session_id: str, body: EscalateIn, caller: CallerDep, _limit: RateLimitDep,
             service: ChatDep) -> EscalationPublic:
    person = caller.person
    requester = (Requester(person.name, person.email, person.role.value)
                 if person is not None else None)
    try:
        return EscalationPublic.of(service.escalate(session_id, body.description, body.contact,
                                                    requester))
    except UnknownSessionError:
        raise _unknown(session_id) from None


@router.get("/api/chat/tickets", response_model=TicketListPublic)
def tickets(_admin: AdminDep, service: ChatDep,
            status: Annotated[str | None, Query(pattern="^(pending|stored|delivered|failed)$")] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> TicketListPublic:
    items = [TicketPublic.of(t) for t in service.tickets(status, limit)]
    sink = service.sink.name if service.sink else "none"
    return TicketListPublic(tickets=items, count=len(items), sink=sink,
                            configure=None if service.sink else NO_SINK_HELP)


@router.post("/api/chat/tickets/{reference}/retry", response_model=TicketRetryPublic)
def retry(reference: str, _admin: AdminDep, service: ChatDep) -> TicketRetryPublic:
    try:
        return TicketRetryPublic.of_retry(service.retry_ticket(reference))
    except UnknownSessionError:
        raise ApiError("not_found", f"no ticket {reference[:64]!r}") from None
