"""Indexing you can watch and resume (issue 16 item 3).

1. Vectors are cached slice by slice as they are computed: a build interrupted after the first
   slice keeps that slice, and the next build embeds only the rest.
2. Progress is reported as the chunks are embedded; off a terminal it is plain lines with the
   count, the rate and the time left, and nothing at all when the cache already has everything.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.progress import EmbedProgress
from indexer import embed as embed_module
from indexer.embed import Embedder

TEXTS = [f"Printer number {i} shows offline after the driver update {i}" for i in range(7)]


def test_an_interrupted_embedding_resumes_from_the_cache(
        tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    emb = embedder.with_cache(tmp_path / "embeddings.sqlite")
    monkeypatch.setattr(embed_module, "CACHE_SLICE", 3)
    real = emb._encode
    calls: list[int] = []

    def dies_on_the_second_slice(texts: list[str]) -> object:
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a first build
        return real(texts)

    monkeypatch.setattr(emb, "_encode", dies_on_the_second_slice)
    with pytest.raises(KeyboardInterrupt):
        emb.encode_documents(TEXTS)
    monkeypatch.setattr(emb, "_encode", real)
    seen: list[tuple[int, int]] = []
    vectors, embedded = emb.encode_documents(TEXTS, progress=lambda d, t: seen.append((d, t)))
    assert embedded == 4  # the first slice of 3 survived the interruption
    assert seen == [(0, 4), (3, 4), (4, 4)]
    again, none = emb.encode_documents(TEXTS)
    assert none == 0 and vectors.shape == (7, emb.dim)
    assert float(abs(again - vectors).max()) == 0.0


def test_plain_progress_lines_off_a_terminal() -> None:
    out = io.StringIO()
    with EmbedProgress(out) as progress:
        progress(0, 1000)
        for done in range(100, 1001, 100):
            progress(done, 1000)
    lines = out.getvalue().splitlines()
    assert lines[0] == "embedding chunks: 1,000 to embed"
    assert lines[-1].startswith("embedding chunks: 1,000/1,000 (100%), ")
    assert all("chunks/s" in line and "left" in line for line in lines[1:])
    assert len(lines) == 11  # one line per 10%


def test_nothing_to_embed_prints_nothing() -> None:
    out = io.StringIO()
    EmbedProgress(out)(0, 0)
    assert out.getvalue() == ""
