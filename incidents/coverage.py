"""Runbook coverage: for every alert declared in Prometheus rule files or received by alert
intake, the runbook it resolves to and how, that runbook's freshness, and what is wrong.

    >>> loaded = load_rules([Path("monitoring/rules")])      # groups: files, PrometheusRule, JSON
    >>> items = cover_declared(loaded.alerts, resolver, freshness_of, teams)
    >>> [i.to_json() for i in items if i.problem]            # the gaps

Rule files are read with a safe YAML loader that refuses aliases (a billion-laughs file expands
from kilobytes to gigabytes) and files over ``MAX_RULE_FILE_BYTES``; a refused or unreadable
file is a ``RulesIssue`` naming file:line, and the other files are still read.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from freshness.policy import Status
from incidents.config import DEFAULT_SEARCH_FLOOR
from incidents.models import AlertSeenRow
from incidents.runbooks import How, RunbookIndex, RunbookResolver, choose_team
from indexer.article import Article
from indexer.search import SearchFn
from indexer.teams import TeamsConfig

MAX_RULE_FILE_BYTES = 8 * 1024 * 1024  # GitLab's largest rule file is 222 KB
RULE_SUFFIXES = (".yml", ".yaml", ".json")
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_TEXT_KEYS = ("summary", "title", "description", "message")
FreshnessOf = Callable[[str], Status | None]
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Problem(StrEnum):
    """What is wrong with an alert's runbook (the report's ``problem``; stable names)."""

    NO_RUNBOOK = "no-runbook"
    BROKEN_URL = "broken-runbook-url"  # a runbook_url naming no article here, or one that is gone
    STALE = "stale-runbook"  # the runbook is past its review-by date (stale or unverified)


@dataclass(frozen=True)
class RulesIssue:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class RulesError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class DeclaredAlert:
    """One alerting rule as written: its name, runbook annotation, pager text, static labels."""

    alert: str
    runbook_url: str | None
    text: str
    labels: dict[str, str]
    where: str  # file:line


@dataclass
class RulesLoad:
    alerts: list[DeclaredAlert] = field(default_factory=list)
    issues: list[RulesIssue] = field(default_factory=list)
    files: int = 0


@dataclass(frozen=True)
class CoverageItem:
    """One alert's coverage; ``to_json`` is the contract of ``fieldguide coverage --json`` and
    ``GET /api/coverage``."""

    alert: str
    source: str  # rules | received
    runbook_url: str | None
    runbook: str | None
    how: How | None
    freshness: Status | None
    problem: Problem | None
    team: str | None
    where: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"alert": self.alert, "source": self.source, "runbook_url": self.runbook_url,
                "runbook": self.runbook, "how": self.how.value if self.how else None,
                "freshness": self.freshness.value if self.freshness else None,
                "problem": self.problem.value if self.problem else None, "team": self.team,
                "where": self.where}


# -- reading rule files ---------------------------------------------------------------------

def _refuse_aliases(text: str) -> None:
    # A pass over the parser's events (C speed) before anything is composed.
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else 0
            raise RulesError(line, f"YAML alias *{event.anchor} refused: rule files are read "
                             "without aliases (they can expand a small file into gigabytes)")


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
                return v
    return None


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _declared(rule: Mapping[str, Any], where: str) -> DeclaredAlert | None:
    name = rule.get("alert") or (rule.get("name") if rule.get("type") == "alerting" else None)
    if not isinstance(name, str) or not name:
        return None  # a recording rule
    annotations = _str_map(rule.get("annotations"))
    for key in ("summary", "description", "message", "title"):  # the shared JSON exports
        if isinstance(rule.get(key), str):
            annotations.setdefault(key, rule[key])
    url = rule.get("runbook_url") if "runbook_url" in rule else None
    url = url or annotations.get("runbook_url") or annotations.get("runbook")
    text = "\n".join(annotations[k] for k in _TEXT_KEYS if annotations.get(k))
    return DeclaredAlert(name, str(url) if url else None, text, _str_map(rule.get("labels")), where)


def _rule_nodes(doc: yaml.Node) -> Iterator[yaml.Node]:
    """The rule nodes of one YAML document: ``groups:`` at the top, a ``PrometheusRule``'s
    ``spec.groups``, or the items of a ``kind: List``."""
    items = _get(doc, "items")
    if isinstance(items, yaml.SequenceNode):
        for item in items.value:
            yield from _rule_nodes(item)
        return
    groups = _get(doc, "groups")
    spec = _get(doc, "spec")
    if groups is None and spec is not None:
        groups = _get(spec, "groups")
    if not isinstance(groups, yaml.SequenceNode):
        return
    for group in groups.value:
        rules = _get(group, "rules")
        if isinstance(rules, yaml.SequenceNode):
            yield from rules.value


def _load_yaml(text: str, shown: str) -> list[DeclaredAlert]:
    _refuse_aliases(text)
    constructor = yaml.SafeLoader("")  # builds plain values from the composed nodes
    out: list[DeclaredAlert] = []
    for doc in yaml.compose_all(text, Loader=_Loader):
        if doc is None:
            continue
        for node in _rule_nodes(doc):
            rule = constructor.construct_object(node, deep=True)
            if isinstance(rule, dict):
                found = _declared(rule, f"{shown}:{node.start_mark.line + 1}")
                if found is not None:
                    out.append(found)
    return out


def _load_json(text: str, shown: str) -> list[DeclaredAlert]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulesError(exc.lineno, f"not JSON: {exc.msg}") from None
    if isinstance(data, dict):  # Prometheus' /api/v1/rules answer, or a groups: document
        data = data.get("data", data)
        groups = data.get("groups") if isinstance(data, dict) else None
        data = [r for g in groups or [] if isinstance(g, dict) for r in g.get("rules") or []]
    if not isinstance(data, list):
        raise RulesError(1, "not a list of alert rules, a groups: object or a /api/v1/rules answer")
    out = []
    for i, rule in enumerate(data):
        if isinstance(rule, dict):
            found = _declared(rule, f"{shown}:#{i}")
            if found is not None:
                out.append(found)
    return out


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*")
                              if p.is_file() and p.suffix.lower() in RULE_SUFFIXES)
        else:
            yield path


def load_rules(paths: Iterable[Path]) -> RulesLoad:
    """Every alerting rule in ``paths`` (files, or folders searched for .yml/.yaml/.json).
    A missing path raises ``FileNotFoundError``; a bad file is an issue and is skipped."""
    out = RulesLoad()
    for path in _files(paths):
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such rule file or folder")
        shown = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_RULE_FILE_BYTES:
                raise RulesError(1, f"{size} bytes is over the {MAX_RULE_FILE_BYTES}-byte limit "
                                 "for a rule file")
            text = path.read_text(encoding="utf-8")
            alerts = (_load_json(text, shown) if path.suffix.lower() == ".json"
                      else _load_yaml(text, shown))
        except RulesError as exc:
            out.issues.append(RulesIssue(shown, exc.line, str(exc)))
            continue
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 1
            out.issues.append(RulesIssue(shown, line, f"not YAML: {exc.problem or exc}"))
            continue
        except yaml.YAMLError as exc:
            out.issues.append(RulesIssue(shown, 1, f"not YAML: {exc}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            out.issues.append(RulesIssue(shown, 1, f"cannot read: {exc}"))
            continue
        out.files += 1
        out.alerts.extend(alerts)
    return out


# -- coverage -------------------------------------------------------------------------------

def _verdict(resolver: RunbookResolver, alert: str, runbook_url: str | None, text: str,
             labels: dict[str, str], freshness_of: FreshnessOf, teams: TeamsConfig,
             source: str, where: str | None) -> CoverageItem:
    # A templated runbook_url ({{ $labels.type }}) names a runbook only once an alert fires:
    # it is neither found nor broken here, and the other ways are tried.
    templated = bool(runbook_url and _TEMPLATE.search(runbook_url))
    res = resolver.resolve_parts(alert, None if templated else runbook_url, text, labels)
    article = res.runbook.article if res.runbook else None
    status = freshness_of(article.id) if article else None
    if res.broken_url:
        problem: Problem | None = Problem.BROKEN_URL
    elif article is None:
        problem = Problem.NO_RUNBOOK
    elif status in (Status.STALE, Status.UNVERIFIED):
        problem = Problem.STALE
    else:
        problem = None
    team = choose_team(labels, article, teams).team
    return CoverageItem(alert, source, runbook_url, article.id if article else None,
                        res.runbook.how if res.runbook else None, status, problem,
                        team.id if team else None, where)


def cover_declared(alerts: Iterable[DeclaredAlert], resolver: RunbookResolver,
                   freshness_of: FreshnessOf, teams: TeamsConfig) -> list[CoverageItem]:
    """One item per declared alert and runbook annotation (a rule repeated with other
    thresholds, as GitLab's are, is one alert)."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for a in alerts:
        key = (a.alert, a.runbook_url)
        if key in seen:
            continue
        seen.add(key)
        out.append(_verdict(resolver, a.alert, a.runbook_url, a.text, a.labels, freshness_of,
                            teams, "rules", a.where))
    return out


def received_rows(session: Session) -> list[AlertSeenRow]:
    """The alerts alert intake recorded (none when its tables do not exist yet)."""
    if not inspect(session.get_bind()).has_table(AlertSeenRow.__tablename__):
        return []
    return list(session.scalars(select(AlertSeenRow).order_by(AlertSeenRow.last_seen.desc(),
                                                               AlertSeenRow.id.desc())))


def cover_received(rows: Iterable[AlertSeenRow], resolver: RunbookResolver,
                   freshness_of: FreshnessOf, teams: TeamsConfig) -> list[CoverageItem]:
    """One item per received alert name and runbook_url, judged against today's articles: a
    runbook found by search at intake stays when its article still exists."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for row in rows:  # newest first: the latest sighting of each alert counts
        key = (row.alertname, row.runbook_url)
        if key in seen:
            continue
        seen.add(key)
        labels = _str_map(row.labels)
        item = _verdict(resolver, row.alertname, row.runbook_url, "", labels, freshness_of,
                        teams, "received", None)
        if (item.runbook is None and row.how == How.SEARCH.value and row.runbook_id
                and resolver.index.exists(row.runbook_id)):
            status = freshness_of(row.runbook_id)
            stale = status in (Status.STALE, Status.UNVERIFIED)
            item = CoverageItem(item.alert, item.source, item.runbook_url, row.runbook_id,
                                How.SEARCH, status,
                                Problem.BROKEN_URL if item.problem is Problem.BROKEN_URL
                                else (Problem.STALE if stale else None), item.team)
        if row.team and item.team != row.team:  # the team intake posted to
            item = replace(item, team=row.team)
        out.append(item)
    return out


def counts(items: Sequence[CoverageItem]) -> dict[str, int]:
    """``alerts``, ``covered`` (a runbook within its review date) and one count per problem."""
    problems = Counter(i.problem.value for i in items if i.problem)
    return {"alerts": len(items), "covered": sum(i.problem is None for i in items),
            **{p.value: problems.get(p.value, 0) for p in Problem}}


def team_counts(items: Sequence[CoverageItem]) -> dict[str, dict[str, int]]:
    by_team: dict[str, list[CoverageItem]] = defaultdict(list)
    for i in items:
        by_team[i.team or "unassigned"].append(i)
    return {team: counts(mine) for team, mine in sorted(by_team.items())}


def report_text(items: Sequence[CoverageItem]) -> str:
    """The readable report: per team, its counts and each alert with its runbook or problem."""
    lines = []
    by_team: dict[str, list[CoverageItem]] = defaultdict(list)
    for i in items:
        by_team[i.team or "unassigned"].append(i)
    for team, mine in sorted(by_team.items()):
        c = counts(mine)
        lines.append(f"{team}: {c['covered']}/{c['alerts']} alerts covered ("
                     + ", ".join(f"{p.value} {c[p.value]}" for p in Problem) + ")")
        for i in sorted(mine, key=lambda x: (x.problem is None, x.alert)):
            state = i.problem.value if i.problem else "ok"
            runbook = (f"{i.runbook} ({i.how.value if i.how else '?'}, "
                       f"{i.freshness.value if i.freshness else 'freshness unknown'})"
                       if i.runbook else "-")
            where = f"  [{i.where}]" if i.where else f"  [{i.source}]"
            lines.append(f"  {state:<19} {i.alert:<40} {runbook}{where}")
    total = counts(items)
    lines.append(f"total: {total['covered']}/{total['alerts']} alerts covered (" + ", ".join(
        f"{p.value} {total[p.value]}" for p in Problem) + ")")
    return "\n".join(lines)


def team_coverage(session: Session, statuses: Mapping[str, Status]) -> dict[str, tuple[int, int]]:
    """Per team, (alerts received with a runbook within its review date, alerts received), from
    the alerts table: the coverage line of the freshness job's weekly summary."""
    fresh: dict[str, set[str]] = defaultdict(set)
    seen: dict[str, set[str]] = defaultdict(set)
    for row in received_rows(session):
        if not row.team:
            continue
        seen[row.team].add(row.alertname)
        if row.runbook_id and statuses.get(row.runbook_id) in (Status.FRESH, Status.DUE_SOON):
            fresh[row.team].add(row.alertname)
    return {team: (len(fresh[team]), len(names)) for team, names in seen.items()}


def build_coverage(articles: Iterable[Article], teams: TeamsConfig, freshness_of: FreshnessOf, *,
                   declared: Iterable[DeclaredAlert] = (), received: Iterable[AlertSeenRow] = (),
                   public_url: str = "http://localhost:8000", search: SearchFn | None = None,
                   floor: float = DEFAULT_SEARCH_FLOOR) -> list[CoverageItem]:
    """The whole report: declared alerts first, then received ones. ``search`` adds the
    search way for alerts the exact ways miss (a runbook only above ``floor``)."""
    resolver = RunbookResolver(RunbookIndex(articles, public_url), search, floor)
    return (cover_declared(declared, resolver, freshness_of, teams)
            + cover_received(received, resolver, freshness_of, teams))
