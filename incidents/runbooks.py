"""Alert -> runbook: (a) the alert's ``runbook_url`` when it points at an article of this knowledge
base, (b) its ``alertname`` as an exact alert of an article, (c) a search over its text, kept only
above a confidence floor; and which team's channel the post goes to.

    >>> resolver = RunbookResolver(RunbookIndex(articles, public_url), searcher.run, floor=0.48)
    >>> resolution = resolver.resolve(alert)
    >>> resolution.runbook.article.id, resolution.runbook.how     # ('redis-down', How.ALERT)
"""

from __future__ import annotations

import re
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from incidents.payloads import Alert
from indexer.article import STAFF, Article, Audience
from indexer.search import LegEvidence, SearchFn, SearchRequest
from indexer.teams import Team, TeamsConfig

# Prometheus/Go template expressions in rule annotations (`{{ $labels.pod }}`, `{{ $value }}`).
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_EXTENSIONS = (".md", ".markdown", ".html", ".htm")
SEARCH_LABELS = ("service", "job", "namespace", "team")


class How(StrEnum):
    """How a runbook was found (a stable name: the API's and the coverage report's ``how``)."""

    RUNBOOK_URL = "runbook_url"
    ALERT = "alert"
    SEARCH = "search"


@dataclass(frozen=True)
class Runbook:
    article: Article
    how: How
    confidence: float | None = None  # the search leg's confidence; None for exact ways


@dataclass(frozen=True)
class Resolution:
    """The answer for one alert. ``broken_url``: it carries a ``runbook_url`` that names no
    article here (the runbook, if any, was then found another way)."""

    alertname: str
    runbook_url: str | None
    runbook: Runbook | None
    broken_url: bool


def _segments(path: str) -> tuple[str, ...]:
    parts = [urllib.parse.unquote(p).lower() for p in path.split("/") if p and p != "."]
    if parts:
        last = parts[-1]
        for ext in _EXTENSIONS:
            if last.endswith(ext):
                parts[-1] = last[: -len(ext)]
                break
    return tuple(parts)


def normalize_url(url: str) -> str:
    """Scheme and host lowercased, fragment, query and trailing slash dropped."""
    parts = urllib.parse.urlsplit(url.strip())
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(),
                                    parts.path.rstrip("/"), "", ""))


def clean_text(text: str) -> str:
    """Alert text without template expressions and runs of blanks."""
    return " ".join(_TEMPLATE.sub(" ", text).split())


class RunbookIndex:
    """The exact ways in, built once per set of articles: ids, front-matter ``urls``, path
    suffixes, alert names."""

    def __init__(self, articles: Iterable[Article], public_url: str = "http://localhost:8000") -> None:
        self.articles = list(articles)
        self.by_id = {a.id: a for a in self.articles}
        base = urllib.parse.urlsplit(public_url)
        self._host = base.netloc.lower()
        self._prefix = base.path.rstrip("/") + "/articles/"
        self._urls: dict[str, Article] = {}
        self._suffixes: dict[tuple[str, ...], set[str]] = defaultdict(set)
        self._alerts: dict[str, list[tuple[int, Article]]] = defaultdict(list)
        for a in self.articles:
            urls = a.extra.get("urls") or a.extra.get("url") or ()
            for url in [urls] if isinstance(urls, str) else urls:
                if isinstance(url, str) and url.strip():
                    self._urls[normalize_url(url)] = a
            segs = _segments(a.path)
            # Suffixes of two segments or more (a folder and a file), or the whole path.
            for start in range(len(segs)):
                if len(segs) - start >= 2 or start == 0:
                    self._suffixes[segs[start:]].add(a.id)
            for pos, name in enumerate(a.alerts):
                self._alerts[name.lower()].append((pos, a))

    def from_url(self, url: str) -> Article | None:
        """The article ``url`` points at, or None."""
        url = url.strip()
        if not url or _TEMPLATE.search(url):
            return None
        hit = self._urls.get(normalize_url(url))
        if hit is not None:
            return hit
        parts = urllib.parse.urlsplit(url)
        host = parts.netloc.lower()
        if (not host or host == self._host) and parts.path.startswith(self._prefix):
            article_id = urllib.parse.unquote(parts.path[len(self._prefix):]).rstrip("/")
            if article_id in self.by_id:
                return self.by_id[article_id]
        segs = _segments(parts.path)
        for start in range(len(segs)):  # the longest suffix naming exactly one article wins
            ids = self._suffixes.get(segs[start:])
            if ids:
                return self.by_id[next(iter(ids))] if len(ids) == 1 else None
        return None

    def from_alert(self, alertname: str, services: Iterable[str] = ()) -> Article | None:
        """The article listing ``alertname`` in its ``alerts``. Several do (an alert shared by
        two runbooks): the one for the alert's service, else the one listing it earliest."""
        cands = self._alerts.get(alertname.lower())
        if not cands:
            return None
        exact = [(p, a) for p, a in cands if alertname in a.alerts] or cands
        wanted = {s.lower() for s in services if s}
        return min(exact, key=lambda pa: (not (wanted & {s.lower() for s in pa[1].services}),
                                          pa[0], pa[1].id))[1]

    def exists(self, article_id: str) -> bool:
        return article_id in self.by_id


