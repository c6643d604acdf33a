"""``/kb`` from chat: ``POST /api/chatops/slack`` (slash command and its "Post to channel"
button) and ``POST /api/chatops/teams`` (outgoing webhook).

Each request is verified on its raw body first (Slack's signing secret with its 5-minute window,
Teams' HMAC), refused when the same signed request comes twice, then searched on the service's
pools within the workspace's audience (``FIELDGUIDE_SLACK_AUDIENCE`` / ``TEAMS_AUDIENCE``,
default end-user) and rendered by ``incidents.chatops``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import httpx
from fastapi import APIRouter, Request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.deps import ServicesDep
from app.errors import ApiError
from app.schemas import SlackReplyPublic, TeamsReplyPublic
from app.services import Services
from incidents.chatops import (
    POST_ACTION,
    TOP,
    KbAnswer,
    KbHit,
    parse_post_value,
    slack_post,
    slack_reply,
    teams_query,
    teams_reply,
)
from incidents.config import IncidentsConfig
from incidents.models import DeliveryRow
from incidents.signatures import SignatureError, verify_slack, verify_teams
from indexer.article import Audience
from indexer.search import SearchRequest

router = APIRouter(tags=["chatops"])
log = logging.getLogger("fieldguide.chatops")

MAX_BODY_BYTES = 64 * 1024  # a slash command is a few hundred bytes; a Teams activity a few KB
MAX_QUERY_CHARS = 2000
# "Post to channel" answers through the response_url Slack gives; only Slack's own host is
# trusted with it (anything else would let a signed-but-crafted payload make us call out).
SLACK_RESPONSE_PREFIXES: tuple[str, ...] = ("https://hooks.slack.com/",)
_KEEP_DELIVERIES = dt.timedelta(days=1)


async def _body(request: Request) -> bytes:
    """The raw body (the signatures cover it byte for byte), refused past ``MAX_BODY_BYTES``."""
    declared = request.headers.get("content-length", "")
    body = bytearray()
    if not (declared.isdigit() and int(declared) > MAX_BODY_BYTES):
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                break
    if len(body) > MAX_BODY_BYTES or (declared.isdigit() and int(declared) > MAX_BODY_BYTES):
        raise ApiError("payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


def first_use(sessions: sessionmaker[Session], key: str) -> bool:
    """Record a verified request's key; False when it was already seen (a replay, or the same
    request reaching a second replica: the primary key decides)."""
    now = dt.datetime.now(dt.UTC)
    try:
        with sessions.begin() as session:
            session.add(DeliveryRow(key=key, received_at=now))
    except IntegrityError:
        return False
    with sessions.begin() as session:  # keys older than any window say nothing
        prefix = key.split(":", 1)[0] + ":%"
        session.execute(delete(DeliveryRow).where(DeliveryRow.key.like(prefix),
                                                  DeliveryRow.received_at < now - _KEEP_DELIVERIES))
    return True


async def _refuse_replay(services: Services, source: str, signature: str) -> None:
    key = f"{source}:{hashlib.sha256(signature.encode()).hexdigest()}"
    if not await anyio.to_thread.run_sync(first_use, services.sessions, key):
        raise ApiError("unauthorized", f"this signed {source} request was already received "
                       "(replayed)")


def _verified(check: Callable[[], None], secret: str | None, what: str, setting: str) -> None:
    """Not configured is a clear refusal, never an open door; a bad signature is a 401."""
    if not secret:
        raise ApiError("forbidden", f"{what} is disabled: set FIELDGUIDE_{setting} to enable it")
    try:
        check()
    except SignatureError as exc:
        raise ApiError("unauthorized", str(exc)) from None


async def _answer(services: Services, query: str, audience: Audience, config: IncidentsConfig,
                  label: str) -> KbAnswer:
    query = " ".join(query.split())[:MAX_QUERY_CHARS]
    if not query:
        return KbAnswer("", (), services.settings.public_base)
    request = SearchRequest(query, audiences=config.audience_for(audience), limit=TOP)
    page = await services.search.search(request, label=label,
                                        record=services.settings.record_search_events)
    hits = tuple(KbHit(h.result.article.id, h.result.article.title, h.url, h.result.snippet,
                       h.freshness) for h in page.hits)
    return KbAnswer(query, hits, services.settings.public_base)


@router.post("/api/chatops/slack", response_model=SlackReplyPublic)
async def slack_command(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Slack's ``/kb`` slash command (form post) and its "Post to channel" button (the
    interactivity payload, sent to the same URL)."""
    config = services.incidents.config  # read once, in the lifespan
    body = await _body(request)
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    _verified(lambda: verify_slack(config.slack_signing_secret, timestamp, signature, body,
                                   now=time.time(), max_age_s=config.signature_max_age_s),
              config.slack_signing_secret, "Slack /kb", "SLACK_SIGNING_SECRET")
    await _refuse_replay(services, "slack", signature or "")
    try:
        form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise ApiError("bad_request", "the form body is not UTF-8") from None
    if "payload" in form:
        return await _slack_action(services, config, form["payload"][0])
    text = form.get("text", [""])[0]
    answer = await _answer(services, text, config.slack_audience, config, "slack")
    return slack_reply(answer)


