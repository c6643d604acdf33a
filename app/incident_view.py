"""The incident pages' HTML (``/incidents`` and ``/incidents/{id}``): plain forms with a CSRF
field that work without JavaScript (``static/incident.js`` only sends a step's form when its box
is ticked). Every value is escaped; the incident given is already the one the viewer may see
(``Incident.without``), and ``article_of`` answers only the articles they may read."""

from __future__ import annotations

import datetime as dt
import html
import json
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.render import article_url
from app.services.incident_records import OUTCOMES, DraftMade
from incidents.packet import diagnostic_steps
from incidents.records import Activity, Incident, Phase
from indexer.article import Article

ArticleOf = Callable[[str], Article | None]

# What the page says after a form's redirect (``?done=``): nothing else is read from the URL.
DONE = {
    "step": "Step checked off.",
    "acknowledged": "Acknowledged.",
    "diagnosed": "Marked diagnosed.",
    "resolved": "Resolved: the retrospective question is below and in the incident channel.",
    "note": "Note added to the timeline.",
    "retrospective": "Retrospective answer recorded.",
}
OUTCOME_LABELS = {"used-as-is": "Used as is: the articles had what the fix needed",
                  "updated": "Updated an article (name it)",
                  "created": "Wrote a new article (name it)",
                  "nothing-to-write": "Nothing to write"}
_ACTIONS = (("acknowledged", "Acknowledge"), ("diagnosed", "Diagnosed"), ("resolved", "Resolve"))


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(at: dt.datetime | None) -> str:
    if at is None:
        return "—"
    utc = at.astimezone(dt.UTC)
    return f'<time datetime="{_e(utc.isoformat())}">{_e(utc.strftime("%Y-%m-%d %H:%M"))} UTC</time>'


def page_href(incident_id: int) -> str:
    return f"/incidents/{incident_id}"


def _article_link(incident: Incident, article_id: str, article_of: ArticleOf) -> str:
    article = article_of(article_id)
    if article is None:  # no longer in the index
        return f"<code>{_e(article_id)}</code>"
    href = f"{article_url(article_id)}?incident={incident.id}"
    return f'<a href="{_e(href)}">{_e(article.title)}</a>'


def _sev(incident: Incident) -> str:
    sev = incident.severity.value
    return f'<span class="sev sev-{_e(sev.lower())}">{_e(sev)}</span>'


def _phase(incident: Incident) -> str:
    phase = incident.status.value
    return f'<span class="phase phase-{_e(phase)}">{_e(phase)}</span>'


def _badges(incident: Incident) -> str:
    return f"{_sev(incident)} {_phase(incident)}"


# -- the list ------------------------------------------------------------------------------------
def list_body(incidents: Sequence[Incident], status: Phase | None) -> str:
    options = "".join(
        f'<option value="{_e(value)}"{" selected" if (status.value if status else "") == value else ""}>'
        f"{_e(label)}</option>"
        for value, label in (("", "All"), *((p.value, p.value.capitalize()) for p in Phase)))
    rows = "".join(
        f'<tr class="{"open" if i.status is not Phase.RESOLVED else "closed"}">'
        f'<td>{_sev(i)}</td><td><a href="{_e(page_href(i.id))}">{_e(i.title)}</a></td>'
        f"<td>{_phase(i)}</td>"
        f"<td>{when(i.started_at)}</td><td>{_e(', '.join(i.services)) or '—'}</td></tr>"
        for i in incidents)
    table = (f'<table class="incidents"><caption class="sr-only">Incidents, open first</caption>'
             '<thead><tr><th scope="col">Severity</th><th scope="col">Title</th>'
             '<th scope="col">Status</th><th scope="col">Started</th>'
             f'<th scope="col">Services</th></tr></thead><tbody>{rows}</tbody></table>'
             if incidents else
             f'<p class="empty">No incident{" " + _e(status.value) if status else ""} yet.</p>')
    return ('<h1>Incidents</h1><p class="lede">Open incidents first, then resolved ones, newest '
            "first in each. Open one to check off its runbook's steps, move it on, answer the "
            'retrospective, escalate it or write its draft article. The same records are '
            "<code>/api/incidents</code>.</p>"
            '<form class="window" method="get" action="/incidents">'
            f'<label for="fg-status">Status</label><select id="fg-status" name="status">{options}'
            '</select><button type="submit">Show</button></form>' + table)


