"""Answer text from an article: its resolution steps, or the section that matched best."""

from __future__ import annotations

import re

from indexer.article import Article, Section
from indexer.normalize import plain

MAX_STEPS = 8


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip(" ,;:") + "…"


def _steps(section: Section) -> str:
    items = [" ".join(plain(item).split()) for item in section.list_items[:MAX_STEPS]]
    items = [i for i in items if i]
    if not items:
        return ""
    if section.ordered_list:
        return "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1))
    return "\n".join(f"- {item}" for item in items)


def _body(section: Section) -> str:
    text = plain(section.text)
    # Keep paragraphs, drop runs of blank lines.
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def answer_text(article: Article, section_label: str | None, limit: int) -> str:
    """A short readable answer: the Resolution steps, else the best-matching section."""
    section = article.section("resolution")
    if section is None and section_label and section_label != "head":
        section = next((s for s in article.sections
                        if (s.key or s.heading) == section_label and s.text.strip()), None)
    if section is None:
        section = next((s for s in article.sections if s.level > 1 and s.text.strip()), None)
    if section is None:
        section = next((s for s in article.sections if s.text.strip()), None)
    if section is None:
        return article.title
    body = _steps(section) or _body(section)
    return _clip(body, limit)
