"""Walk a content directory: parse every Markdown file, lint it, keep what can be indexed.

Files under ``drafts/`` (``DRAFTS_DIR``) are parsed and linted as drafts (a section still to be
written is a ``todo`` warning) but never kept: nothing serves them (search, article pages, chat,
ChatOps, coverage, freshness) until they are moved out of ``drafts/``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from indexer.article import BUILTIN_AUDIENCES, Article, Audience, LintIssue, Severity
from indexer.files import RefusedFile, walk
from indexer.lint import lint_article, lint_duplicates, lint_links
from indexer.parse import MAX_ARTICLE_BYTES, parse_file
from indexer.teams import TEAMS_FILE, TeamsConfig

DRAFTS_DIR = "drafts"  # content/drafts/: linted, never indexed


@dataclass
class ContentScan:
    articles: list[Article] = field(default_factory=list)
    issues: list[LintIssue] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # paths that could not be indexed
    drafts: list[str] = field(default_factory=list)  # paths under drafts/: linted, not indexed
    teams: TeamsConfig = field(default_factory=TeamsConfig)
    files: int = 0


def markdown_files(root: Path, refused: list[LintIssue] | None = None) -> list[Path]:
    """Every ``*.md`` under ``root``, skipping hidden folders, sorted for stable ids. Symbolic
    links are never followed; each is reported into ``refused``."""

    def report(path: Path, why: RefusedFile) -> None:
        if refused is not None:
            refused.append(LintIssue(path.relative_to(root).as_posix(), 1, why.code, why.message))

    return sorted(walk(root, ".md", report))


def is_draft_path(rel: str) -> bool:
    """Whether a content-relative path (``/`` separators) is a draft's."""
    return rel.split("/", 1)[0] == DRAFTS_DIR and "/" in rel


def scan_content(root: Path, default_audience: Audience = Audience.ENGINEER,
                 today: dt.date | None = None, max_bytes: int = MAX_ARTICLE_BYTES,
                 audiences: Collection[Audience] = BUILTIN_AUDIENCES) -> ContentScan:
    """Parse and lint every article under ``root``; ``audiences`` is the vocabulary
    (``FIELDGUIDE_AUDIENCES``) an article's ``audience`` must come from."""
    if root.exists() and not root.is_dir():
        raise FileNotFoundError(f"content directory {root} is a file, not a directory: point "
                                "--content (FIELDGUIDE_CONTENT_DIR) at the folder of articles")
    if not root.is_dir():
        raise FileNotFoundError(f"content directory {root} does not exist")
    scan = ContentScan()
    scan.teams, team_issues = TeamsConfig.load(root / TEAMS_FILE)
    scan.issues.extend(team_issues)
    parsed: list[Article] = []
    drafts: list[Article] = []
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
        rel = path.relative_to(root).as_posix()
        if is_draft_path(rel):
            scan.drafts.append(rel)
        if result.article is None:
            scan.skipped.append(rel)
            continue
        article = result.article
        if not article.audience and not article.audience_declared:
            article = dataclasses.replace(article, audience=(default_audience,))
        (drafts if is_draft_path(rel) else parsed).append(article)
    kept, dup_issues = lint_duplicates(parsed)
    scan.issues.extend(dup_issues)
    scan.skipped.extend(i.path for i in dup_issues)
    known = {a.path for a in kept}
    for article in kept:
        scan.issues.extend(lint_article(article, scan.teams, today))
        scan.issues.extend(lint_links(article, known))
    taken = {a.id: a.path for a in kept}
    for draft in drafts:
        scan.issues.extend(lint_article(draft, scan.teams, today, draft=True))
        scan.issues.extend(lint_links(draft, known))
        if draft.id in taken:
            scan.issues.append(LintIssue(draft.path, 1, "duplicate-id", f"id {draft.id!r} is "
                                         f"already used by {taken[draft.id]}: rename the draft "
                                         "before publishing it", Severity.WARNING))
    # An article naming only audiences outside the vocabulary (its unknown-audience errors say
    # where): who may read it is unknown, and the default could widen it (a mistyped "securty"
    # must not become every engineer's), so it stays out of the index until it is fixed.
    unreadable = [a.path for a in kept if not a.audience]
    scan.skipped.extend(unreadable)
    scan.articles = [a for a in kept if a.audience]
    return scan
