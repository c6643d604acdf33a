"""Markdown as readable text blocks: paragraphs, lists with their nesting, code, tables as rows.

One block per top-level unit (a paragraph, a list item with everything nested in it, a code block,
a table), so a caller can shorten a text by whole units and never cut a step in half:

    >>> [b.lines for b in text_blocks("1. Open **Mail**:\\n   - iPhone: Settings\\n2. Done")]
    [('1. Open Mail:', '   - iPhone: Settings'), ('2. Done',)]
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it.token import Token

from indexer.normalize import _MD, _inline_text

INDENT = "   "


@dataclass(frozen=True)
class Block:
    """One top-level unit as lines of text; ``item``: a list item (a step, when ``ordered``)."""

    lines: tuple[str, ...]
    kind: str  # "paragraph", "item", "code", "table", "heading"
    ordered: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _inline(tok: Token) -> str:
    return " ".join(_inline_text(tok.children or []).split())


def _close(tokens: list[Token], i: int) -> int:
    """The index just past the token that closes the one opened at ``i``."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j + 1
    return len(tokens)


def _table(tokens: list[Token]) -> list[str]:
    """Rows as cells joined by " · " (no pipes): the header row first."""
    rows: list[str] = []
    cells: list[str] = []
    for tok in tokens:
        if tok.type == "tr_open":
            cells = []
        elif tok.type == "inline":
            cells.append(_inline(tok))
        elif tok.type == "tr_close":
            rows.append(" · ".join(c for c in cells if c))
    return [r for r in rows if r]


def _lines(tokens: list[Token], indent: str) -> list[tuple[list[str], str, bool]]:
    """(lines, kind, ordered) per unit of ``tokens`` (one nesting level), indented."""
    units: list[tuple[list[str], str, bool]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        end = _close(tokens, i) if tok.nesting == 1 else i + 1
        if tok.type in ("paragraph_open", "heading_open"):
            text = _inline(tokens[i + 1]) if i + 1 < end else ""
            if text:
                units.append(([indent + text], tok.type.split("_")[0], False))
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            ordered = tok.type == "ordered_list_open"
            start = int(tok.attrGet("start") or 1) if ordered else 1
            n = 0
            j = i + 1
            while j < end - 1:
                item_end = _close(tokens, j)
                marker = f"{start + n}." if ordered else "-"
                inner = _lines(tokens[j + 1:item_end - 1], indent + INDENT)
                lines = [line for sub, _, _ in inner for line in sub]
                if lines:
                    first = lines[0][len(indent + INDENT):]
                    lines[0] = f"{indent}{marker} {first}"
                else:
                    lines = [f"{indent}{marker}"]
                units.append((lines, "item", ordered))
                n += 1
                j = item_end
        elif tok.type in ("fence", "code_block"):
            code = tok.content.rstrip("\n").split("\n")
            units.append(([indent + INDENT + line for line in code], "code", False))
        elif tok.type == "table_open":
            units.append(([indent + row for row in _table(tokens[i:end])], "table", False))
        elif tok.type == "blockquote_open":
            units.extend(_lines(tokens[i + 1:end - 1], indent))
        elif tok.type == "html_block":
            text = " ".join(_inline_text(_MD.parseInline(tok.content)[0].children or []).split()) \
                if tok.content.strip() else ""
            if text:
                units.append(([indent + text], "paragraph", False))
        i = end
    return units


def text_blocks(markdown: str) -> list[Block]:
    """The top-level units of ``markdown`` as text (emphasis and link targets dropped, code and
    identifiers as written, nested lists indented under their item)."""
    return [Block(tuple(lines), kind, ordered)
            for lines, kind, ordered in _lines(_MD.parse(markdown), "")]
