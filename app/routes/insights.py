"""The ``/insights`` page (engineers and admins: a session, a personal or engineer key, the
admin token): charts of the incident loop, MTTR, coverage, trust, search and chat, each with
its data table. Readers and anonymous visitors get a page that says so, with a sign-in link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep
from app.insights import gather
from app.insights_view import insights_body, refused_body
from app.routes.pages import _page
from app.signin_view import page_caller, signin_href

router = APIRouter(include_in_schema=False)
SCRIPTS = ("vendor/chartjs/chart.umd.min.js", "insights.js")


@router.get("/insights")
async def insights_page(
    request: Request, services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=366, description="Window: the last N days.")] = 28,
) -> Response:
    caller = await run_in_threadpool(page_caller, request)  # a key or a session: a DB read
    if caller is None or not caller.engineer:
        signed_in = caller is not None and caller.person is not None
        role = caller.person.role.value if caller is not None and caller.person else ""
        response = _page(request, title="Fieldguide: insights",
                         body=refused_body(signed_in, role, signin_href(request)),
                         current="/insights")
        response.status_code = 403 if signed_in else 401
        return response
    data = await run_in_threadpool(gather, services, caller.audiences, days)
    return _page(request, title="Fieldguide: insights", body=insights_body(data),
                 current="/insights", scripts=SCRIPTS, body_class="full wide")
