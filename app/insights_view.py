"""The ``/insights`` page's HTML: one figure per chart, each with its caption and a data table
holding the very numbers the chart draws (``static/insights.js`` reads them from the table), so
the page reads without JavaScript and with a screen reader. Every value is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.insights import Insights
from incidents.coverage import Problem

SEVERITIES = ("P1", "P2", "P3", "P4")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def duration(seconds: float | None) -> str:
    """Seconds as people read them: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True)
class Cell:
    text: str
    value: float | None = None  # what the chart draws; None: a gap
    series: bool = False


@dataclass(frozen=True)
class Chart:
    """One figure. ``kind``: ``line``, ``bar`` or ``hbar``; ``unit``: ``ratio`` (0..1, drawn in
    percent), ``seconds`` (drawn in hours) or ``count``; ``target``: a dashed line."""

    id: str
    title: str
    summary: str
    kind: str
    unit: str
    head: tuple[str, ...]  # the row label's column, then one per cell
    rows: Sequence[tuple[str, Sequence[Cell]]]
    target: float | None = None
    target_label: str = ""
    empty: str = "No data in this window yet."

    @property
    def wide(self) -> bool:
        """Tables of many columns get two grid cells on a wide screen."""
        return len(self.head) > 5


def _cell(c: Cell) -> str:
    value = "" if c.value is None else repr(float(c.value))
    attr = f' data-value="{_e(value)}"' if c.series else ""
    return f"<td{attr}>{_e(c.text)}</td>"


def figure(chart: Chart) -> str:
    cap = f"{chart.id}-caption"
    if not chart.rows:
        return (f'<figure class="insight" id="{_e(chart.id)}-figure" aria-labelledby="{cap}">'
                f'<figcaption id="{cap}"><strong>{_e(chart.title)}</strong> '
                f'{_e(chart.empty)}</figcaption></figure>')
    series = [i for i, c in enumerate(chart.rows[0][1]) if c.series]
    wide = " wide" if chart.wide else ""
    head = "".join(
        f'<th scope="col"{" data-series" if i - 1 in series else ""}>{_e(h)}</th>'
        for i, h in enumerate(chart.head))
    body = "".join(f'<tr><th scope="row">{_e(label)}</th>{"".join(_cell(c) for c in cells)}</tr>'
                   for label, cells in chart.rows)
    target = ("" if chart.target is None else
              f' data-target="{_e(repr(float(chart.target)))}" '
              f'data-target-label="{_e(chart.target_label)}"')
    return (f'<figure class="insight{wide}" id="{_e(chart.id)}-figure" '
            f'aria-labelledby="{cap}">'
            f'<figcaption id="{cap}"><strong>{_e(chart.title)}</strong> '
            f'{_e(chart.summary)}</figcaption>'
            f'<div class="chart" data-chart="{_e(chart.kind)}" data-table="{_e(chart.id)}" '
            f'data-unit="{_e(chart.unit)}"{target} hidden>'
            f'<canvas role="img" aria-label="{_e(chart.title)}: chart of the data table '
            'below"></canvas></div>'
            f'<details><summary>Data table: {_e(chart.title)}</summary>'
            f'<div class="table-scroll" tabindex="0" role="region" '
            f'aria-labelledby="{_e(chart.id)}-tcap">'
            f'<table id="{_e(chart.id)}"><caption id="{_e(chart.id)}-tcap">{_e(chart.title)}'
            f'</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
            '</details></figure>')


def _ratio_cells(b: dict[str, Any]) -> list[Cell]:
    return [Cell(pct(b["value"]), b["value"], True), Cell(str(b["covered"])),
            Cell(str(b["resolved"] - b["pending"])), Cell(str(b["pending"]))]


RATIO_HEAD = ("Ratio", "Covered", "Counted", "Pending")


