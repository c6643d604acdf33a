"""Commit a draft on a new Git branch for review, without touching the user's work.

Plumbing only (``hash-object``, ``read-tree``/``update-index``/``write-tree`` on a *temporary*
index, ``commit-tree``, ``update-ref``): the new branch is the current ``HEAD`` plus the draft
file. The user's current branch, index (staged changes) and work tree stay exactly as they were
(the draft file itself stays in the work tree, untracked on the current branch); nothing is pushed
and no hook runs. ``update-ref`` with an empty old value refuses a branch that already exists, so
an existing branch is never moved.

    >>> repo = work_tree_of(content_dir)             # DraftError unless a Git work tree
    >>> made = commit_on_branch(repo, draft_path, "kb-draft/incident-12", "Draft: ...")
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from incidents.drafts import DraftError

GIT_TIMEOUT_S = 30


@dataclass(frozen=True)
class WorkTree:
    top: Path  # the work tree's top folder
    head: str | None  # the commit HEAD names; None on a branch with no commit yet


@dataclass(frozen=True)
class BranchCommit:
    branch: str
    commit: str
    parent: str | None


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        run = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise DraftError("git is not installed (needed for --branch)") from None
    except subprocess.TimeoutExpired:
        raise DraftError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
    if check and run.returncode != 0:
        reason = next((line for line in run.stderr.splitlines() if line.strip()), "failed")
        raise DraftError(f"git {args[0]}: {reason.strip()}")
    return run


def work_tree_of(content_dir: Path) -> WorkTree:
    """The Git work tree ``content_dir`` is in; ``DraftError`` when it is in none."""
    if not content_dir.is_dir():
        raise DraftError(f"content directory {content_dir} does not exist")
    probe = _git(content_dir, "rev-parse", "--is-inside-work-tree", check=False)
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        raise DraftError(f"content directory {content_dir} is not a Git work tree: the draft "
                         "can be written, but not committed on a branch")
    top = Path(_git(content_dir, "rev-parse", "--show-toplevel").stdout.strip())
    head = _git(content_dir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    return WorkTree(top, head.stdout.strip() if head.returncode == 0 else None)


def check_branch(repo: WorkTree, branch: str) -> str:
    """``branch`` if it is a valid new branch name; ``DraftError`` when it is malformed or taken."""
    if not branch or branch.startswith("-"):
        raise DraftError(f"not a branch name: {branch!r}", "validation_error")
    valid = _git(repo.top, "check-ref-format", "--branch", branch, check=False)
    if valid.returncode != 0:
        raise DraftError(f"not a branch name: {branch!r}", "validation_error")
    taken = _git(repo.top, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}",
                 check=False)
    if taken.returncode == 0:
        raise DraftError(f"branch {branch!r} already exists: name another one")
    return branch


def commit_on_branch(repo: WorkTree, file: Path, branch: str, message: str) -> BranchCommit:
    """A commit of ``HEAD`` plus ``file`` on the new branch ``branch`` (see the module docstring)."""
    check_branch(repo, branch)
    try:
        rel = file.resolve().relative_to(repo.top.resolve()).as_posix()
    except ValueError:
        raise DraftError(f"{file} is not inside the work tree {repo.top}") from None
    with tempfile.TemporaryDirectory(prefix="fieldguide-draft-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if repo.head is not None:
            _git(repo.top, "read-tree", repo.head, env=env)
        else:
            _git(repo.top, "read-tree", "--empty", env=env)
        blob = _git(repo.top, "hash-object", "-w", "--path", rel, "--", str(file),
                    env=env).stdout.strip()
        _git(repo.top, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
        tree = _git(repo.top, "write-tree", env=env).stdout.strip()
    parents = ["-p", repo.head] if repo.head is not None else []
    commit = _git(repo.top, "commit-tree", tree, *parents, "-m", message).stdout.strip()
    _git(repo.top, "update-ref", "-m", "fieldguide incidents draft", f"refs/heads/{branch}",
         commit, "")
    return BranchCommit(branch, commit, repo.head)
