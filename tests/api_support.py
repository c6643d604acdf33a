"""Helpers for the HTTP tests: build a real app over a real index and open a TestClient."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from indexer.embed import Embedder

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ENGINEER_KEY = "engineer-key-for-tests"
ENGINEER = {"Authorization": f"Bearer {ENGINEER_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def settings_for(data_dir: Path, index_dir: Path, content_dir: Path = CONTENT,
                 **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir, "content_dir": content_dir, "index_dir": index_dir,
        "admin_token": ADMIN_TOKEN, "engineer_keys": [ENGINEER_KEY],
        "rate_limit_per_second": 0, "index_poll_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def client_for(settings: Settings, embedder: Embedder, **kwargs: Any) -> Iterator[TestClient]:
    app = create_app(settings, embedder=embedder)
    kwargs.setdefault("base_url", "http://localhost")  # a Host the server answers for
    with TestClient(app, **kwargs) as client:
        yield client


def copy_index(src: Path, dst: Path) -> Path:
    """A private copy of a built index (the vector cache comes along, so rebuilds are cheap)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".build.lock"))
    return dst


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    return body