def incident_charts(m: dict[str, Any]) -> list[Chart]:
    ratio = m["ratio"]
    target = ratio["target"]
    days = m["days"]
    overall = (f"Last {days} days: {pct(ratio['value'])} of {ratio['resolved'] - ratio['pending']}"
               f" resolved incidents produced a new or updated article (target {pct(target)}; "
               f"{ratio['pending']} still within their window, not counted yet).")
    charts = [
        Chart("ratio-week", "Incident-to-article ratio per ISO week", overall, "line", "ratio",
              ("Week", *RATIO_HEAD), [(w["week"], _ratio_cells(w)) for w in ratio["by_week"]],
              target, f"Target {pct(target)}"),
        Chart("ratio-team", "Incident-to-article ratio per team",
              f"Each team against the {pct(target)} target, last {days} days.", "bar", "ratio",
              ("Team", *RATIO_HEAD), [(t, _ratio_cells(b)) for t, b in ratio["by_team"].items()],
              target, f"Target {pct(target)}"),
    ]
    mttr = m["mttr"]
    rows = [(sev, [Cell(duration(b["acknowledge_s"]), b["acknowledge_s"], True),
                   Cell(duration(b["diagnose_s"]), b["diagnose_s"], True),
                   Cell(duration(b["resolve_s"]), b["resolve_s"], True),
                   Cell(str(b["n"])), Cell(b["target"] or "—"), Cell(pct(b["within_target"]))])
            for sev in SEVERITIES if (b := mttr.get(sev)) is not None and b["n"]]
    charts.append(Chart(
        "mttr", "Mean time from the trigger, by severity and phase",
        f"Incidents resolved in the last {days} days; each severity on its own (never "
        "averaged across severities).", "bar", "seconds",
        ("Severity", "To acknowledge", "To diagnose", "To resolve", "Incidents", "Target",
         "Resolved within target"), rows, empty="No incident resolved in this window yet."))
    fresh, stale = m["runbooks"]["fresh"], m["runbooks"]["stale_or_missing"]
    rows = [(sev, [Cell(duration(fresh[sev]["resolve_s"]), fresh[sev]["resolve_s"], True),
                   Cell(duration(stale[sev]["resolve_s"]), stale[sev]["resolve_s"], True),
                   Cell(str(fresh[sev]["n"])), Cell(str(stale[sev]["n"]))])
            for sev in SEVERITIES if fresh[sev]["n"] or stale[sev]["n"]]
    charts.append(Chart(
        "mttr-runbook", "Time to resolve with a fresh runbook vs a stale or missing one",
        "Per severity, side by side.", "bar", "seconds",
        ("Severity", "Fresh runbook", "Stale or missing runbook", "Incidents (fresh)",
         "Incidents (stale or missing)"), rows, empty="No incident resolved in this window yet."))
    rr = m["repeat_rate"]
    charts.append(Chart(
        "repeat", "Repeat-incident rate",
        f"{rr['repeats']} of {rr['incidents']} incidents started in the last {days} days "
        f"repeated one on the same alert or service within {rr['window_days']} days "
        f"(target under {pct(rr['target'])}).", "bar", "ratio",
        ("Window", "Repeat rate", "Repeats", "Incidents"),
        [(f"Last {days} days", [Cell(pct(rr["value"]), rr["value"], True),
                                Cell(str(rr["repeats"])), Cell(str(rr["incidents"]))])]
        if rr["incidents"] else [], rr["target"], f"Target {pct(rr['target'])}",
        empty="No incident started in this window yet."))
    return charts