# -- one incident -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forms:
    """What the page's forms need: the CSRF field, and whether the content directory is in a
    Git work tree (the draft can then be committed on a branch)."""

    csrf: str
    git: bool = False


def _csrf(forms: Forms) -> str:
    return f'<input type="hidden" name="csrf" value="{_e(forms.csrf)}">'


def _message(message: str, error: bool) -> str:
    if not message:
        return '<p class="notice" role="status" aria-live="polite"></p>'
    if error:
        return f'<p class="error" role="alert">{_e(message)}</p>'
    return f'<p class="notice done" role="status" aria-live="polite">{_e(message)}</p>'


def _facts(incident: Incident) -> str:
    facts = [("Severity", incident.severity.value), ("Status", incident.status.value),
             ("Services", ", ".join(incident.services) or "—"),
             ("Alerts", ", ".join(incident.alerts) or "—"),
             ("Team", incident.team or "—"), ("Channel", incident.channel or "—"),
             ("Responder", incident.responder or "—"),
             ("Source", incident.source + (f" ({incident.external_id})"
                                           if incident.external_id else ""))]
    return '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>"
                                          for k, v in facts) + "</dl>"


def step_anchor(article_id: str, step: int) -> str:
    """A fragment id for the step (an article id may hold ``/`` and other characters)."""
    return "step-" + urllib.parse.quote(article_id, safe="").replace("%", "_") + f"-{step}"


def _steps(incident: Incident, article: Article, forms: Forms) -> str:
    done = {a.detail.get("step"): a for a in incident.activity
            if a.kind is Activity.STEP and a.ref == article.id}
    steps = diagnostic_steps(article)
    if not steps:
        return '<p class="empty">This runbook has no "Diagnostic steps" list.</p>'
    items = []
    for n, text in enumerate(steps, 1):
        anchor = step_anchor(article.id, n)
        record = done.get(n)
        state = (f'<span class="step-by">done by {_e(record.by or "someone")}, '
                 f"{when(record.at)}</span>" if record is not None else "")
        box = (f'<input type="checkbox" id="{anchor}-box" name="done" value="1"'
               f'{" checked disabled" if record else ""}>')
        button = ("" if record else
                  f'<button type="submit" aria-describedby="{anchor}-text">Mark done</button>')
        items.append(
            f'<li id="{anchor}" class="step{" done" if record else ""}">'
            f'<form class="step-form" method="post" action="{page_href(incident.id)}/steps">'
            f'{_csrf(forms)}<input type="hidden" name="article_id" value="{_e(article.id)}">'
            f'<input type="hidden" name="step" value="{n}">{box}'
            f'<label for="{anchor}-box" id="{anchor}-text">{_e(text)}</label>{button}{state}'
            "</form></li>")
    count = len(done.keys() & set(range(1, len(steps) + 1)))
    return (f'<p class="steps-count">{count} of {len(steps)} steps done.</p>'
            f'<ol class="steps">{"".join(items)}</ol>')


def _runbooks(incident: Incident, article_of: ArticleOf, forms: Forms) -> str:
    parts = []
    for article_id in incident.runbooks():
        article = article_of(article_id)
        if article is None:
            continue
        fresh = (f' <span class="status">{_e(incident.runbook_status)}</span>'
                 if article_id == incident.runbook_id and incident.runbook_status else "")
        parts.append(f'<div class="runbook"><h3>{_article_link(incident, article_id, article_of)}'
                     f"{fresh}</h3>{_steps(incident, article, forms)}</div>")
    if not parts:
        parts.append('<p class="empty">No runbook was posted for this incident.</p>')
    return ('<section class="card" id="runbook" aria-labelledby="fg-runbook">'
            '<h2 id="fg-runbook">Runbook: diagnostic steps</h2>' + "".join(parts) + "</section>")


def _timeline(incident: Incident) -> str:
    items = "".join(
        f'<li><span class="t-when">{when(t.at)}</span> <strong class="t-kind">{_e(t.kind)}</strong>'
        + (f' <span class="t-value">{_e(t.value)}</span>' if t.value else "")
        + (f' <span class="t-by">by {_e(t.by)}</span>' if t.by else "")
        + (f'<p class="t-note">{_e(t.note)}</p>' if t.note else "") + "</li>"
        for t in incident.timeline)
    return ('<section class="card" id="timeline" aria-labelledby="fg-timeline">'
            f'<h2 id="fg-timeline">Timeline</h2><ol class="timeline">{items}</ol></section>')


