"""The ONNX runtime of the embedding model against PyTorch's, and the export cache.

Properties proved:
1. The ONNX export gives the vectors PyTorch gives (to 1e-4), alone or in a padded batch, for
   short, long (truncated at 256 tokens), code-like and non-ASCII text.
2. A serving encoder (one thread per encode) runs long inputs on its two-thread session and
   short ones on the one-thread session, with the same vectors (to 1e-5).
3. An export is made once and reused; an unexportable model gets a clear error.
4. A server on the ONNX runtime answers searches without ever importing PyTorch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.embed import Embedder, default_export_dir, resolve_model
from indexer.encoders import ModelUnavailableError, OnnxEncoder, TorchEncoder, ensure_onnx_export
from tests.conftest import CONTENT, ROOT

TEXTS = [
    "vpn will not connect",
    "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
    "KubePodCrashLooping: pod payments/api-7f9c is in CrashLoopBackOff",
    "Le serveur de messagerie ne répond pas après la mise à jour",
    "   padded with spaces   ",
    "error " * 400,  # beyond the model's 256-token window
    "x",
]


@pytest.fixture(scope="module")
def torch_encoder() -> TorchEncoder:
    return TorchEncoder(resolve_model(None)[1])


def test_onnx_matches_torch(embedder: Embedder, torch_encoder: TorchEncoder) -> None:
    onnx = embedder.encoder
    assert isinstance(onnx, OnnxEncoder)  # the default runtime
    reference = torch_encoder.encode(TEXTS)
    batched = onnx.encode(TEXTS, batch_size=3)  # mixed lengths in one padded batch
    alone = np.stack([onnx.encode([t])[0] for t in TEXTS])
    assert batched.shape == (len(TEXTS), 384) and batched.dtype == np.float32
    assert float(np.abs(batched - reference).max()) < 1e-4
    assert float(np.abs(alone - batched).max()) < 1e-5
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert onnx.encode([]).shape == (0, 384)


def test_serving_encoder_gives_long_inputs_a_second_thread(embedder: Embedder) -> None:
    embedder.warm_up()
    key, source = resolve_model(None)
    folder = ensure_onnx_export(key, source, default_export_dir())
    serving, batch = OnnxEncoder(folder, threads=1), OnnxEncoder(folder, threads=None)
    assert serving.long_session is not None and batch.long_session is None
    used: list[str] = []

    def spy(name: str, run: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            used.append(name)
            return run(*args, **kwargs)
        return counted

    serving.session.run = spy("one thread", serving.session.run)
    serving.long_session.run = spy("two threads", serving.long_session.run)
    long_text = "HikariPool-1 - Connection is not available, request timed out. " * 12
    vectors = serving.encode([long_text, "vpn will not connect"], batch_size=1)
    assert used == ["two threads", "one thread"]
    assert float(np.abs(vectors - batch.encode([long_text, "vpn will not connect"])).max()) < 1e-5


def test_export_is_reused(embedder: Embedder) -> None:
    embedder.warm_up()  # the session's embedder exported into the default cache
    key, source = resolve_model(None)
    cache = default_export_dir()
    folder = ensure_onnx_export(key, source, cache)
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert ensure_onnx_export(key, source, cache) == folder
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp


def test_unexportable_model_is_a_clear_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ModelUnavailableError, match="no-such-model"):
        ensure_onnx_export(missing, missing, tmp_path / "exports")
    assert not list((tmp_path / "exports").glob("no-such-model*"))  # nothing half-written
    with pytest.raises(ModelUnavailableError, match="cannot load embedding model"):
        Embedder(missing, export_dir=tmp_path / "exports").warm_up()  # PyTorch fails as well


def test_server_runs_without_pytorch(kb_index: Path, tmp_path: Path) -> None:
    script = f"""
import sys
from fastapi.testclient import TestClient
from app.main import create_app
from app.settings import Settings
settings = Settings(data_dir={str(tmp_path)!r}, index_dir={str(kb_index)!r},
                    content_dir={str(CONTENT)!r}, engineer_keys=["k" * 20])
with TestClient(create_app(settings), base_url="http://localhost") as client:
    r = client.get("/api/search", params={{"q": "my vpn keeps disconnecting"}},
                   headers={{"Authorization": "Bearer " + "k" * 20}})
    assert r.status_code == 200 and r.json()["results"], r.text
    r = client.post("/api/chat", json={{"message": "how do I reset my password"}})
    assert r.status_code == 200, r.text
print("torch" in sys.modules, "sentence_transformers" in sys.modules)
"""
    env = {**os.environ, "FIELDGUIDE_FRESHNESS_SCHEDULE_HOURS": "0"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["False", "False"]
