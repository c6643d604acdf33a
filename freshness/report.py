"""The freshness report: per article, and grouped by state, owner, team and service (JSON, CSV)."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from freshness.digest import TRUST_TARGET, article_url, trust_score, trusted
from freshness.job import ArticleResult, _items
from freshness.policy import Status
from indexer.teams import TeamsConfig

CSV_FIELDS = ("id", "path", "title", "status", "review_by", "assignee", "assigned_because",
              "banner", "team", "services", "owner", "retired", "url", "flagged", "helpful",
              "unhelpful", "reviewed_by")


def article_row(r: ArticleResult, public_url: str) -> dict[str, Any]:
    return {**r.to_json(), "title": r.title, "team": r.team, "services": list(r.services),
            "owner": r.owner, "retired": r.retired, "url": article_url(public_url, r.id),
            "flagged": r.flagged, "helpful": r.votes.helpful, "unhelpful": r.votes.unhelpful,
            "reviewed_by": r.reviewed_by, "trusted": trusted(r.status, r.flagged)}


def _group(results: Sequence[ArticleResult], key: str) -> dict[str, dict[str, int]]:
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        if r.retired:
            continue
        names: Sequence[str | None]
        if key == "service":
            names = r.services or (None,)
        elif key == "owner":
            names = (r.assignee,)
        else:
            names = (r.team,)
        for name in names:
            groups[name or "(none)"][r.status.value] += 1
    return {name: {s.value: counts[s.value] for s in Status}
            for name, counts in sorted(groups.items())}


def trust_by_team(results: Sequence[ArticleResult]) -> dict[str, dict[str, float | int]]:
    """Per owning team (``(none)``: no team): its live articles, how many are trusted, the share
    (the trust score of ``freshness.digest.trusted``) and its target (the report, /freshness
    and /insights read this one function)."""
    groups: dict[str, list[ArticleResult]] = defaultdict(list)
    for r in results:
        if not r.retired:
            groups[r.team or "(none)"].append(r)
    out: dict[str, dict[str, float | int]] = {}
    for name, mine in sorted(groups.items()):
        ok = sum(trusted(r.status, r.flagged) for r in mine)
        out[name] = {"articles": len(mine), "trusted": ok, "trust": round(ok / len(mine), 4),
                     "target": TRUST_TARGET}
    return out


def build_report(results: Sequence[ArticleResult], public_url: str,
                 today: str | None = None) -> dict[str, Any]:
    live = [r for r in results if not r.retired]
    counts = {s.value: sum(r.status is s for r in live) for s in Status}
    trust = trust_score(_items(results, TeamsConfig()))
    return {"today": today, "counts": counts, "total": len(live),
            "retired": len(results) - len(live), "flagged": sum(r.flagged for r in live),
            "trust": round(trust, 4), "trust_target": TRUST_TARGET,
            "trusted": sum(trusted(r.status, r.flagged) for r in live),
            "trust_by_team": trust_by_team(results),
            "by_owner": _group(results, "owner"), "by_team": _group(results, "team"),
            "by_service": _group(results, "service"),
            "articles": [article_row(r, public_url) for r in results]}


def report_csv(results: Sequence[ArticleResult], public_url: str) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in results:
        row = article_row(r, public_url)
        row["services"] = " ".join(row["services"])
        row["banner"] = "yes" if row["banner"] else "no"
        row["retired"] = "yes" if row["retired"] else "no"
        row["flagged"] = "yes" if row["flagged"] else "no"
        writer.writerow({k: row[k] for k in CSV_FIELDS})
    return buf.getvalue()


def report_text(report: dict[str, Any]) -> str:
    counts = report["counts"]
    lines = [f"Freshness on {report['today']}: {report['total']} articles, trust "
             f"{report['trust']:.0%} (target {report['trust_target']:.0%})",
             "  " + ", ".join(f"{k} {v}" for k, v in counts.items())
             + f", flagged by votes {report['flagged']}"]
    for title, key in (("By team", "by_team"), ("By owner", "by_owner"),
                       ("By service", "by_service")):
        lines.append(f"{title}:")
        for name, c in report[key].items():
            lines.append(f"  {name:<42} " + "  ".join(f"{k} {v}" for k, v in c.items()))
    return "\n".join(lines)