def _tried(incident: Incident, article_of: ArticleOf) -> str:
    opened = "".join(f"<li>{_article_link(incident, a, article_of)}</li>"
                     for a in incident.articles_opened())
    searches = []
    for a in incident.activity:
        if a.kind is not Activity.SEARCH:
            continue
        found = [str(r) for r in a.detail.get("results", [])]
        hits = (", ".join(_article_link(incident, r, article_of) for r in found[:5])
                if found else "nothing found")
        searches.append(f'<li><q>{_e(a.ref)}</q> <span class="t-by">{when(a.at)}'
                        f'{" by " + _e(a.by) if a.by else ""}</span>'
                        f'<span class="hits">→ {hits}</span></li>')
    return ('<section class="card" id="tried" aria-labelledby="fg-tried">'
            '<h2 id="fg-tried">What was tried</h2><h3>Articles opened</h3>'
            + (f"<ul>{opened}</ul>" if opened else '<p class="empty">None yet.</p>')
            + "<h3>Searches</h3>"
            + (f'<ul class="searches">{"".join(searches)}</ul>' if searches
               else '<p class="empty">None yet.</p>') + "</section>")


def _status(incident: Incident, forms: Forms) -> str:
    order = list(Phase)
    reached = order.index(incident.status)
    primary = ' class="primary"'
    buttons = "".join(f'<button type="submit" name="status" value="{value}"'
                      f'{primary if value == "resolved" else ""}>{label}</button>'
                      for value, label in _ACTIONS if order.index(Phase(value)) > reached)
    return ('<section class="card" id="status" aria-labelledby="fg-status-h">'
            '<h2 id="fg-status-h">Status</h2>'
            f'<p>{_badges(incident)}</p><ul class="phases">'
            f"<li>Triggered {when(incident.started_at)}</li>"
            f"<li>Acknowledged {when(incident.acknowledged_at)}</li>"
            f"<li>Diagnosed {when(incident.diagnosed_at)}</li>"
            f"<li>Resolved {when(incident.resolved_at)}</li></ul>"
            f'<form class="stack" method="post" action="{page_href(incident.id)}/status">'
            f'{_csrf(forms)}<label for="fg-note">Note (what was found, what fixed it)</label>'
            '<textarea id="fg-note" name="note" rows="3" maxlength="4000"></textarea>'
            f'<div class="buttons">{buttons}<button type="submit" name="status" value="">'
            "Add the note</button></div></form></section>")


def _retrospective(incident: Incident, article_of: ArticleOf, forms: Forms) -> str:
    head = ('<section class="card" id="retrospective" aria-labelledby="fg-retro">'
            '<h2 id="fg-retro">Retrospective</h2>')
    if incident.status is not Phase.RESOLVED:
        return head + ('<p class="empty">Asked once the incident is resolved: did the fix need '
                       "knowledge the knowledge base did not have?</p></section>")
    answer = ""
    if incident.retro_outcome:
        named = (f" ({_article_link(incident, incident.retro_article_id, article_of)})"
                 if incident.retro_article_id else "")
        answer = (f'<p class="answer">Answered: <strong>{_e(incident.retro_outcome)}</strong>'
                  f"{named}.</p>")
    elif incident.retro_missed_at:
        answer = ('<p class="answer">Not answered in time: counted as a miss '
                  f"{when(incident.retro_missed_at)}.</p>")
    radios = "".join(
        f'<label class="choice"><input type="radio" name="outcome" value="{o}" required'
        f'{" checked" if incident.retro_outcome == o else ""}> {_e(OUTCOME_LABELS[o])}</label>'
        for o in OUTCOMES)
    used = [a for a in dict.fromkeys([*incident.runbooks(), *incident.articles_opened()])
            if article_of(a) is not None]
    options = "".join(f'<option value="{_e(a)}"></option>' for a in used)
    return head + answer + (
        f'<form class="stack retro" method="post" action="{page_href(incident.id)}/retrospective">'
        f'{_csrf(forms)}<fieldset><legend>Did the fix need knowledge the knowledge base did not '
        f"have?</legend>{radios}</fieldset>"
        '<label for="fg-retro-article">Article (its id; for "updated" and "new")</label>'
        '<input id="fg-retro-article" name="article_id" maxlength="512" list="fg-used" '
        f'autocomplete="off"><datalist id="fg-used">{options}</datalist>'
        '<div class="buttons"><button type="submit" class="primary">Answer</button></div>'
        "</form></section>")