def support_charts(data: Insights) -> list[Chart]:
    cov = data.coverage
    total = cov["counts"]
    charts = [Chart(
        "coverage", "Runbook coverage per team",
        f"{total['covered']} of {total['alerts']} alerts received have a runbook within its "
        "review date.", "bar", "ratio",
        ("Team", "Covered", "Alerts with a fresh runbook", "Alerts", "No runbook",
         "runbook_url names no article", "Stale runbook"),
        [(team, [Cell(pct(c["covered"] / c["alerts"] if c["alerts"] else None),
                      c["covered"] / c["alerts"] if c["alerts"] else None, True),
                 Cell(str(c["covered"])), Cell(str(c["alerts"])),
                 *(Cell(str(c[p.value])) for p in Problem)])
         for team, c in cov["teams"].items()], empty="No alert received yet.")]
    trust_target = next(iter(data.trust.values()))["target"] if data.trust else 0.8
    charts.append(Chart(
        "trust", "Trust (freshness) per team",
        f"Share of each team's articles within their review-by date, today ({data.today}).",
        "bar", "ratio", ("Team", "Trust", "Articles"),
        [(team, [Cell(pct(t["trust"]), t["trust"], True), Cell(str(t["articles"]))])
         for team, t in data.trust.items()], trust_target, f"Target {pct(trust_target)}",
        empty="No article yet."))
    s = data.search
    totals = s["totals"]
    charts.append(Chart(
        "zero-results", "Search zero-result rate per day",
        f"{totals['zero_results']} of {totals['searches']} searches in the last {data.days} days "
        f"found nothing ({pct(totals['zero_result_rate'])}).", "line", "ratio",
        ("Day", "Zero-result rate", "Searches", "Zero results"),
        [(d["date"], [Cell(pct(d["zero_result_rate"]), d["zero_result_rate"], True),
                      Cell(str(d["searches"])), Cell(str(d["zero_results"]))])
         for d in s["per_day"]], empty="No search in this window yet."))
    charts.append(Chart(
        "missing", "Top missing articles: searches that found nothing",
        "The queries most often left without a result: articles to write.", "hbar", "count",
        ("Query", "Searches with no result"),
        [(q["query"], [Cell(str(q["count"]), q["count"], True)])
         for q in s["top_zero_result_queries"]], empty="Every search found something."))
    d = data.deflection
    charts.append(Chart(
        "deflection", "Chat deflection, first-contact resolution and escalation per ISO week",
        f"Of {d['closed']} closed conversations in the last {data.days} days: confirmed "
        f"deflection {pct(d['confirmed_deflection_rate'])}, potential deflection "
        f"{pct(d['potential_deflection_rate'])} (separate series, never added together), "
        f"first-contact resolution {pct(d['first_contact_resolution_rate'])}, escalation "
        f"{pct(d['escalation_rate'])}.", "line", "ratio",
        ("Week", "Confirmed deflection", "Potential deflection", "First-contact resolution",
         "Escalation", "Closed conversations"),
        [(p["period"], [Cell(pct(p["confirmed_deflection_rate"]),
                             p["confirmed_deflection_rate"], True),
                        Cell(pct(p["potential_deflection_rate"]),
                             p["potential_deflection_rate"], True),
                        Cell(pct(p["first_contact_resolution_rate"]),
                             p["first_contact_resolution_rate"], True),
                        Cell(pct(p["escalation_rate"]), p["escalation_rate"], True),
                        Cell(str(p["closed"]))])
         for p in d["per_week"]], empty="No chat conversation in this window yet."))
    return charts


def insights_body(data: Insights) -> str:
    incidents = (
        "".join(figure(c) for c in incident_charts(data.incidents))
        if data.incidents is not None else
        "<p>Incident records are not configured on this service.</p>")
    support = "".join(figure(c) for c in support_charts(data))
    return (f'<h1>Insights</h1><p class="lede">The last {data.days} days, as of '
            f'{_e(data.today)}. Each chart has its numbers in a data table below it; '
            'the same figures are in <code>/api/metrics/incidents</code>, '
            '<code>/api/metrics/search</code>, <code>/api/metrics/deflection</code>, '
            '<code>/api/coverage</code> and <code>/api/freshness</code>.</p>'
            '<form class="window" method="get" action="/insights">'
            '<label for="fg-days">Window in days</label>'
            f'<input id="fg-days" name="days" type="number" min="1" max="366" '
            f'value="{data.days}"><button type="submit">Show</button></form>'
            f'<section aria-labelledby="fg-incidents"><h2 id="fg-incidents">Incidents</h2>'
            '<p>Each incident, with its runbook steps, timeline and retrospective, is on '
            '<a href="/incidents">the incidents page</a>.</p>'
            f'<div class="insights">{incidents}</div></section>'
            f'<section aria-labelledby="fg-support"><h2 id="fg-support">Knowledge base and '
            f'support</h2><div class="insights">{support}</div></section>')


def refused_body(signed_in: bool, role: str, signin: str, what: str = "the insights") -> str:
    """The page for a reader or an anonymous visitor: what it is, who may see it, sign in
    (``what``: the pages refused, as a sentence names them; the incident pages use it too)."""
    name = what.removeprefix("the ")
    why = (f"You are signed in as a {_e(role)}; {_e(what)} are for engineers and admins."
           if signed_in else f"{_e(what[:1].upper() + what[1:])} are for engineers and admins.")
    return (f'<h1>{_e(name.capitalize())} are not available to you</h1><p class="lede">{why} '
            f'<a class="signin" href="{_e(signin)}">Sign in</a> with an engineer\'s or an '
            "admin's key or account to see them.</p>"
            '<p><a href="/">Search the knowledge base</a></p>')
