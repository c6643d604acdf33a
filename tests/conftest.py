"""Shared fixtures: the real model loaded once, a real index over content/, real databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from app.db import make_engine
from chatbot.engine import ChatEngine
from indexer.build import build_index
from indexer.content import ContentScan, scan_content
from indexer.embed import Embedder
from indexer.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
POSTGRES_URL = os.environ.get("FIELDGUIDE_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The bundled MiniLM, loaded once per test session."""
    emb = Embedder()
    emb.warm_up()
    return emb


@pytest.fixture(scope="session")
def kb_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A real index over the sample knowledge base in content/."""
    index_dir = tmp_path_factory.mktemp("kb-index")
    cached = embedder.with_cache(index_dir / "embeddings.sqlite")  # the session's model, loaded once
    build_index(CONTENT, index_dir, cached)
    return index_dir


@pytest.fixture(scope="session")
def searcher(kb_index: Path, embedder: Embedder) -> Searcher:
    return Searcher.open(kb_index, embedder)


def _postgres_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: skip the PostgreSQL leg, say why
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fieldguide.db'}"
        return
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"fg_test_{uuid.uuid4().hex[:10]}"
    plain = POSTGRES_URL.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as con:
            con.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A database migrated to the head of the Alembic chain (SQLite or PostgreSQL)."""
    from app.db import upgrade

    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def kb() -> ContentScan:
    """The sample knowledge base, parsed and linted."""
    return scan_content(CONTENT)


@pytest.fixture(scope="module")
def chat_engine(searcher: Searcher, embedder: Embedder) -> ChatEngine:
    eng = ChatEngine(searcher, embedder)
    eng.warm_up()
    return eng
