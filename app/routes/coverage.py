"""``GET /api/coverage`` and the ``/coverage`` page: runbook coverage of the alerts received,
for engineers (an engineer key or the admin token): alert names and runbook ids are
engineer material."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.access import Caller, get_caller
from app.deps import ServicesDep
from app.errors import ApiError
from app.insights import coverage_items
from app.links import link_base
from app.routes.pages import _esc, _page
from app.schemas import CoveragePublic
from incidents.coverage import Problem, counts, team_counts

router = APIRouter(tags=["coverage"])


async def require_engineer(request: Request) -> Caller:
    caller = await get_caller(request)  # a malformed or unknown key: 401 invalid_api_key
    if caller.person is not None and not caller.engineer:
        raise ApiError("forbidden", "runbook coverage is for engineers; your role is "
                       f"{caller.person.role.value}")
    if not caller.engineer:
        raise ApiError("unauthorized", "runbook coverage needs an engineer: sign in (/signin) "
                       "or 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"})
    return caller


EngineerDep = Annotated[Caller, Depends(require_engineer)]


@router.get("/api/coverage", response_model=CoveragePublic)
def coverage(request: Request, services: ServicesDep, caller: EngineerDep) -> dict[str, Any]:
    """Every alert received: its runbook and how it was found, the runbook's freshness, and
    the problem (no runbook, a runbook_url that names no article, a stale runbook). Coverage by
    the runbooks the caller may read: an added audience's runbook (security) is no runbook to an
    engineer who may not read it, never its id or title."""
    items = coverage_items(services, caller.audiences, public_url=link_base(request))
    return {"alerts": [i.to_json() for i in items], "counts": counts(items),
            "teams": team_counts(items)}


@router.get("/coverage", include_in_schema=False)
def coverage_page(request: Request, services: ServicesDep, caller: EngineerDep) -> Response:
    """The gaps per team, with counts (server-rendered, every value escaped)."""
    items = coverage_items(services, caller.audiences, public_url=link_base(request))
    by_team = team_counts(items)
    sections = []
    for team, c in by_team.items():
        gaps = sorted((i for i in items if (i.team or "unassigned") == team and i.problem),
                      key=lambda i: (i.problem or "", i.alert))
        rows = "".join(
            f"<tr><td>{_esc(i.alert)}</td><td>{_esc(i.problem.value if i.problem else '')}</td>"
            f"<td>{_esc(i.runbook or '—')}</td><td>{_esc(i.runbook_url or '—')}</td>"
            f"<td>{_esc(i.source)}</td></tr>" for i in gaps)
        figures = ", ".join(f"{_esc(p.value)} {c[p.value]}" for p in Problem)
        table = ("<table><thead><tr><th>Alert</th><th>Problem</th><th>Runbook</th>"
                 f"<th>runbook_url</th><th>Source</th></tr></thead><tbody>{rows}</tbody></table>"
                 if gaps else "<p>No gaps.</p>")
        sections.append(f"<section><h2>{_esc(team)}</h2><p>{c['covered']}/{c['alerts']} alerts "
                        f"with a runbook within its review date ({figures}).</p>{table}</section>")
    total = counts(items)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    body = ("<h1>Runbook coverage</h1>"
            f'<p class="lede">{total["covered"]}/{total["alerts"]} alerts received have a runbook '
            f"within its review date, as of {_esc(today)}. Declared rules: "
            "<code>fieldguide coverage --rules PATH</code>.</p>"
            + ("".join(sections) or "<p>No alerts received yet.</p>"))
    return _page(request, title="Fieldguide: runbook coverage", body=body, body_class="full")
