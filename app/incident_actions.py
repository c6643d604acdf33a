"""What the incident API (``app.routes.incidents``) and the incident pages
(``app.routes.incident_pages``) both do for a caller: read an incident as they may see it, check
off a step, escalate, write a draft. One code path each, so a page and a script get the same
answer; the callers turn the domain's errors into their own error answer (JSON or a page).

Everything here may read the database or the disk: call it off the event loop.

    >>> incident = visible(services, caller, 12)          # IncidentError(not_found)
    >>> step_done(services, caller, 12, None, 2, by="ana@example.com")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.access import Caller
from app.errors import ApiError
from app.services import Services
from app.services.incident_records import DraftMade, IncidentRecords
from incidents.drafts import DraftError
from incidents.records import Incident, IncidentError

Hidden = Callable[[str], bool]


def records_of(services: Services) -> IncidentRecords:
    records = services.incidents.records
    if records is None:
        raise ApiError("unavailable", "incident records are not configured")
    return records


def hidden_for(services: Services, caller: Caller) -> Hidden:
    """Whether an article of the index is outside what ``caller`` may read (an added audience's,
    such as security): incidents then never name it to them."""
    searcher = services.index.searcher

    def hidden(article_id: str) -> bool:
        return (searcher.row(article_id) is not None
                and searcher.article(article_id, caller.audiences) is None)

    return hidden


def recorded_by(caller: Caller, given: str | None = None) -> str:
    """Who an action is recorded under: what the caller said, else the signed-in person (or the
    key's owner), else what kind of key it was."""
    if given:
        return given
    return caller.person.label if caller.person is not None else caller.label


def visible(services: Services, caller: Caller, incident_id: int) -> Incident:
    """The incident as ``caller`` may see it (``Incident.without``)."""
    return records_of(services).get(incident_id).without(hidden_for(services, caller))


def step_done(services: Services, caller: Caller, incident_id: int, article_id: str | None,
              step: int, by: str | None) -> Incident:
    """A diagnostic step of a runbook done (default: the incident's runbook)."""
    records = records_of(services)
    article = article_id or records.get(incident_id).runbook_id
    if not article:
        raise IncidentError("article_id: the incident has no runbook; name the article",
                            "conflict")
    return records.step_done(incident_id, article, step, by)


def scrub_packet(packet: dict[str, Any], hidden: Hidden) -> dict[str, Any]:
    runbook = packet.get("runbook")
    return {
        **packet,
        "runbook": None if runbook and hidden(runbook["id"]) else runbook,
        "searches": [{**s, "results": [r for r in s["results"] if not hidden(str(r))]}
                     for s in packet["searches"]],
        "articles_opened": [a for a in packet["articles_opened"] if not hidden(a["id"])],
        "timeline": [{**t, "value": None if t["value"] and hidden(t["value"]) else t["value"]}
                     for t in packet["timeline"]],
    }


def escalate(services: Services, caller: Caller, incident_id: int, by: str | None,
             note: str | None) -> dict[str, Any]:
    """Escalated: a line of the timeline, the post to the incident channel, and the packet
    without what ``caller`` may not read."""
    packet = records_of(services).escalate(incident_id, by, note)
    return scrub_packet(packet, hidden_for(services, caller))


def write_draft(services: Services, caller: Caller, incident_id: int, *, branch: str | None,
                by: str | None) -> DraftMade:
    """The draft article in ``drafts/`` of the content directory (``IncidentRecords.draft``);
    ``branch``: also commit it on that new branch (``""``: the default name). A content
    directory that cannot be written is a ``DraftError(unavailable)``."""
    settings = services.settings
    try:
        return records_of(services).draft(
            incident_id, Path(settings.content_dir), today=dt.date.today(),
            policy=settings.freshness_config().policy, branch=branch, by=by,
            hidden=hidden_for(services, caller))
    except OSError as exc:
        raise DraftError("the draft cannot be written into the content directory: "
                         f"{exc.strerror or exc.__class__.__name__}", "unavailable") from None
