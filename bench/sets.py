"""The development query sets: the shared ones (``../shared/benchmarks/sets.json``) and the ones
this repository builds (``bench/data/sets.json``), each with its content root and its queries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
LOCAL = _HERE / "data" / "sets.json"
DEVELOPMENT = ("alerts-prometheus", "alerts-openshift", "officedocs-errors", "stackfaq",
               "alerts-gitlab")


@dataclass(frozen=True)
class QuerySet:
    name: str
    root: Path  # the content root
    queries: Path  # JSON Lines: {"id", "query", "relevant": [path, ...], "kind"}

    def load(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.queries.open() if line.strip()]


def default_shared() -> Path:
    """The ``shared/`` folder beside the nearest ancestor checkout that has one (a git worktree
    under ``wt/`` finds the same folder as the main checkout)."""
    for parent in _HERE.parents:
        if (parent / "shared" / "benchmarks" / "sets.json").is_file():
            return parent / "shared"
    return _HERE.parents[1] / "shared"


def query_sets(shared: Path) -> dict[str, QuerySet]:
    """Every registered set by name; a set's ``queries`` path is relative to its registry's
    folder, its ``content_root`` to ``shared``."""
    out: dict[str, QuerySet] = {}
    for registry in (shared / "benchmarks" / "sets.json", LOCAL):
        if not registry.is_file():
            continue
        for name, spec in json.loads(registry.read_text()).items():
            out[name] = QuerySet(name, shared / spec["content_root"],
                                 registry.parent / spec["queries"])
    return out
