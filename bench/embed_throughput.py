"""Index-time embedding throughput: Fieldguide's cached, sliced, longest-first encoding beside
sentence-transformers' own ``encode`` on the same chunks, in one process, one after the other.

    python bench/embed_throughput.py [--content DIR] [--limit 2000] [--runtime onnx|torch]

The chunks are the real chunks of ``--content`` (default: the prometheus runbooks corpus), the
cache a fresh temporary file, so every chunk is computed. Prints chunks/s for each.
"""

# ruff: noqa: E402  (the sys.path fix must run before the project imports)
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from indexer.build import chunk_article
from indexer.content import scan_content
from indexer.embed import Embedder, resolve_model

DEFAULT_CONTENT = _HERE.parents[1] / "shared/corpora/prometheus-operator-runbooks/articles"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--runtime", choices=("onnx", "torch"), default="onnx")
    args = ap.parse_args()
    arts = scan_content(args.content).articles
    texts = [c.text for d, a in enumerate(arts) for c in chunk_article(d, a)][:args.limit]
    print(f"{len(texts)} chunks of {len(arts)} articles from {args.content}")

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model(None)[1], device="cpu")
    model.encode(texts[:64], batch_size=64)  # warm-up
    t = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    st = len(texts) / (time.perf_counter() - t)
    print(f"sentence-transformers encode (torch, batch 64): {st:.0f} chunks/s")

    with tempfile.TemporaryDirectory() as tmp:
        embedder = Embedder(cache_path=Path(tmp) / "cache.sqlite", runtime=args.runtime)
        embedder.warm_up()
        t = time.perf_counter()
        _, n = embedder.encode_documents(texts)
        ours = n / (time.perf_counter() - t)
    print(f"Fieldguide encode_documents ({args.runtime}, cached in slices): {ours:.0f} chunks/s "
          f"({ours / st:.2f}x)")


if __name__ == "__main__":
    main()
