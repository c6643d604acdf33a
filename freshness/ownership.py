"""Who reviews an article: the one rule lives in ``indexer.ownership`` (lint and the pages use
it too); the freshness package imports it from here."""

from __future__ import annotations

from indexer.ownership import UNASSIGNED, Assignment, owning_team, resolve

__all__ = ["UNASSIGNED", "Assignment", "owning_team", "resolve"]