class RunbookResolver:
    """Resolves alerts to runbooks. ``search`` is the searcher (``Searcher.run`` or the service's
    pooled function); without it way (c) is skipped."""

    def __init__(self, index: RunbookIndex, search: SearchFn | None = None, floor: float = 0.48,
                 audiences: frozenset[Audience] = STAFF) -> None:
        self.index = index
        self.search = search
        self.floor = floor
        # Runbooks are for engineers: a search finds end-user and engineer articles, never an
        # added audience's (a security article is not posted to whichever channel an alert names).
        self.audiences = audiences

    def resolve(self, alert: Alert) -> Resolution:
        return self.resolve_parts(alert.alertname, alert.runbook_url, alert.text, alert.labels)

    def resolve_parts(self, alertname: str, runbook_url: str | None, text: str,
                      labels: dict[str, str]) -> Resolution:
        broken = False
        if runbook_url:
            found = self.index.from_url(runbook_url)
            if found is not None:
                return Resolution(alertname, runbook_url, Runbook(found, How.RUNBOOK_URL), False)
            broken = True
        services = [labels.get("service", ""), labels.get("job", "")]
        article = self.index.from_alert(alertname, services) if alertname else None
        if article is not None:
            return Resolution(alertname, runbook_url, Runbook(article, How.ALERT), broken)
        return Resolution(alertname, runbook_url, self._search(alertname, text, labels), broken)

    def _search(self, alertname: str, text: str, labels: dict[str, str]) -> Runbook | None:
        body = clean_text(text)
        if self.search is None or not body:
            return None
        extra = " ".join(labels[k] for k in SEARCH_LABELS if labels.get(k))
        query = " ".join(p for p in (alertname, body, extra) if p)[:1000]
        response = self.search(SearchRequest(query, audiences=self.audiences, limit=1,
                                             snippets=False))
        if not response.results:
            return None
        top = response.results[0]
        confidence = search_confidence(top.pinned, top.legs)
        if confidence < self.floor:
            return None
        return Runbook(top.article, How.SEARCH, round(confidence, 4))


def search_confidence(pinned: bool, legs: dict[str, LegEvidence]) -> float:
    """How sure a searched runbook is: an exact identifier hit is certain; a near-verbatim
    fuzzy match of the article's own text is nearly so; otherwise the dense leg's cosine (the
    one score on a fixed scale; fused scores are rank-based and say nothing across queries)."""
    if pinned:
        return 1.0
    fuzzy = legs["fuzzy"].score if "fuzzy" in legs else 0.0
    dense = legs["dense"].score if "dense" in legs else 0.0
    return max(dense, 0.95 if fuzzy >= 95.0 else 0.0)


@dataclass(frozen=True)
class TeamChoice:
    team: Team | None
    because: str  # label | service | default | none


def choose_team(labels: dict[str, str], article: Article | None, teams: TeamsConfig) -> TeamChoice:
    """The ``team`` label, else the team owning the runbook's (or the alert's) service, else the
    default team of ``teams.yaml``."""
    wanted = labels.get("team", "").strip().lower()
    if wanted:
        for team in teams.teams.values():
            if wanted in (team.id.lower(), team.name.lower()):
                return TeamChoice(team, "label")
    services = (*(article.services if article else ()), labels.get("service", ""))
    owner = teams.team_for_services(tuple(s for s in services if s))
    if owner is not None:
        return TeamChoice(owner, "service")
    if teams.default_team and teams.default_team in teams.teams:
        return TeamChoice(teams.teams[teams.default_team], "default")
    return TeamChoice(None, "none")
