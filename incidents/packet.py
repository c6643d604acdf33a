"""The escalation packet: what an L3 engineer starts from, so nobody asks "what have you tried so
far?" — the original alert, the runbook and which of its diagnostic steps were done, the searches
and articles already tried, the timeline and the notes.

    >>> packet = escalation_packet(incident, article_of, public_url="https://kb.example")
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from incidents.records import Activity, Incident
from indexer.article import Article


def incident_page_url(public_url: str, incident_id: int) -> str:
    """The incident's page (``GET /incidents/{id}``) under the service's public address."""
    return f"{public_url.rstrip('/')}/incidents/{incident_id}"


def diagnostic_steps(article: Article) -> list[str]:
    """The items of the article's ``## Diagnostic steps``, step 1 first."""
    section = next((s for s in article.sections if s.key == "diagnostic_steps"), None)
    if section is None:
        return []
    return [" ".join(item.split()) for item in section.list_items if item.strip()]


def escalation_packet(incident: Incident, article_of: Callable[[str], Article | None], *,
                      public_url: str) -> dict[str, Any]:
    base = public_url.rstrip("/")

    def url(article_id: str) -> str:
        return f"{base}/articles/{urllib.parse.quote(article_id, safe='/')}?incident={incident.id}"

    done = {(a.ref, a.detail.get("step")) for a in incident.activity if a.kind is Activity.STEP}
    runbook = None
    if incident.runbook_id:
        article = article_of(incident.runbook_id)
        steps = diagnostic_steps(article) if article is not None else []
        runbook = {"id": incident.runbook_id,
                   "title": article.title if article is not None else None,
                   "url": url(incident.runbook_id), "freshness": incident.runbook_status,
                   "diagnostic_steps": [{"step": n, "text": text,
                                         "done": (incident.runbook_id, n) in done}
                                        for n, text in enumerate(steps, 1)]}
    opened = []
    for article_id in incident.articles_opened():
        article = article_of(article_id)
        opened.append({"id": article_id, "title": article.title if article else None,
                       "url": url(article_id)})
    return {
        "incident": {"id": incident.id, "url": incident_page_url(base, incident.id),
                     "title": incident.title,
                     "severity": incident.severity.value, "status": incident.status.value,
                     "team": incident.team, "channel": incident.channel,
                     "responder": incident.responder, "started_at": incident.started_at.isoformat()},
        "alert": {"source": incident.source, "external_id": incident.external_id,
                  "alerts": list(incident.alerts), "services": list(incident.services)},
        "runbook": runbook,
        "searches": [{"query": a.ref, "at": a.at.isoformat(), "by": a.by,
                      "results": list(a.detail.get("results", []))}
                     for a in incident.activity if a.kind is Activity.SEARCH],
        "articles_opened": opened,
        "timeline": [{"at": t.at.isoformat(), "kind": t.kind, "by": t.by, "value": t.value,
                      "note": t.note} for t in incident.timeline],
        "notes": [t.note for t in incident.timeline if t.note],
    }
