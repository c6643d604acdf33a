"""The live index of a server: load or build at startup, rebuild in the background, swap atomically.

Requests read ``holder.searcher`` once and keep that snapshot for the whole request, so a swap
in the middle of a request is harmless and a rebuild never blocks a search.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.progress import EmbedProgress
from app.settings import Settings
from indexer.build import build_index
from indexer.embed import Embedder, Progress
from indexer.fuse import FusionConfig
from indexer.packed import freeze_long_lived
from indexer.search import Searcher
from indexer.snapshot import SnapshotError, current_version

if TYPE_CHECKING:
    from app.published import SnapshotStore

log = logging.getLogger("fieldguide.index")
WATCHED_SUFFIXES = (".md", ".yaml", ".yml")


def content_signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    """What the watcher compares: every watched file with its mtime and size."""
    out = []
    for path in root.rglob("*"):
        if path.suffix.lower() not in WATCHED_SUFFIXES:
            continue
        try:
            st = path.stat()
        except OSError:  # deleted while walking
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


class IndexHolder:
    """Owns the current ``Searcher`` and every way of replacing it.

        >>> holder = IndexHolder(settings, embedder)
        >>> holder.load_or_build()
        >>> holder.reindex()          # returns at once; the old snapshot serves meanwhile
    """

    def __init__(self, settings: Settings, embedder: Embedder,
                 store: SnapshotStore | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store  # snapshots published through the database (several replicas)
        self._load_lock = threading.Lock()  # one follower or puller loads at a time
        self.on_swap: list[Callable[[Searcher], None]] = []
        self._searcher: Searcher | None = None
        self._swap_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_build: dict[str, Any] | None = None

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            raise RuntimeError("the index is not loaded")
        return self._searcher

    @property
    def loaded(self) -> bool:
        return self._searcher is not None

    @property
    def building(self) -> bool:
        return self._build_lock.locked()

    def _open(self) -> Searcher:
        return Searcher.open(self.settings.index_path, self.embedder,
                             FusionConfig(method=self.settings.fusion))

    def _swap(self, searcher: Searcher) -> None:
        with self._swap_lock:
            self._searcher = searcher
        # The snapshot lives until the next swap: out of the garbage collector's full passes
        # (a 0.6 s pause at 50k articles every few thousand searches otherwise), once per load.
        freeze_long_lived()
        threading.Thread(target=self._prepare_snippets, name="fieldguide-snippets", daemon=True,
                         args=(searcher,)).start()
        for callback in self.on_swap:
            try:
                callback(searcher)
            except Exception:  # a failing listener must not undo a good swap
                log.exception("on_swap callback failed")

    def _prepare_snippets(self, searcher: Searcher) -> None:
        """Prepare the snippet sources in the background, then freeze them with the snapshot
        (they live as long as it does). Stops when the server does or a newer snapshot replaces
        this one (it would otherwise keep the old snapshot in memory until done)."""
        def superseded() -> bool:
            return self._stop.is_set() or self._searcher is not searcher

        searcher.prepare_snippets(superseded)
        if not superseded():
            gc.freeze()

    def _build(self, progress: Progress | None = None) -> dict[str, Any]:
        s = self.settings
        report = build_index(s.content_dir, s.index_path, self.embedder,
                             default_audience=s.default_audience, faiss_kind=s.faiss_index,
                             audiences=s.audience_vocabulary,
                             hnsw_min_chunks=s.faiss_hnsw_min_chunks, progress=progress)
        out = {"version": report.version, "articles": report.articles, "chunks": report.chunks,
               "embedded": report.embedded, "seconds": round(report.seconds, 2),
               "skipped": len(report.skipped)}
        if self.store is not None:
            self.store.publish(s.index_path, report.version)
            out["published"] = True
        return out

    def load_or_build(self) -> None:
        """Open the current snapshot, building one from the content first when there is none.

        With a snapshot store the database is the source of truth: the newest published
        snapshot is fetched first, and a local one is published when none is."""
        if self.store is not None:
            try:
                if self.store.pull(self.settings.index_path,
                                   have=current_version(self.settings.index_path)) is None \
                        and self.store.latest() is None \
                        and current_version(self.settings.index_path) is not None:
                    self.store.publish(self.settings.index_path)
            except Exception as exc:  # the local snapshot, or a build, still serves
                log.warning("cannot fetch or publish the published snapshot: %s", exc)
        try:
            self._swap(self._open())
            return
        except SnapshotError as exc:
            log.warning("%s; building the index from %s", exc, self.settings.content_dir)
        # The first build of a server started without an index (not via `fieldguide serve`,
        # which builds before binding): its progress on stderr, as `fieldguide index` shows it.
        with self._build_lock, EmbedProgress(sys.stderr) as progress:
            self.last_build = self._build(progress)
        self._swap(self._open())

    def reindex(self, wait: bool = False) -> bool:
        """Rebuild in a background thread; False when a rebuild is already running."""
        if not self._build_lock.acquire(blocking=False):
            return False
        thread = threading.Thread(target=self._reindex_locked, name="fieldguide-reindex",
                                  daemon=True)
        thread.start()
        if wait:
            thread.join()
        return True

    def _reindex_locked(self) -> None:
        started = time.time()
        try:
            result = self._build()
            self._swap(self._open())
            self.last_build = {**result, "ok": True, "finished_at": time.time()}
            log.info("reindexed: %s", result)
        except Exception as exc:
            log.exception("reindex failed; still serving the previous snapshot")
            self.last_build = {"ok": False, "error": str(exc), "started_at": started,
                               "finished_at": time.time()}
        finally:
            self._build_lock.release()

    def wait_idle(self, timeout: float = 120.0) -> bool:
        """Block until no rebuild runs (for tests and shutdown)."""
        if self._build_lock.acquire(timeout=timeout):
            self._build_lock.release()
            return True
        return False

    def follow(self) -> None:
        """Load a snapshot another process made current (another worker, `fieldguide index`)."""
        version = current_version(self.settings.index_path)
        if version is None or self.building or version == self.searcher.version:
            return
        with self._load_lock:
            try:
                searcher = self._open()
            except (SnapshotError, OSError, ValueError) as exc:
                log.warning("cannot load snapshot %s yet: %s", version, exc)
                return
            if searcher.version != self.searcher.version:
                log.info("loading snapshot %s made by another process", searcher.version)
                self._swap(searcher)

    def pull(self) -> bool:
        """Fetch and load a newer snapshot published by another replica; True when swapped."""
        if self.store is None or self.building:
            return False
        with self._load_lock:
            pub = self.store.pull(self.settings.index_path, have=self.searcher.version)
            if pub is None or self.building:
                return False
            searcher = self._open()
            if searcher.version == self.searcher.version:
                return False
            log.info("loading snapshot %s published by %s", searcher.version, pub.publisher)
            self._swap(searcher)
            return True

    def start_background(self) -> None:
        """Start the snapshot follower and, when enabled, the content watcher and the poller
        of published snapshots."""
        s = self.settings
        if s.index_poll_seconds > 0:
            self._spawn("fieldguide-follow", self._follow_loop, s.index_poll_seconds)
        if self.store is not None:
            self._spawn("fieldguide-pull", self._pull_loop, s.snapshot_poll_seconds)
        if s.watch_content:
            self._spawn("fieldguide-watch", self._watch_loop, s.watch_interval_seconds)

    def _spawn(self, name: str, target: Callable[[float], None], interval: float) -> None:
        thread = threading.Thread(target=target, args=(interval,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _follow_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.follow()
            except Exception:
                log.exception("snapshot follower failed")

    def _pull_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.pull()
            except Exception:  # the database is down, a fetch failed: the next poll retries
                log.exception("fetching the published snapshot failed")

    def _watch_loop(self, interval: float) -> None:
        root = self.settings.content_dir
        seen = content_signature(root)
        pending: tuple[tuple[str, int, int], ...] | None = None
        while not self._stop.wait(interval):
            try:
                now = content_signature(root)
            except OSError:
                continue
            if now == seen:
                pending = None
                continue
            # Wait until the tree is stable for one interval: editors save in several steps.
            if now == pending:
                if self.reindex():
                    seen = now
                    pending = None
                    log.info("content changed: reindexing")
            else:
                pending = now

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.wait_idle(timeout=300)
