"""Walk a content directory: parse every Markdown file, lint it, keep what can be indexed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from indexer.article import BUILTIN_AUDIENCES, Article, Audience, LintIssue
from indexer.files import RefusedFile, walk
from indexer.lint import lint_article, lint_duplicates, lint_links
from indexer.parse import MAX_ARTICLE_BYTES, parse_file
from indexer.teams import TEAMS_FILE, TeamsConfig


@dataclass
class ContentScan:
    articles: list[Article] = field(default_factory=list)
    issues: list[LintIssue] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # paths that could not be indexed
    teams: TeamsConfig = field(default_factory=TeamsConfig)
    files: int = 0


def markdown_files(root: Path, refused: list[LintIssue] | None = None) -> list[Path]:
    """Every ``*.md`` under ``root``, skipping hidden folders, sorted for stable ids. Symbolic
    links are never followed; each is reported into ``refused``."""

    def report(path: Path, why: RefusedFile) -> None:
        if refused is not None:
            refused.append(LintIssue(path.relative_to(root).as_posix(), 1, why.code, why.message))

    return sorted(walk(root, ".md", report))


def scan_content(root: Path, default_audience: Audience = Audience.ENGINEER,
                 today: dt.date | None = None, max_bytes: int = MAX_ARTICLE_BYTES,
                 audiences: Collection[Audience] = BUILTIN_AUDIENCES) -> ContentScan:
    """Parse and lint every article under ``root``; ``audiences`` is the vocabulary
    (``FIELDGUIDE_AUDIENCES``) an article's ``audience`` must come from."""
    if not root.is_dir():
        raise FileNotFoundError(f"content directory {root} does not exist")
    scan = ContentScan()
    scan.teams, team_issues = TeamsConfig.load(root / TEAMS_FILE)
    scan.issues.extend(team_issues)
    parsed: list[Article] = []
    refused: list[LintIssue] = []
    files = markdown_files(root, refused)
    scan.issues.extend(refused)
    scan.skipped.extend(i.path for i in refused)
    for path in files:
        scan.files += 1
        result = parse_file(path, root, max_bytes=max_bytes, audiences=audiences)
        scan.issues.extend(result.issues)
        if result.draft:
            continue
        if result.article is None:
            scan.skipped.append(path.relative_to(root).as_posix())
            continue
        article = result.article
        if not article.audience and not article.audience_declared:
            article = dataclasses.replace(article, audience=(default_audience,))
        parsed.append(article)
    kept, dup_issues = lint_duplicates(parsed)
    scan.issues.extend(dup_issues)
    scan.skipped.extend(i.path for i in dup_issues)
    known = {a.path for a in kept}
    for article in kept:
        scan.issues.extend(lint_article(article, scan.teams, today))
        scan.issues.extend(lint_links(article, known))
    # An article naming only audiences outside the vocabulary (its unknown-audience errors say
    # where): who may read it is unknown, and the default could widen it (a mistyped "securty"
    # must not become every engineer's), so it stays out of the index until it is fixed.
    unreadable = [a.path for a in kept if not a.audience]
    scan.skipped.extend(unreadable)
    scan.articles = [a for a in kept if a.audience]
    return scan
