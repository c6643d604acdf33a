"""The two runtimes of a sentence-transformers model: PyTorch, or the same model exported to ONNX.

The ONNX runtime is the default. A server that embeds queries with ONNX Runtime never imports
PyTorch (about 230 MB of resident memory before a single weight is loaded), each query encode
costs less (no autograd or Python module dispatch) and ONNX Runtime releases the GIL while it
runs, so concurrent searches overlap. The export happens once per model, with PyTorch, in a
child process, and is checked against the PyTorch model before it is used:

    >>> encoder = OnnxEncoder(ensure_onnx_export("sentence-transformers/all-MiniLM-L6-v2",
    ...                                          source, Path("var/models")))
    >>> encoder.encode(["vpn will not connect"]).shape
    (1, 384)

The export wraps the whole sentence-transformers pipeline (transformer, pooling, normalisation),
so any model whose forward pass traces (mean, CLS or max pooling) works; one that does not falls
back to the PyTorch runtime with a log line saying why.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1
# A single-threaded (serving) encoder runs inputs of this many tokens or more (a batch's
# padded size) on a session of its own with this many threads.
LONG_INPUT_TOKENS = 128
LONG_INPUT_THREADS = 2
# Sentences the export is checked on: short, long, code-like, non-ASCII.
PROBES = ("vpn will not connect", "Outlook keeps asking for my password after the update",
          "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
          "Le serveur de messagerie ne répond pas", "x")
MAX_EXPORT_ERROR = 1e-4  # largest allowed |onnx - torch| on a normalised vector component


class ModelUnavailableError(RuntimeError):
    """The configured embedding model cannot be loaded (no network, wrong path...)."""


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> npt.NDArray[np.float32]: ...


def _normalise(x: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    out = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


def load_sentence_transformer(source: str) -> Any:
    if Path(source).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(source, device="cpu")
    except Exception as exc:
        raise ModelUnavailableError(f"cannot load embedding model from {source!r}: {exc}") from exc


def embedding_dimension(model: Any) -> int:
    # sentence-transformers 6 renamed the method; older releases only have the first name.
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


class TorchEncoder:
    """sentence-transformers on PyTorch: the reference, and the fallback for any model."""

    def __init__(self, source: str) -> None:
        self.model = load_sentence_transformer(source)
        self.dim = embedding_dimension(self.model)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> npt.NDArray[np.float32]:
        out = self.model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


class OnnxEncoder:
    """An exported model on ONNX Runtime, tokenised by the Rust ``tokenizers`` library.

    ``threads`` is ONNX Runtime's intra-op thread count: 1 for a server, where concurrent
    requests already keep the cores busy (more threads only spin against each other), and
    ``None`` (every core) for batch indexing.
    """

    def __init__(self, model_dir: Path, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        meta = json.loads((model_dir / "meta.json").read_text())
        self.dim = int(meta["dim"])
        self.inputs: list[str] = list(meta["inputs"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(meta["max_seq_length"]))
        self.tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=str(meta["pad_token"]))
        self.session = self._session(model_dir, threads)
        # One thread per encode serves a short query best (a second costs 60% more CPU for 10%
        # less time), but a pasted log of a few hundred tokens takes 22 ms on one core and 16 ms
        # with a second thread: what a server's tail latency is made of.
        self.long_session = (self._session(model_dir, LONG_INPUT_THREADS)
                             if threads == 1 and (os.cpu_count() or 1) > 1 else None)

    @staticmethod
    def _session(model_dir: Path, threads: int | None) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The arena keeps the peak of the largest batch ever run (1.5 GB after one batch of 64
        # long chunks); without it memory goes back to the allocator after each batch.
        options.enable_cpu_mem_arena = False
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        # Idle intra-op threads spin-wait by default: CPU stolen from the request threads.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(model_dir / "model.onnx"), options,
                                    providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # As sentence-transformers does: strip, then batch by length so padding stays small.
        stripped = [t.strip() for t in texts]
        order = sorted(range(len(stripped)), key=lambda i: -len(stripped[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            encodings = self.tokenizer.encode_batch([stripped[i] for i in rows])
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            session = self.session
            if self.long_session is not None and feeds["input_ids"].size >= LONG_INPUT_TOKENS:
                session = self.long_session
            (vectors,) = session.run(None, {k: feeds[k] for k in self.inputs})
            out[rows] = vectors
        return _normalise(out)


# --- export -----------------------------------------------------------------------------------

def export_dir_name(model_key: str, source: str) -> str:
    """A folder name that changes whenever the model's files do (a package upgrade, a retrain)."""
    h = hashlib.sha256(f"{EXPORT_FORMAT}\0{model_key}\0{source}".encode())
    path = Path(source)
    if path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.is_file():
                st = f.stat()
                h.update(f"{f.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in model_key)[-60:]
    return f"{slug}-{h.hexdigest()[:12]}"


def ensure_onnx_export(model_key: str, source: str, cache_dir: Path) -> Path:
    """The folder of the model's ONNX export, exporting it first (in a child process, so this
    process never imports PyTorch) when it is missing. Raises ``ModelUnavailableError`` when the
    model cannot be exported or the export does not reproduce the PyTorch vectors."""
    target = cache_dir / export_dir_name(model_key, source)
    if (target / "meta.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".export.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one export at a time: a CLI and a server may race
        if (target / "meta.json").is_file():
            return target
        log.info("exporting embedding model %s to ONNX (once) into %s", model_key, target)
        proc = subprocess.run([sys.executable, "-m", "indexer.encoders", source, str(target)],
                              capture_output=True, text=True, env={**os.environ})
        if proc.returncode != 0 or not (target / "meta.json").is_file():
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelUnavailableError(f"cannot export {model_key!r} to ONNX: {reason}")
    return target


def export_onnx(source: str, target: Path) -> None:
    """Export a sentence-transformers model (tokenizer, graph, metadata) into ``target``."""
    import torch

    model = load_sentence_transformer(source).eval()
    tokenizer = model.tokenizer
    inputs = [n for n in tokenizer.model_input_names
              if n in ("input_ids", "attention_mask", "token_type_ids")]

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            features = dict(zip(inputs, tensors, strict=True))
            return self.model(features)["sentence_embedding"]  # type: ignore[no-any-return]

    sample = tokenizer(list(PROBES[:2]), padding=True, truncation=True, return_tensors="pt",
                       max_length=model.max_seq_length)
    args = tuple(sample[n] for n in inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        _export_into(tmp, source, model, tokenizer, inputs, Pipeline().eval(), sample_args=args)
        shutil.rmtree(target, ignore_errors=True)  # a broken earlier attempt
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _export_into(tmp: Path, source: str, model: Any, tokenizer: Any, inputs: list[str], pipeline: Any,
                 sample_args: tuple[Any, ...]) -> None:
    import torch

    axes = {n: {0: "batch", 1: "tokens"} for n in inputs}
    with torch.no_grad():
        torch.onnx.export(pipeline, sample_args, str(tmp / "model.onnx"), input_names=inputs,
                          output_names=["sentence_embedding"],
                          dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
    tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
    meta = {"format": EXPORT_FORMAT, "source": source, "inputs": inputs,
            "dim": embedding_dimension(model),
            "max_seq_length": int(model.max_seq_length), "pad_id": int(tokenizer.pad_token_id),
            "pad_token": str(tokenizer.pad_token), "torch": torch.__version__}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    # Check the exported model against the reference before anyone uses it.
    reference = model.encode(list(PROBES), convert_to_numpy=True, normalize_embeddings=True)
    error = float(np.abs(OnnxEncoder(tmp).encode(PROBES) - reference).max())
    if error > MAX_EXPORT_ERROR:
        raise ModelUnavailableError(f"the ONNX export differs from the model by {error:.2g}")
    meta["max_error"] = error
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m indexer.encoders SOURCE TARGET_DIR", file=sys.stderr)
        return 2
    import warnings

    warnings.simplefilter("ignore")  # the exporter's deprecation notices are not ours to fix
    try:
        export_onnx(argv[0], Path(argv[1]))
    except Exception as exc:
        print(f"export failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
