"""Template and metadata checks. Every problem is a ``LintIssue``; nothing here raises."""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from indexer.article import TEMPLATE_SECTIONS, Article, LintIssue, Severity
from indexer.ownership import resolve
from indexer.parse import iter_links
from indexer.teams import TeamsConfig

W = Severity.WARNING
# A line a draft leaves for the author: ``TODO: ...`` (also as a list item, ``1. TODO ...``).
TODO_LINE = re.compile(r"^[ \t]*(?:[-*+][ \t]+|\d+[.)][ \t]+)?TODO\b", re.M)


def has_todo(text: str) -> bool:
    """Whether a section still holds a draft's ``TODO`` line."""
    return TODO_LINE.search(text) is not None


def lint_article(article: Article, teams: TeamsConfig, today: dt.date | None = None,
                 draft: bool = False) -> list[LintIssue]:
    """The template and metadata checks. ``draft`` (a file under ``drafts/``): a template section
    that still says ``TODO`` is a ``todo`` warning; in a published article it is an error."""
    today = today or dt.date.today()
    out: list[LintIssue] = []
    p = article.path

    def issue(line: int, code: str, msg: str, sev: Severity = Severity.ERROR) -> None:
        out.append(LintIssue(p, line, code, msg, sev))

    if not article.audience_declared:
        issue(1, "default-audience", "no audience declared: the default applies", W)
    if not article.templated:
        missing = [h for k, h in TEMPLATE_SECTIONS.items() if article.section(k) is None]
        if missing:
            issue(1, "not-templated", "does not follow the template (indexed as it is); missing: "
                  + ", ".join(missing), W)
        return out

    # Sections: present and in order.
    positions: list[int] = []
    todo: set[str] = set()
    for key, heading in TEMPLATE_SECTIONS.items():
        sec = article.section(key)
        if sec is None:
            issue(1, "missing-section", f"missing section `## {heading}`")
        else:
            positions.append(sec.line)
            if not sec.text.strip():
                issue(sec.line, "empty-section", f"section `## {heading}` is empty")
            elif has_todo(sec.text):
                todo.add(key)
                if draft:
                    issue(sec.line, "todo", f"section `## {heading}` is still to be written "
                          "(replace its TODO)", W)
                else:
                    issue(sec.line, "todo", f"section `## {heading}` still says TODO: write it "
                          "before publishing, or move the file back to drafts/")
    if positions != sorted(positions):
        issue(1, "section-order", "template sections are out of order (" +
              ", ".join(TEMPLATE_SECTIONS.values()) + ")", W)
    causes = article.section("likely_causes")
    if causes is not None and causes.text.strip() and "likely_causes" not in todo \
            and not (causes.list_items and causes.ordered_list):
        issue(causes.line, "causes-not-list",
              "`## Likely causes` must be a numbered list, most probable first")
    if not article.symptoms:
        issue(1, "no-symptoms", "no `symptoms:` listed: users search by what they see", W)

    # Ownership: an owner, or a team that can take the article over.
    if article.team is not None and article.team not in teams.teams and teams.teams:
        issue(1, "unknown-team", f"team {article.team!r} is not in teams.yaml")
    who = resolve(article, teams)  # the one rule the pages and the freshness job follow
    if not article.owner:
        if who.team is None:
            issue(1, "no-owner", "no `owner` and no team to fall back on: nobody is reminded to "
                  "review it (set `owner`, `team`, a service owned in teams.yaml, or "
                  "teams.yaml's `default_team`)", W)
        else:
            issue(1, "no-owner", f"no `owner`: reviews go to team {who.team.id} "
                  f"({who.reason.partition(':')[2]})", W)
    elif teams.teams and teams.team_of_member(article.owner) is None:
        goes = f"team {who.team.id}" if who.team is not None else "nobody (no team resolves)"
        issue(1, "owner-not-in-team",
              f"owner {article.owner} is not a member of any team; reviews go to {goes}", W)
    for service in article.services:
        if teams.services and service not in teams.services:
            issue(1, "unknown-service", f"service {service!r} is not in teams.yaml", W)

    # Dates.
    if article.last_reviewed is None and article.created is None:
        issue(1, "no-review-date", "no `last_reviewed` or `created` date: treated as stale", W)
    for key, value in (("created", article.created), ("last_reviewed", article.last_reviewed)):
        if value is not None and value > today:
            issue(1, "future-date", f"`{key}` {value.isoformat()} is in the future")
    return out


def lint_links(article: Article, known_paths: set[str]) -> Iterable[LintIssue]:
    base = posixpath.dirname(article.path)
    for href, line in iter_links(article):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            continue
        if not parts.path.endswith(".md"):
            continue
        target = posixpath.normpath(posixpath.join(base, unquote(parts.path)))
        if target not in known_paths:
            yield LintIssue(article.path, line, "broken-link", f"link to {href!r}: no such article")


def owns_id(article: Article) -> bool:
    """The file is named after the id it claims (``.../tls-certificate-expired.md`` for
    ``tls-certificate-expired``, or the id is its path)."""
    stem = article.path.rsplit("/", 1)[-1].removesuffix(".md")
    return article.id in (stem, article.path.removesuffix(".md"))


def lint_duplicates(articles: Iterable[Article]) -> tuple[list[Article], list[LintIssue]]:
    """One article per id; the others are reported and not indexed.

    The file named after the id keeps it, whatever the path order: another file that claims the
    id (a copy that kept its front matter, or an end-user page claiming a runbook's id) must not
    shadow it. Among files that are not named after it, the first by path keeps it."""
    items = list(articles)
    claims: dict[str, list[Article]] = {}
    for a in items:
        claims.setdefault(a.id, []).append(a)
    winner = {aid: next((a for a in group if owns_id(a)), group[0])
              for aid, group in claims.items()}
    kept: list[Article] = []
    issues: list[LintIssue] = []
    for a in items:
        first = winner[a.id]
        if first is not a:
            issues.append(LintIssue(a.path, 1, "duplicate-id",
                                    f"id {a.id!r} is already used by {first.path}; not indexed"))
            continue
        kept.append(a)
    return kept, issues
