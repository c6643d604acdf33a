"""Reading the content directory without trusting it.

Content comes from a Git checkout or a wiki export: anyone who can push a file there must not be
able to make the indexer read outside it, hang on it or exhaust memory. So a file is read only
when it is a regular file reached without following a symbolic link (``O_NOFOLLOW`` on the file,
symlinked folders are not entered), within a size limit checked on the open file itself, and
FIFOs and devices are refused instead of blocking.

    >>> for path in walk(root, ".md", refused.append): data = read_regular(path, 2 << 20)
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

# How deep YAML may nest (front matter and teams.yaml need 3 or 4 levels).
MAX_YAML_DEPTH = 16
SYMLINK = ("a symbolic link: not followed (content is read only from regular files inside the "
           "content directory; copy the file in instead)")


class RefusedFile(Exception):
    """A file the indexer will not read: ``code`` is the lint code, ``message`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a symlink) of at most ``max_bytes``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedFile("symlink", SYMLINK) from None
        raise
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile("not-a-file", "not a regular file (a FIFO, socket or device)")
        if info.st_size > max_bytes:
            raise RefusedFile("too-large", f"file is {info.st_size:,} bytes (limit {max_bytes:,})")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while being read
        raise RefusedFile("too-large", f"file is over {max_bytes:,} bytes (limit {max_bytes:,})")
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: written beside it, flushed to disk, renamed over it (the
    file's permissions kept), and the folder flushed, so a crash leaves the old or the new file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.fieldguide-tmp")
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename is durable only once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def walk(root: Path, suffix: str, refused: Callable[[Path, RefusedFile], None]
         ) -> Iterator[Path]:
    """Every file under ``root`` whose name ends with ``suffix``, in sorted order, skipping
    hidden files and folders. Symbolic links (to files or folders) are not followed: each is
    passed to ``refused`` instead."""
    for current, dirs, files in os.walk(root, followlinks=False):
        base = Path(current)
        kept = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            if (base / name).is_symlink():
                if any(f.endswith(suffix) for f in _listing(base / name)):
                    refused(base / name, RefusedFile("symlink", SYMLINK))
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            if name.startswith(".") or not name.endswith(suffix):
                continue
            path = base / name
            if path.is_symlink():
                refused(path, RefusedFile("symlink", SYMLINK))
                continue
            yield path


def _listing(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


class SafeYamlLoader(yaml.SafeLoader):
    """Safe YAML without aliases and with bounded nesting.

    An alias (``*name``) is refused outright: front matter and ``teams.yaml`` never need one,
    and a few hundred bytes of nested aliases expand to gigabytes ("billion laughs")."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed", self._mark())
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", self._mark())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _mark(self) -> Any:
        return self.peek_event().start_mark  # type: ignore[no-untyped-call]
