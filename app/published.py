"""Snapshots published through the database, so replicas share an index without a shared disk.

A snapshot version directory is packed into a tar archive and stored in ``index_publications``
(one row: version, size, SHA-256) and ``index_publication_chunks`` (the bytes in chunks of
``CHUNK_BYTES``), all in one transaction: a reader sees a whole publication or none. Every replica
polls for the newest row and, when it is not the snapshot it serves, streams the chunks to a
file, checks size and checksum, unpacks it beside its versions and switches to it with the same
atomic rename as a local build (``indexer.snapshot.adopt``).

    >>> store = SnapshotStore(engine)
    >>> store.publish(index_dir)              # the current local version
    >>> store.pull(index_dir, have="2026...")  # the newest published one, when newer
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import socket
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String, delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.models import Base, utcnow
from indexer.snapshot import SnapshotError, adopt, current_version, seal

log = logging.getLogger("fieldguide.published")
# 4 MiB per row: far below PostgreSQL's 1 GB bytea limit, and what a replica holds in memory
# at a time while fetching.
CHUNK_BYTES = 4 << 20
KEEP_PUBLISHED = 3  # like indexer.snapshot.KEEP_VERSIONS: a slow replica can still fetch


class PublicationRow(Base):
    """One published snapshot; its bytes are in ``PublicationChunkRow`` (ordered by ``seq``)."""

    __tablename__ = "index_publications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    chunks: Mapped[int] = mapped_column(Integer)
    publisher: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class PublicationChunkRow(Base):
    __tablename__ = "index_publication_chunks"

    publication_id: Mapped[int] = mapped_column(
        ForeignKey("index_publications.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class Publication:
    id: int
    version: str
    size: int
    sha256: str
    chunks: int
    publisher: str
    published_at: dt.datetime


def _publication(row: PublicationRow) -> Publication:
    return Publication(row.id, row.version, row.size, row.sha256, row.chunks, row.publisher,
                       row.published_at)


def who() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SnapshotStore:
    """Publish and fetch index snapshots through the database behind ``engine``."""

    def __init__(self, engine: Engine, publisher: str | None = None) -> None:
        self.engine = engine
        self.publisher = publisher or who()

    def latest(self) -> Publication | None:
        with Session(self.engine) as s:
            row = s.scalars(select(PublicationRow).order_by(PublicationRow.id.desc())
                            .limit(1)).first()
            return None if row is None else _publication(row)

    def publish(self, index_dir: Path, version: str | None = None) -> Publication:
        """Store version ``version`` (default: the current one) of ``index_dir``; publishing a
        version that is already published changes nothing."""
        version = version or current_version(index_dir)
        directory = index_dir / "versions" / (version or "")
        if not version or not (directory / "manifest.json").is_file():
            raise SnapshotError(f"no complete index version {version!r} in {index_dir}")
        with Session(self.engine) as s:
            found = s.scalars(select(PublicationRow).where(PublicationRow.version == version)
                              ).first()
            if found is not None:
                return _publication(found)
        with tempfile.TemporaryFile(dir=index_dir) as fh:
            with tarfile.open(fileobj=fh, mode="w") as tar:
                for path in sorted(directory.iterdir()):
                    tar.add(path, arcname=path.name, recursive=False)
            size = fh.tell()
            fh.seek(0)
            digest = hashlib.sha256()
            with Session(self.engine) as s, s.begin():
                row = PublicationRow(version=version, size=size, sha256="", chunks=0,
                                     publisher=self.publisher, published_at=utcnow())
                s.add(row)
                s.flush()
                seq = 0
                while data := fh.read(CHUNK_BYTES):  # one chunk in memory at a time
                    digest.update(data)
                    s.execute(insert(PublicationChunkRow).values(
                        publication_id=row.id, seq=seq, data=data))
                    seq += 1
                row.sha256, row.chunks = digest.hexdigest(), seq
                published = _publication(row)
        self._prune()
        log.info("published snapshot %s (%d bytes in %d chunks)", version, size, seq)
        return published

    def _prune(self) -> None:
        with Session(self.engine) as s, s.begin():
            old = list(s.scalars(select(PublicationRow.id).order_by(PublicationRow.id.desc())
                                 .offset(KEEP_PUBLISHED)))
            if old:
                # Chunks first: SQLite enforces no ON DELETE CASCADE without a pragma.
                s.execute(delete(PublicationChunkRow)
                          .where(PublicationChunkRow.publication_id.in_(old)))
                s.execute(delete(PublicationRow).where(PublicationRow.id.in_(old)))

    def pull(self, index_dir: Path, have: str | None) -> Publication | None:
        """Fetch the newest publication into ``index_dir`` and make it current, unless it is
        ``have``; returns what was installed (None: nothing to do)."""
        pub = self.latest()
        if pub is None or pub.version == have:
            return None
        self.fetch(index_dir, pub)
        return pub

    def fetch(self, index_dir: Path, pub: Publication) -> Path:
        """Install ``pub`` as the current version of ``index_dir`` (checked before it goes live)."""
        versions = index_dir / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        if (versions / pub.version / "manifest.json").is_file():
            return adopt(index_dir, versions / pub.version, pub.version)
        tmp = versions / f".tmp-fetch-{pub.version}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            with tempfile.TemporaryFile(dir=index_dir) as fh:
                self._download(pub, fh)
                fh.seek(0)
                tmp.mkdir()
                with tarfile.open(fileobj=fh, mode="r") as tar:
                    tar.extractall(tmp, filter="data")  # no links, no paths outside tmp
            if not (tmp / "manifest.json").is_file():
                raise SnapshotError(f"published snapshot {pub.version} has no manifest")
            seal(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = adopt(index_dir, tmp, pub.version)
        log.info("fetched published snapshot %s from %s", pub.version, pub.publisher)
        return final

    def _download(self, pub: Publication, fh: object) -> None:
        digest = hashlib.sha256()
        size = 0
        with Session(self.engine) as s:
            for seq in range(pub.chunks):
                data = s.scalars(select(PublicationChunkRow.data).where(
                    PublicationChunkRow.publication_id == pub.id,
                    PublicationChunkRow.seq == seq)).first()
                if data is None:
                    raise SnapshotError(f"published snapshot {pub.version} lost chunk {seq} "
                                        "(pruned while fetching?)")
                digest.update(data)
                size += len(data)
                fh.write(data)  # type: ignore[attr-defined]
        if size != pub.size or digest.hexdigest() != pub.sha256:
            raise SnapshotError(f"published snapshot {pub.version} is corrupt: {size} bytes, "
                                f"sha256 {digest.hexdigest()}, expected {pub.size} bytes, "
                                f"sha256 {pub.sha256}")
