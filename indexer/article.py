"""Typed values passed between the indexer's stages: articles, sections, chunks and lint issues."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

_AUDIENCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class Audience(str):
    """Who may read an article: a name from the configured vocabulary (``FIELDGUIDE_AUDIENCES``;
    always ``end-user`` and ``engineer``, plus whatever an organisation adds, e.g. ``security``).
    Anonymous callers only ever see ``END_USER`` articles.

        >>> vocabulary = audience_vocabulary(["end-user", "engineer", "security"])
        >>> Audience.parse("Security", vocabulary)   # Audience('security')
        >>> Audience.parse("secret", vocabulary)     # ValueError naming the allowed values
    """

    __slots__ = ()
    END_USER: ClassVar[Audience]
    ENGINEER: ClassVar[Audience]

    def __new__(cls, value: str) -> Audience:
        name = str(value).strip().lower()
        if not _AUDIENCE_NAME.fullmatch(name):
            raise ValueError(f"audience {value!r} is not a name (lower-case letters, digits, '-' "
                             "or '_', at most 32 characters)")
        return super().__new__(cls, name)

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Audience({self.value!r})"

    @classmethod
    def parse(cls, value: str, vocabulary: Collection[Audience] | None = None) -> Audience:
        """``value`` as an audience of ``vocabulary`` (default: the built-in two)."""
        allowed = BUILTIN_AUDIENCES if vocabulary is None else tuple(vocabulary)
        try:
            audience = cls(value)
        except ValueError:
            audience = None
        if audience is None or audience not in allowed:
            raise ValueError(f"unknown audience {str(value).strip()!r} (allowed: "
                             f"{', '.join(a.value for a in allowed)})") from None
        return audience

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str))


Audience.END_USER = Audience("end-user")
Audience.ENGINEER = Audience("engineer")
# The vocabulary every deployment has; FIELDGUIDE_AUDIENCES may add more, never remove these.
BUILTIN_AUDIENCES: tuple[Audience, ...] = (Audience.END_USER, Audience.ENGINEER)
# What an engineer reads: the built-in two, never an audience an organisation added (those are
# granted by groups or keys, e.g. ``sec-team=engineer:security``).
STAFF: frozenset[Audience] = frozenset(BUILTIN_AUDIENCES)


def audience_vocabulary(names: Iterable[str] = ()) -> tuple[Audience, ...]:
    """The built-in audiences followed by ``names`` (deduplicated, in order); a ValueError for
    a malformed name."""
    found = list(BUILTIN_AUDIENCES)
    for name in names:
        audience = Audience(name)
        if audience not in found:
            found.append(audience)
    return tuple(found)


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
    audience_declared: bool = False  # False: none in the file, the default applies
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
