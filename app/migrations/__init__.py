"""Alembic migrations for every table on ``indexer.db.Base``."""
