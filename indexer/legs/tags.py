"""The ``tags`` leg: exact error codes, alert names, services and tags found in the query.

Error codes and alert names are *strong* handles (specific enough that a hit ranks first);
services and tags are *weak* ones (they narrow, they do not decide) unless the whole query is
the tag.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from indexer.article import Article
from indexer.legs import LegHit, Mask, TagMatch
from indexer.normalize import ident_key
from indexer.query import PreparedQuery

STRONG_KINDS = frozenset({"error_code", "alert"})
_MAX_NGRAM = 6
# An identifier-like name: CamelCase with two humps or more (KubePodCrashLooping), no spaces.
_CAMEL_NAME = re.compile(r"[A-Za-z][a-z0-9]*(?:[A-Z][A-Za-z0-9]*){1,}[a-z0-9][A-Za-z0-9]*")
_HUMP = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z][a-z0-9]*|[a-z][a-z0-9]*")
_MENTION = re.compile(r"[`\[]([A-Za-z][A-Za-z0-9]{5,})[`\]]")
_CODE_IN_TITLE = re.compile(r"\b(?:0x[0-9A-Fa-f]{6,8}|[A-Z]{2,}[A-Z0-9]*-?\d{3,})\b")


def is_identifier_name(text: str) -> bool:
    return bool(_CAMEL_NAME.fullmatch(text)) and sum(c.isupper() for c in text) >= 2


@dataclass(frozen=True)
class TagEntry:
    key: str
    doc: int
    kind: str  # error_code | alert | service | tag | title_code
    label: str  # as written in the article


def article_tags(article: Article) -> Iterable[tuple[str, str]]:
    """(kind, label) pairs an article can be found by exactly."""
    for code in article.error_codes:
        yield "error_code", code
    for service in article.services:
        yield "service", service
    for tag in article.tags:
        yield "tag", tag
    alerts = list(article.alerts)
    if not alerts:
        # Imported runbooks are named after their alert: the title or the file name is the alert.
        stem = article.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        alerts = [n for n in dict.fromkeys((article.title.strip(), stem)) if is_identifier_name(n)]
    for alert in alerts:
        yield "alert", alert
        for alias in initialisms(alert):
            yield "alias", alias
    if not article.alerts:
        # Alert names the runbook's opening section names in code or as a link label
        # ("[This alert][HighOverallControlPlaneCPU] fires when ...") often differ from its title.
        opening = next((sec for sec in article.sections if sec.level == 2), None)
        if opening is not None:
            for name in dict.fromkeys(_MENTION.findall(opening.text)):
                if is_identifier_name(name) and name not in alerts:
                    yield "mention", name
    if not article.error_codes:
        for code in dict.fromkeys(_CODE_IN_TITLE.findall(article.title)):
            yield "title_code", code


def initialisms(name: str) -> list[str]:
    """Abbreviated forms people use for long alert names: MachineConfigControllerPoolAlert ->
    MCControllerPoolAlert, MCCPoolAlert, MCCPAlert."""
    humps = _HUMP.findall(name)
    if len(humps) < 4:
        return []
    return ["".join(h[0] for h in humps[:k]) + "".join(humps[k:]) for k in range(2, len(humps))]


class TagsLeg:
    name: ClassVar[str] = "tags"

    def __init__(self, entries: list[TagEntry]) -> None:
        self.entries = entries
        self._by_key: dict[str, list[TagEntry]] = defaultdict(list)
        for entry in entries:
            self._by_key[entry.key].append(entry)
        self._max_n = max((e.key.count(" ") + 1 for e in entries), default=1)
        self._max_n = min(self._max_n, _MAX_NGRAM)

    @classmethod
    def build(cls, articles: list[Article]) -> TagsLeg:
        entries = [TagEntry(key, d, kind, label)
                   for d, a in enumerate(articles)
                   for kind, label in article_tags(a)
                   if (key := ident_key(label))]
        return cls(entries)

    def matches(self, text: str) -> list[TagEntry]:
        words = ident_key(text).split()
        whole = " ".join(words)
        found: list[TagEntry] = []
        seen: set[str] = set()
        for n in range(min(self._max_n, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                key = " ".join(words[i:i + n])
                if key in seen or key not in self._by_key:
                    continue
                seen.add(key)
                for entry in self._by_key[key]:
                    weak = entry.kind not in STRONG_KINDS
                    if weak and key != whole and entry.kind not in ("title_code", "alias", "mention"):
                        found.append(TagEntry(key, entry.doc, entry.kind + "-partial", entry.label))
                    else:
                        found.append(entry)
        return found

    def search(self, query: PreparedQuery, k: int, allowed: Mask | None) -> list[LegHit]:
        per_doc: dict[int, list[TagEntry]] = defaultdict(list)
        for entry in self.matches(query.normalized):
            if allowed is None or allowed[entry.doc]:
                per_doc[entry.doc].append(entry)

        def strength(entries: list[TagEntry]) -> float:
            score = 0.0
            for e in entries:
                if e.kind in STRONG_KINDS or e.kind in ("service", "tag"):
                    score += 10.0 + len(e.key)  # exact identifier, or the whole query is the tag
                elif e.kind in ("title_code", "alias", "mention"):
                    score += 2.0 + len(e.key) / 10
                else:
                    score += 1.0
            return score

        ranked = sorted(per_doc.items(), key=lambda item: -strength(item[1]))[:k]
        return [LegHit(d, strength(es), tuple(TagMatch(e.kind, e.label) for e in es))
                for d, es in ranked]

    @staticmethod
    def is_pinned(hit: LegHit) -> bool:
        """A hit through a strong identifier (or the whole query being a tag) ranks first."""
        return hit.score >= 10.0

    def save(self, directory: Path) -> None:
        rows = [[e.key, e.doc, e.kind, e.label] for e in self.entries]
        (directory / "tags.json").write_text(json.dumps(rows))

    @classmethod
    def load(cls, directory: Path, n_docs: int) -> TagsLeg:
        rows = json.loads((directory / "tags.json").read_text())
        return cls([TagEntry(k, int(d), kind, label) for k, d, kind, label in rows])
