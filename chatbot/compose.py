"""Answer text from an article: its resolution steps, or the section that matched best.

The section is kept as it is written (paragraphs, nested lists, code, tables as rows) and
shortened only by whole top-level units, with a pointer to the rest: a step is never cut in half.
"""

from __future__ import annotations

from indexer.article import Article, Section
from indexer.blocks import Block, text_blocks


def _more(rest: list[Block]) -> str:
    steps = sum(1 for b in rest if b.kind == "item")
    if steps:
        return f"See the article for {steps} more step{'s' if steps != 1 else ''}."
    return "See the article for the rest."


def _join(blocks: list[Block]) -> str:
    """Items of one list on consecutive lines; a blank line around everything else."""
    out: list[str] = []
    for n, block in enumerate(blocks):
        if n:
            same_list = block.kind == "item" and blocks[n - 1].kind == "item"
            out.append("\n" if same_list else "\n\n")
        out.append(block.text)
    return "".join(out)


def shorten(blocks: list[Block], limit: int) -> str:
    """The blocks that fit in about ``limit`` characters (always the first), whole, then a line
    saying how many steps the article has beyond them. A lead-in ("To open a calendar:") left
    last goes with what it introduces."""
    size = 0
    for n, block in enumerate(blocks):
        size += len(block.text) + 2
        if n and size > limit:
            while n > 1 and blocks[n - 1].kind in ("paragraph", "heading"):
                n -= 1
            return _join(blocks[:n]) + "\n\n" + _more(blocks[n:])
    return _join(blocks)


def _pick(article: Article, section_label: str | None) -> Section | None:
    section = article.section("resolution")
    if section is None and section_label and section_label != "head":
        section = next((s for s in article.sections
                        if (s.key or s.heading) == section_label and s.text.strip()), None)
    if section is None:
        section = next((s for s in article.sections if s.level > 1 and s.text.strip()), None)
    if section is None:
        section = next((s for s in article.sections if s.text.strip()), None)
    return section


def answer_text(article: Article, section_label: str | None, limit: int) -> str:
    """A readable answer: the Resolution, else the best-matching section, whole units only."""
    section = _pick(article, section_label)
    blocks = text_blocks(section.text) if section is not None else []
    if not blocks:
        return article.title
    return shorten(blocks, limit)
