"""The database layer: engines, sessions, every package's tables, Alembic migrations in-process.

SQLite (a file) by default, PostgreSQL for several replicas. Each package declares its tables on its
own declarative base (``app.models``, ``chatbot.models``, ``freshness.models``), so the search
engine knows nothing of SQL; ``all_metadata()`` is the complete schema Alembic migrates.

    >>> engine = engine_for(settings)
    >>> upgrade(engine)            # creates or migrates every table to the newest revision
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
INITIAL_REVISION = "0001_initial"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def all_metadata() -> tuple[MetaData, ...]:
    """Every package's tables: what migrations create and what a schema comparison checks."""
    import app.models
    import app.people
    import app.sessions
    import chatbot.models
    import freshness.models
    import incidents.models

    return (app.models.Base.metadata, chatbot.models.Base.metadata, freshness.models.Base.metadata,
            incidents.models.Base.metadata)


def engine_for(settings: Settings) -> Engine:
    assert settings.database_url is not None  # filled in by the settings validator
    return make_engine(settings.database_url)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` (default: the newest)."""
    config = alembic_config()
    with engine.begin() as connection:
        # env.py runs the migrations on this connection instead of opening its own.
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # no table yet: an empty database
            return None


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