def _packet(packet: dict[str, Any]) -> str:
    runbook = packet.get("runbook")
    steps = runbook.get("diagnostic_steps", []) if runbook else []
    done = sum(1 for s in steps if s["done"])
    lines = [
        f"<li>Alert: {_e(', '.join(packet['alert']['alerts']) or '—')} "
        f"({_e(packet['alert']['source'])})</li>",
        (f"<li>Runbook: {_e(runbook.get('title') or runbook['id'])}, {done} of {len(steps)} "
         "diagnostic steps done</li>") if runbook else "<li>Runbook: none</li>",
        f"<li>Searches: {len(packet['searches'])}, articles opened: "
        f"{len(packet['articles_opened'])}, notes: {len(packet['notes'])}</li>"]
    text = json.dumps(packet, indent=2, ensure_ascii=False)
    return ('<div class="packet" id="packet" tabindex="-1"><h3>Escalation packet</h3>'
            "<p>Posted to the incident channel; what an L3 engineer starts from.</p>"
            f'<ul>{"".join(lines)}</ul><details open><summary>The packet (JSON, as '
            f"<code>POST /api/incidents/{_e(packet['incident']['id'])}/escalate</code> answers "
            "it)</summary>"
            f'<pre class="json">{_e(text)}</pre></details></div>')


def _escalate(incident: Incident, forms: Forms, packet: dict[str, Any] | None) -> str:
    return ('<section class="card" id="escalate" aria-labelledby="fg-escalate">'
            '<h2 id="fg-escalate">Escalate</h2>'
            f'<form class="stack" method="post" action="{page_href(incident.id)}/escalate">'
            f'{_csrf(forms)}<label for="fg-esc-note">Why (optional)</label>'
            '<input id="fg-esc-note" name="note" maxlength="4000">'
            '<div class="buttons"><button type="submit">Escalate</button></div></form>'
            + (_packet(packet) if packet is not None else "") + "</section>")


def _draft(incident: Incident, forms: Forms, made: DraftMade | None) -> str:
    branch = ('<label class="choice"><input type="checkbox" name="branch" value="1" checked> '
              "Also commit it on a new Git branch for review (no push)</label>"
              if forms.git else "")
    result = ""
    if made is not None:
        commit = made.commit
        on_branch = (f' and committed on branch <code class="draft-branch">{_e(commit.branch)}'
                     f"</code> ({_e(commit.commit[:12])})" if commit else "")
        result = (f'<div class="draft-made" id="draft-made" tabindex="-1"><p>Written to '
                  f'<code class="draft-path">{_e(made.draft.rel)}</code>{on_branch}. It is not '
                  "served until it is moved out of <code>drafts/</code>.</p>"
                  f'<details><summary>The draft</summary><pre class="json">{_e(made.draft.text)}'
                  "</pre></details></div>")
    return ('<section class="card" id="draft" aria-labelledby="fg-draft">'
            '<h2 id="fg-draft">Draft article</h2>'
            '<p class="lede">A new article in the house template, prefilled from this incident, '
            "in <code>drafts/</code> of the content directory.</p>"
            f'<form class="stack" method="post" action="{page_href(incident.id)}/draft">'
            f'{_csrf(forms)}{branch}<div class="buttons"><button type="submit">Write a draft'
            "</button></div></form>" + result + "</section>")


def incident_body(incident: Incident, article_of: ArticleOf, forms: Forms, *, message: str = "",
                  error: bool = False, packet: dict[str, Any] | None = None,
                  draft: DraftMade | None = None) -> str:
    return (f'<p class="crumbs"><a href="/incidents">← All incidents</a></p>'
            f'<h1>{_e(incident.title)}</h1><p class="incident-meta">{_badges(incident)} '
            f"Incident {incident.id}, started {when(incident.started_at)}</p>"
            + _message(message, error) + _facts(incident)
            + '<div class="incident-grid"><div class="incident-main">'
            + _runbooks(incident, article_of, forms) + _timeline(incident)
            + _tried(incident, article_of) + '</div><div class="incident-side">'
            + _status(incident, forms) + _retrospective(incident, article_of, forms)
            + _escalate(incident, forms, packet) + _draft(incident, forms, draft)
            + "</div></div>")


# -- problems ---------------------------------------------------------------------------------------
def problem_body(title: str, message: str) -> str:
    return (f'<h1>{_e(title)}</h1><p class="error" role="alert">{_e(message)}</p>'
            '<p><a href="/incidents">All incidents</a></p>')
