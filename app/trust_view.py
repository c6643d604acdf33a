"""The freshness page's trust section: a server-rendered SVG bar chart and the same data as a
table (no script, no inline style: the strict CSP holds; colours come from pages.css).

    >>> trust_section(report, names={"network": "Network Engineering"})
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

# The chart's own units: each row is the team's name over its bar, the share to the right, so
# long names never squeeze the bars (and the chart stays legible scaled down to a phone).
BAR_W = 360
VALUE_W = 50
ROW_H = 38

def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(share: float) -> str:
    return f"{share:.0%}"


def trust_rows(report: Mapping[str, Any],
               names: Mapping[str, str]) -> list[tuple[str, int, int, float]]:
    """(label, trusted, articles, trust): everyone first, then each team by name, then the
    articles of no team."""
    rows = [("All teams", int(report["trusted"]), int(report["total"]), float(report["trust"]))]
    teams = sorted(report["trust_by_team"].items(),
                   key=lambda kv: (kv[0] == "(none)", names.get(kv[0], kv[0]).lower()))
    for team, t in teams:
        label = "No team" if team == "(none)" else names.get(team, team)
        rows.append((label, int(t["trusted"]), int(t["articles"]), float(t["trust"])))
    return rows


def trust_chart(rows: list[tuple[str, int, int, float]], target: float) -> str:
    height = ROW_H * len(rows) + 22
    width = BAR_W + VALUE_W
    below = [label for label, _t, n, share in rows[1:] if n and share < target]
    desc = (f"Trust score: {_pct(rows[0][3])} of {rows[0][2]} articles are within their review "
            f"date and not flagged by readers (target {_pct(target)}). "
            + (f"Below target: {', '.join(below)}." if below else "Every team is on target."))
    parts = [f'<svg class="trust-chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="trust-chart-title trust-chart-desc" '
             f'preserveAspectRatio="xMinYMin meet">',
             '<title id="trust-chart-title">Trust score by team</title>',
             f'<desc id="trust-chart-desc">{_e(desc)}</desc>']
    for i, (label, _trusted, articles, share) in enumerate(rows):
        y = i * ROW_H
        kind = "all" if i == 0 else ("ok" if share >= target else "low")
        bar = round(BAR_W * share, 1)
        parts.append(f'<g class="row {kind}" aria-hidden="true">'
                     f'<text class="label" x="0" y="{y + 13}">{_e(label)}</text>'
                     f'<rect class="track" x="0" y="{y + 18}" width="{BAR_W}" height="12" '
                     f'rx="3"/>'
                     f'<rect class="bar" x="0" y="{y + 18}" width="{bar}" height="12" rx="3"/>'
                     f'<text class="value" x="{BAR_W + 6}" y="{y + 29}">'
                     f'{_pct(share) if articles else "—"}</text></g>')
    x = round(BAR_W * target, 1)
    parts.append(f'<g class="target" aria-hidden="true"><line x1="{x}" y1="16" x2="{x}" '
                 f'y2="{height - 18}"/><text x="{x}" y="{height - 5}">target '
                 f'{_pct(target)}</text></g></svg>')
    return "".join(parts)


def trust_table(rows: list[tuple[str, int, int, float]], target: float) -> str:
    body = "".join(
        f'<tr><th scope="row">{_e(label)}</th><td class="num">{trusted}</td>'
        f'<td class="num">{articles}</td><td class="num">{_pct(share) if articles else "—"}'
        f'</td><td>{"on target" if share >= target else "below target"}</td></tr>'
        for label, trusted, articles, share in rows)
    return ('<table class="trust-table even"><caption>Trust score by team (the chart\'s data)'
            '</caption><colgroup><col class="c-team"><col class="c-num"><col class="c-num">'
            '<col class="c-num"><col class="c-target"></colgroup>'
            '<thead><tr><th scope="col">Team</th><th scope="col" class="num">Trusted</th>'
            '<th scope="col" class="num">Articles</th><th scope="col" class="num">Trust</th>'
            '<th scope="col">Target ' + _pct(target) + '</th></tr></thead>'
            f'<tbody>{body}</tbody></table>')


def trust_section(report: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """The section: the overall score, the chart, its table, and how the score is defined."""
    rows = trust_rows(report, names)
    target = float(report["trust_target"])
    flagged = int(report.get("flagged", 0))
    return ('<section class="trust" aria-labelledby="trust-title">'
            f'<h2 id="trust-title">Trust score: {_pct(rows[0][3])}</h2>'
            '<p class="lede">The share of articles a reader can rely on: within their review '
            'date (fresh or due soon) and not flagged by readers\' “not helpful” votes. Every '
            f'article counts once; retired ones do not count. {flagged} flagged by votes.</p>'
            + trust_chart(rows, target) + trust_table(rows, target) + '</section>')