async def _slack_action(services: Services, config: IncidentsConfig, raw: str) -> dict[str, Any]:
    """"Post to channel": the chosen article, for everyone, through the ``response_url``."""
    try:
        payload = json.loads(raw)
        action = payload["actions"][0]
        if not str(action.get("action_id", "")).startswith(POST_ACTION):
            raise ValueError("not a Post to channel action")
        article_id, query = parse_post_value(action["value"])
        response_url = str(payload.get("response_url") or "")
        user_id = (payload.get("user") or {}).get("id")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ApiError("bad_request", "the interaction payload is not a Post to channel "
                       "action") from None
    allowed = config.audience_for(config.slack_audience)
    article = services.index.searcher.article(article_id, allowed)
    if article is None:  # gone, or not for this workspace: the same answer
        raise ApiError("not_found", f"no article {article_id!r}")
    answer = await _answer(services, query or article.title, config.slack_audience, config,
                           "slack")
    hit = next((h for h in answer.hits if h.id == article_id), None) or KbHit(
        article.id, article.title, services.search.url_for(article.id), "",
        services.search.freshness_of(article.id))
    message = slack_post(hit, query, user_id if isinstance(user_id, str) else None)
    if response_url.startswith(SLACK_RESPONSE_PREFIXES):
        try:
            async with httpx.AsyncClient(timeout=2.5) as client:
                (await client.post(response_url, json=message)).raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("Post to channel failed: %s", exc.__class__.__name__)
            raise ApiError("unavailable", "Slack did not take the post; try again") from None
    else:
        log.warning("Post to channel: response_url is not Slack's; nothing posted")
    return message


@router.post("/api/chatops/teams", response_model=TeamsReplyPublic)
async def teams_command(request: Request, services: ServicesDep) -> dict[str, Any]:
    """A Microsoft Teams outgoing webhook (``@Fieldguide <question>`` in a channel)."""
    config = services.incidents.config  # read once, in the lifespan
    body = await _body(request)
    authorization = request.headers.get("authorization")
    _verified(lambda: verify_teams(config.teams_outgoing_secret, authorization, body),
              config.teams_outgoing_secret, "Teams /kb", "TEAMS_OUTGOING_SECRET")
    await _refuse_replay(services, "teams", authorization or "")
    try:
        activity = json.loads(body)
        text = activity.get("text") or ""
        if not isinstance(text, str):
            raise TypeError("text")
    except (ValueError, TypeError, AttributeError):
        raise ApiError("bad_request", "the body is not a Teams message activity") from None
    answer = await _answer(services, teams_query(text), config.teams_audience, config, "teams")
    return teams_reply(answer)
