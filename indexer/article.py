"""Typed values passed between the indexer's stages: articles, sections, chunks and lint issues."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Audience(StrEnum):
    """Who may read an article. Anonymous callers only ever see ``END_USER`` articles."""

    END_USER = "end-user"
    ENGINEER = "engineer"

    @classmethod
    def parse(cls, value: str) -> Audience:
        try:
            return cls(value.strip().lower())
        except ValueError:
            allowed = ", ".join(a.value for a in cls)
            raise ValueError(f"unknown audience {value!r} (allowed: {allowed})") from None


# The templated sections, in their required order. Keys are the canonical names used in
# code; values are the headings authors write.
TEMPLATE_SECTIONS: dict[str, str] = {
    "symptom": "Symptom",
    "likely_causes": "Likely causes",
    "diagnostic_steps": "Diagnostic steps",
    "resolution": "Resolution",
    "escalation_criteria": "Escalation criteria",
}


@dataclass(frozen=True)
class Section:
    """One heading and the text under it (down to the next heading of the same or higher level)."""

    heading: str
    level: int
    text: str  # Markdown source of the body, heading line excluded
    line: int  # 1-based line of the heading in the file (0 for the lead-in before any heading)
    key: str | None = None  # canonical template key when the heading is a template section
    list_items: tuple[str, ...] = ()  # top-level list items, when the body is a list
    ordered_list: bool = False


@dataclass(frozen=True)
class Link:
    target: str
    line: int


@dataclass(frozen=True)
class Article:
    """A parsed article. ``id`` is the front-matter id or the path without ``.md``."""

    id: str
    path: str  # relative to the content root, '/' separators
    title: str
    body: str  # Markdown body without front matter
    body_line: int  # 1-based file line where the body starts (after the front matter)
    sections: tuple[Section, ...]
    symptoms: tuple[str, ...] = ()
    error_codes: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    audience: tuple[Audience, ...] = (Audience.ENGINEER,)
    audience_declared: bool = False  # False: defaulted (none or unknown values in the file)
    owner: str | None = None
    team: str | None = None
    created: dt.date | None = None
    last_reviewed: dt.date | None = None
    review_interval_days: int | None = None
    templated: bool = False  # front matter carries Fieldguide keys / template sections
    links: tuple[Link, ...] = ()  # link targets in the body, with their file lines
    content_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # unknown front-matter keys, kept

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Exact-match handles: error codes, alert names, services and tags."""
        return self.error_codes + self.alerts + self.services + self.tags

    def visible_to(self, audiences: frozenset[Audience]) -> bool:
        return any(a in audiences for a in self.audience)


@dataclass(frozen=True)
class Chunk:
    """A unit of dense retrieval: the title with the symptoms, or the title with one section."""

    article: int  # index into the snapshot's article table
    kind: str  # "head" or the section key/heading
    text: str


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class LintIssue:
    """A problem in the content: reported as ``path:line: code message``; never an exception."""

    path: str
    line: int
    code: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code} {self.message}"
