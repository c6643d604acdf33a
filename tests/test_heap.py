"""A server's long-lived heap: the loaded snapshot is kept out of the garbage collector's full
passes, and nothing of a replaced snapshot survives it.

``gc.freeze`` hides what is alive at a swap from the cyclic collector (a full pass over a
50,000-article snapshot is a 0.6 s pause with the GIL held). Frozen objects are still freed by
their reference counts, so this is only safe because a searcher holds no reference cycle: a
replaced snapshot must go as soon as its last request lets go of it, collector or not.
"""

from __future__ import annotations

import gc
import threading
import weakref
from pathlib import Path

from app.index import IndexHolder
from app.settings import Settings
from indexer.embed import Embedder
from indexer.search import Searcher
from tests.conftest import CONTENT


def test_a_searcher_is_freed_by_reference_counting_alone(kb_index: Path,
                                                         embedder: Embedder) -> None:
    searcher = Searcher.open(kb_index, embedder)
    searcher.search("vpn disconnects every few minutes", limit=5)
    searcher.prepare_snippets()
    gone = weakref.ref(searcher)
    snapshot = weakref.ref(searcher.snapshot)
    gc.disable()
    try:
        del searcher
        assert gone() is None and snapshot() is None  # no cycle kept them: no collector needed
    finally:
        gc.enable()


def test_a_swap_freezes_the_new_snapshot_and_lets_the_old_one_go(kb_index: Path,
                                                                 embedder: Embedder,
                                                                 tmp_path: Path) -> None:
    settings = Settings(index_dir=kb_index, data_dir=tmp_path, content_dir=CONTENT)
    holder = IndexHolder(settings, embedder)
    gc.unfreeze()
    try:
        holder.load_or_build()
        assert gc.get_freeze_count() > 10_000  # the snapshot's objects, out of full passes
        first = weakref.ref(holder.searcher)
        holder._swap(holder._open())  # what a reindex, a follower or a pull ends with
        for thread in threading.enumerate():
            if thread.name == "fieldguide-snippets":
                thread.join(timeout=30)
        assert first() is None
        assert gc.get_freeze_count() > 10_000
    finally:
        holder.stop()
        gc.unfreeze()
