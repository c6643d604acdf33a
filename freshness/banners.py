"""The unverified banner block in Markdown sources: written and removed idempotently, byte-exact.

The block sits right after the H1 line (or after the front matter when there is no H1) between
two HTML comment markers, so a wiki that renders the files shows it and removing it restores
the file byte for byte.
"""

from __future__ import annotations

import re
from pathlib import Path

from indexer.files import read_regular, write_atomic
from indexer.parse import MAX_ARTICLE_BYTES

START = "<!-- fieldguide:banner:start (written by `fieldguide freshness --write-banners`) -->"
END = "<!-- fieldguide:banner:end -->"
_BLOCK = re.compile(
    rb"<!-- fieldguide:banner:start[^\n]*-->\r?\n(?:(?!<!-- fieldguide:banner:end).*\n)*?"
    rb"<!-- fieldguide:banner:end -->\r?\n")
_FRONT = re.compile(rb"\A(?:\xef\xbb\xbf)?---\r?\n.*?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_H1 = re.compile(rb"^#[ \t][^\n]*(?:\n|\Z)", re.M)


def render_block(text: str, newline: str = "\n") -> bytes:
    lines = [START, *(f"> {line}" if line else ">" for line in text.splitlines()), END]
    return (newline.join(lines) + newline).encode("utf-8")


def has_banner(data: bytes) -> bool:
    return _BLOCK.search(data) is not None


def remove_banner(data: bytes) -> bytes:
    return _BLOCK.sub(b"", data, count=1)


def add_banner(data: bytes, text: str) -> bytes:
    """``data`` with exactly one banner block carrying ``text`` (replacing an older one)."""
    data = remove_banner(data)
    newline = "\r\n" if b"\r\n" in data[:4096] else "\n"
    front = _FRONT.match(data)
    start = front.end() if front else 0
    h1 = _H1.search(data, start)
    # Only the H1 at the top of the body counts; otherwise put the block first in the body.
    at = h1.end() if h1 and not data[start:h1.start()].strip() else start
    if at and not data[:at].endswith(b"\n"):
        return data[:at] + newline.encode() + render_block(text, newline) + data[at:]
    return data[:at] + render_block(text, newline) + data[at:]


def sync_banner(path: Path, text: str | None, dry_run: bool = False) -> bool:
    """Make the file carry the banner (``text``) or none (None); True when it changed.

    Only a regular file is edited (a symbolic link is refused, never replaced by a file); the
    new content is written beside it, flushed to disk and renamed over it, so a crash leaves
    either the old file or the new one."""
    data = read_regular(path, MAX_ARTICLE_BYTES)
    new = add_banner(data, text) if text is not None else remove_banner(data)
    if new == data:
        return False
    if not dry_run:
        write_atomic(path, new)
    return True
