"""Hostile content is refused, never followed, expanded or trusted (issue 16).

1. A symbolic link (to a file outside the content root, or to a folder) is not followed: the
   file is reported `symlink` and not indexed, and `--write-banners` never replaces a link.
2. A YAML alias bomb or absurd nesting in front matter or teams.yaml is a `bad-front-matter`
   line with its file:line, at once; oversized front matter too.
3. A FIFO is refused instead of blocking the scan.
4. A file that claims another article's id does not shadow the file named after that id.
5. A build that fails while writing leaves no half-written version behind.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from freshness.banners import START, sync_banner
from freshness.job import ArticleResult, sync_banners
from freshness.policy import Status
from indexer.article import Audience
from indexer.content import scan_content
from indexer.files import RefusedFile
from indexer.teams import TeamsConfig

ARTICLE = """---
id: {id}
title: {title}
audience: [{audience}]
owner: ana@example.com
---
# {title}

Body text about {title}.
"""

BOMB = """---
title: Looks harmless
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
---
# Looks harmless
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def issues_by_path(scan: object) -> dict[str, str]:
    return {i.path: str(i) for i in scan.issues}  # type: ignore[attr-defined]


def test_symlinks_are_reported_and_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "content"
    secret = write(tmp_path, "outside/passwd.md", ARTICLE.format(
        id="passwd", title="root:x:0:0", audience="end-user"))
    write(root, "end-user/ok.md", ARTICLE.format(id="ok", title="Printer offline",
                                                 audience="end-user"))
    (root / "end-user" / "passwd.md").symlink_to(secret)
    (root / "linked").symlink_to(secret.parent, target_is_directory=True)
    scan = scan_content(root)
    assert [a.id for a in scan.articles] == ["ok"]
    found = issues_by_path(scan)
    assert found["end-user/passwd.md"].startswith("end-user/passwd.md:1: symlink ")
    assert found["linked"].startswith("linked:1: symlink ")
    assert set(scan.skipped) == {"end-user/passwd.md", "linked"}


def test_write_banners_never_replaces_a_symlink(tmp_path: Path) -> None:
    target = write(tmp_path, "elsewhere/real.md", "# Real\n\nText.\n")
    link = tmp_path / "content" / "a.md"
    link.parent.mkdir()
    link.symlink_to(target)
    with pytest.raises(RefusedFile):
        sync_banner(link, "This article has not been reviewed.")
    result = ArticleResult(
        id="a", path="a.md", title="Real", status=Status.UNVERIFIED, review_by=dt.date(2026, 1, 1),
        assignee="ana@example.com", assigned_because="owner", banner=True, team=None, services=(),
        owner="ana@example.com", reviewed_on=None, unverified_since=dt.date(2026, 1, 15))
    assert sync_banners([result], tmp_path / "content", dry_run=False) == []
    assert link.is_symlink() and target.read_text() == "# Real\n\nText.\n"


def test_banner_write_keeps_the_file_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", "# Title\n\nText.\n")
    path.chmod(0o640)
    assert sync_banner(path, "Unverified since 2026-01-01.")
    assert START in path.read_text()
    assert (path.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]


def test_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    write(tmp_path, "bomb.md", BOMB)
    write(tmp_path, "deep.md", "---\ntitle: Deep\nx: " + "[" * 40 + "]" * 40 + "\n---\n# Deep\n")
    write(tmp_path, "fat.md", "---\ntitle: Fat\nnotes: '" + "x" * 70_000 + "'\n---\n# Fat\n")
    scan = scan_content(tmp_path)
    assert scan.articles == []
    found = issues_by_path(scan)
    assert found["bomb.md"].startswith("bomb.md:4: bad-front-matter ")
    assert "aliases" in found["bomb.md"]
    assert "nested deeper than" in found["deep.md"]
    assert "longer than 64 KiB" in found["fat.md"]


def test_teams_file_with_aliases_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "teams.yaml", "x: &x [1, 2]\nteams:\n  net: {members: *x}\n")
    teams, issues = TeamsConfig.load(tmp_path / "teams.yaml")
    assert teams.teams == {}
    assert [i.code for i in issues] == ["bad-teams-file"] and "aliases" in issues[0].message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")
    write(tmp_path, "ok.md", ARTICLE.format(id="ok", title="Fine", audience="end-user"))
    scan = scan_content(tmp_path)
    assert [a.id for a in scan.articles] == ["ok"]
    assert issues_by_path(scan)["pipe.md"].startswith("pipe.md:1: not-a-file ")


def test_an_impostor_does_not_shadow_the_runbook_named_after_the_id(tmp_path: Path) -> None:
    # "aaa" sorts before "engineering": by path order alone the impostor would win.
    write(tmp_path, "aaa/steal.md", ARTICLE.format(
        id="tls-certificate-expired", title="Call this number", audience="end-user"))
    write(tmp_path, "engineering/tls-certificate-expired.md", ARTICLE.format(
        id="tls-certificate-expired", title="Expired TLS certificate", audience="engineer"))
    scan = scan_content(tmp_path)
    [kept] = scan.articles
    assert kept.path == "engineering/tls-certificate-expired.md"
    assert kept.audience == (Audience.ENGINEER,)
    assert "aaa/steal.md" in scan.skipped
    assert "already used by engineering/tls-certificate-expired.md" in \
        issues_by_path(scan)["aaa/steal.md"]
