"""Index snapshots: versioned directories, written aside and switched to atomically.

Layout of an index directory::

    CURRENT                 name of the live version (replaced atomically)
    versions/<version>/     manifest.json, articles.json and one or more files per leg
    embeddings.sqlite       the content-hash vector cache shared by all versions
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from indexer.article import Article, Audience, Link, Section
from indexer.files import fsync_path, write_atomic
from indexer.legs import Leg
from indexer.legs.dense import DenseLeg
from indexer.legs.fuzzy import FuzzyLeg
from indexer.legs.lexical import LexicalLeg
from indexer.legs.tags import TagsLeg
from indexer.packed import PackedArticle, release_free_memory

FORMAT_VERSION = 1
KEEP_VERSIONS = 3

# The legs a snapshot holds, in the order a search runs them (the exact legs first, the dense leg,
# which needs the query embedded, last). A new leg is one class here and one feature set in the
# fusion model.
LEG_TYPES: tuple[type[Leg], ...] = (TagsLeg, LexicalLeg, FuzzyLeg, DenseLeg)
LEG_NAMES: tuple[str, ...] = tuple(t.name for t in LEG_TYPES)

L = TypeVar("L", bound=Leg)


class SnapshotError(RuntimeError):
    """No usable snapshot in the index directory."""


def article_to_dict(a: Article) -> dict[str, Any]:
    d = asdict(a)
    d["audience"] = [x.value for x in a.audience]
    for key in ("created", "last_reviewed"):
        d[key] = d[key].isoformat() if d[key] else None
    return d


def article_from_dict(d: dict[str, Any], packed: bool = False) -> Article:
    """The article ``article_to_dict`` wrote; ``packed``: its text kept compressed until read
    (``indexer.packed``: how a loaded snapshot holds its articles)."""
    d = dict(d)
    d["sections"] = tuple(Section(**{**s, "list_items": tuple(s["list_items"])})
                          for s in d["sections"])
    d["audience"] = tuple(Audience(x) for x in d["audience"])
    d["links"] = tuple(Link(**link) for link in d.get("links", ()))
    for key in ("symptoms", "error_codes", "alerts", "services", "tags"):
        d[key] = tuple(d[key])
    for key in ("created", "last_reviewed"):
        d[key] = dt.date.fromisoformat(d[key]) if d[key] else None
    return PackedArticle(**d) if packed else Article(**d)


def write_articles(path: Path, articles: list[Article]) -> None:
    """The article table as one JSON array with one article per line, so that a load can read
    it an article at a time (``read_articles``)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        for i, article in enumerate(articles):
            fh.write(",\n" if i else "\n")
            fh.write(json.dumps(article_to_dict(article)))  # escapes newlines: one line each
        fh.write("\n]\n")


def read_articles(path: Path) -> list[Article]:
    """The article table, packed (``indexer.packed``). Read a line at a time when written by
    ``write_articles`` (the file's text and all its dicts never in memory at once: ~1 GB at 50k
    articles); an older snapshot's single-line array is parsed whole."""
    with path.open(encoding="utf-8") as fh:
        if fh.readline().rstrip("\n") != "[":
            return [article_from_dict(d, packed=True) for d in json.loads(path.read_text())]
        articles: list[Article] = []
        for line in fh:
            line = line.rstrip().removesuffix(",")
            if line == "]":
                return articles
            articles.append(article_from_dict(json.loads(line), packed=True))
    raise ValueError(f"{path}: the article table ends before its closing bracket")


@dataclass
class Snapshot:
    """Everything a searcher needs, loaded into memory: the articles and each leg by name."""

    version: str
    manifest: dict[str, Any]
    articles: list[Article]
    legs: dict[str, Leg]

    def __post_init__(self) -> None:
        missing = [n for n in LEG_NAMES if n not in self.legs]
        if missing:
            raise ValueError(f"a snapshot needs every leg; missing: {', '.join(missing)}")

    def leg(self, kind: type[L]) -> L:
        """The leg of class ``kind`` (typed access for the few callers that need its own API)."""
        found = self.legs[kind.name]
        if not isinstance(found, kind):
            raise TypeError(f"leg {kind.name!r} is a {type(found).__name__}, not {kind.__name__}")
        return found

    @property
    def lexical(self) -> LexicalLeg:
        return self.leg(LexicalLeg)

    @property
    def dense(self) -> DenseLeg:
        return self.leg(DenseLeg)

    def save(self, index_dir: Path) -> Path:
        """Write this snapshot as a new version and make it current; returns its directory."""
        versions = index_dir / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        tmp = versions / f".tmp-{self.version}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            write_articles(tmp / "articles.json", self.articles)
            for name in LEG_NAMES:
                self.legs[name].save(tmp)
            # The manifest goes last: a version directory without one is incomplete, never used.
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=1))
            seal(tmp)
        except BaseException:
            # A failed build (a full disk) must not leave its half-written files behind.
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return adopt(index_dir, tmp, self.version)

    @classmethod
    def load(cls, index_dir: Path) -> Snapshot:
        current = index_dir / "CURRENT"
        if not current.is_file():
            raise SnapshotError(f"no index in {index_dir}: run `fieldguide index` first")
        version = current.read_text().strip()
        directory = index_dir / "versions" / version
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"index version {version!r} in {index_dir} is unreadable: {exc}") \
                from exc
        if manifest.get("format") != FORMAT_VERSION:
            raise SnapshotError(f"index in {index_dir} has format {manifest.get('format')}, "
                                f"expected {FORMAT_VERSION}: rebuild it with `fieldguide index`")
        articles = read_articles(directory / "articles.json")
        legs: dict[str, Leg] = {t.name: t.load(directory, len(articles)) for t in LEG_TYPES}
        release_free_memory()  # the files' text, their dicts, the legs' temporaries: ~400 MB at 50k
        return cls(version=version, manifest=manifest, articles=articles, legs=legs)


def seal(tmp: Path) -> None:
    """Flush a version directory written aside: on disk before the rename, so a power cut never
    leaves a named but empty version."""
    for f in tmp.iterdir():
        fsync_path(f)
    fsync_path(tmp)


def adopt(index_dir: Path, tmp: Path, version: str) -> Path:
    """Rename a complete, fsync'd version directory ``tmp`` (inside ``versions/``) into place and
    make it current; returns its final directory. Also how a snapshot fetched from elsewhere
    (``app.published``) goes live."""
    versions = index_dir / "versions"
    final = versions / version
    if final.exists():  # the same version, fetched or built before: keep the one in place
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, final)
        fsync_path(versions)
    write_atomic(index_dir / "CURRENT", version.encode())
    _prune(versions, keep={version})
    return final


def current_version(index_dir: Path) -> str | None:
    try:
        return (index_dir / "CURRENT").read_text().strip() or None
    except OSError:
        return None


def new_version() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index directory (across processes)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)




def _prune(versions: Path, keep: set[str]) -> None:
    complete = sorted((p for p in versions.iterdir()
                       if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in complete[:-KEEP_VERSIONS]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in versions.glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
