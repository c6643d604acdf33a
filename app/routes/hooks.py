"""Alert intake: ``POST /api/hooks/alertmanager`` (Alertmanager and Grafana, bearer token) and
``POST /api/hooks/pagerduty`` (V3 webhooks, ``X-PagerDuty-Signature``); ``GET /api/hooks/template``,
the prefilled runbook a post links to when an alert has none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep
from app.errors import ApiError
from app.render import article_url
from app.schemas import FreshnessPublic, HookAlertPublic, HookIntakePublic, HookRunbookPublic, freshness_json
from app.services import Services
from app.services.incidents import IntakeDisabled
from incidents.intake import IntakeResult
from incidents.payloads import PayloadError
from incidents.signatures import SignatureError

router = APIRouter(tags=["hooks"])
T = TypeVar("T")


async def _guarded(call: Callable[[], T]) -> T:
    """Run ``call`` off the event loop (runbook searches, the database) with the domain's
    errors answered from the error table."""
    try:
        return await run_in_threadpool(call)
    except IntakeDisabled as exc:
        raise ApiError("unavailable", str(exc)) from None
    except SignatureError as exc:
        raise ApiError("unauthorized", str(exc), {"WWW-Authenticate": "Bearer"}) from None
    except PayloadError as exc:
        raise ApiError(exc.code, str(exc)) from None


async def _body(request: Request, limit: int) -> bytes:
    """The raw body, read no further than ``limit`` bytes (a 413 past it, whatever it claims)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError("payload_too_large", f"the body of {declared} bytes is over the "
                       f"{limit}-byte limit (FIELDGUIDE_MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError("payload_too_large", f"the body is over the {limit}-byte limit "
                           "(FIELDGUIDE_MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def _public(services: Services, result: IntakeResult) -> HookIntakePublic:
    base = services.settings.public_base
    alerts = []
    for o in result.outcomes:
        rb = o.runbook
        runbook = None if rb is None else HookRunbookPublic(
            id=rb.article.id, title=rb.article.title, url=base + article_url(rb.article.id),
            how=rb.how.value,
            freshness=FreshnessPublic(**freshness_json(services.freshness.freshness(rb.article.id))))
        alerts.append(HookAlertPublic(fingerprint=o.alert.fingerprint, alertname=o.alert.alertname,
                                      status=o.alert.status.value, runbook=runbook,
                                      team=o.team.team.id if o.team.team else None))
    return HookIntakePublic(alerts=alerts, decision=result.decision.value,
                            rejected=list(result.rejected))


@router.post("/api/hooks/alertmanager", status_code=202, response_model=HookIntakePublic)
async def alertmanager(request: Request, services: ServicesDep) -> HookIntakePublic:
    """An Alertmanager (or Grafana) webhook delivery: each alert's runbook, the group posted to
    its team's channel once (again when its firing set changes, and when it resolves)."""
    hooks = services.incidents
    authorization = request.headers.get("authorization")
    await _guarded(lambda: hooks.check_bearer(authorization))  # before reading any body
    body = await _body(request, hooks.config.max_body_bytes)
    result = await _guarded(lambda: hooks.alertmanager(body))
    return _public(services, result)


@router.post("/api/hooks/pagerduty", status_code=202, response_model=HookIntakePublic)
async def pagerduty(request: Request, services: ServicesDep) -> HookIntakePublic:
    """A PagerDuty V3 webhook event, verified with ``X-PagerDuty-Signature``; a redelivered
    event (same id) changes nothing."""
    hooks = services.incidents
    await _guarded(hooks.check_pagerduty)  # refuse before reading the body
    body = await _body(request, hooks.config.max_body_bytes)
    signature = request.headers.get("x-pagerduty-signature")
    result = await _guarded(lambda: hooks.pagerduty(signature, body))
    return _public(services, result)


@router.get("/api/hooks/template", response_class=PlainTextResponse, responses={
    200: {"content": {"text/markdown": {"schema": {"type": "string"}}},
          "description": "The runbook template, Markdown."}})
async def template(services: ServicesDep,
                   alertname: Annotated[str, Query(min_length=1, max_length=256)],
                   service: Annotated[str | None, Query(max_length=128)] = None,
                   summary: Annotated[str | None, Query(max_length=500)] = None
                   ) -> PlainTextResponse:
    """A new runbook in the template's shape, prefilled for ``alertname`` (Markdown)."""
    text = services.incidents.template(alertname, service, summary)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8",
                             headers={"X-Content-Type-Options": "nosniff"})
