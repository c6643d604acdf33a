"""Articles as a loaded snapshot holds them: metadata in objects, text compressed until read.

A snapshot's article table is most of a server's memory as the knowledge base grows: 50,000
articles held ~830 MB as Python objects, three quarters of it Markdown — each body twice (the
body and its sections) and a list's items a third time. A search reads metadata (title, audience,
services, owner) for every candidate but the text only of the results it shows, and those once
(the snippet sources are cached), so ``PackedArticle`` keeps ``body`` and ``sections`` as one
zlib-compressed pickle per field, unpacked on each read (~30 us for a 10 kB article).

It is an ``Article``: the same fields, equality, ``dataclasses.asdict``/``replace`` and
pickling; only where the text lives differs. Parsed articles (the build, lint) stay plain.

    >>> packed = PackedArticle(**fields)         # the keyword arguments of Article
    >>> packed.sections[0].heading               # unpacked now
    'Symptom'
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import pickle
import zlib
from typing import Any

from indexer.article import Article

_FIELDS = dataclasses.fields(Article)
_LEVEL = 1  # zlib's fastest level: ~4x smaller on Markdown, a load of 50k articles in seconds


class _Packed:
    """A field stored compressed in the instance's ``__dict__`` under another name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = f"_packed_{name}"

    def __set__(self, obj: object, value: Any) -> None:
        obj.__dict__[self.key] = zlib.compress(pickle.dumps(value, pickle.HIGHEST_PROTOCOL),
                                               _LEVEL)

    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        if obj is None:  # the class attribute: dataclass machinery asking for a default
            return self
        return pickle.loads(zlib.decompress(obj.__dict__[self.key]))  # noqa: S301 (our own bytes)


class PackedArticle(Article):
    """An ``Article`` whose ``body`` and ``sections`` are kept compressed (see the module)."""

    body = _Packed("body")
    sections = _Packed("sections")

    def __eq__(self, other: object) -> bool:
        """Equal to an ``Article`` (packed or not) with the same fields: where its text lives
        is not part of its value."""
        if not isinstance(other, Article):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in _FIELDS)

    __hash__ = Article.__hash__

    def packed_size(self) -> int:
        """Bytes of compressed text this article holds (for memory accounting)."""
        return sum(len(v) for k, v in self.__dict__.items() if k.startswith("_packed_"))


def release_free_memory() -> None:
    """Hand memory freed after a large load back to the system (glibc keeps freed blocks in its
    arenas otherwise: a server's RSS stays at the load's peak). A no-op off glibc."""
    gc.collect()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the process's own C library
    if trim is not None:
        trim(0)


def freeze_long_lived() -> None:
    """Keep the cyclic garbage collector off what a server holds for its lifetime (the snapshot
    it just loaded): everything alive now is collected once more, then frozen (``gc.freeze``).

    A full collection walks every tracked object: ~800,000 for a 50,000-article snapshot, a
    600-750 ms pause with the GIL held, which Python's collector otherwise takes every few
    thousand searches as the caches grow. Frozen objects are still freed by their reference
    counts, and a searcher holds no reference cycle (tests/test_heap.py), so a replaced snapshot
    goes when its last request lets go of it; what was frozen before is unfrozen first, so any
    cyclic garbage frozen at the previous swap is collected now."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
