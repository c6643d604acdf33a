"""The database for the service: an engine from settings and Alembic migrations run in-process.

    >>> engine = engine_for(settings)
    >>> upgrade(engine)            # creates or migrates every table to the newest revision
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.settings import Settings
from indexer.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
INITIAL_REVISION = "0001_initial"


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
