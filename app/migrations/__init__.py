"""Alembic migrations for every package's tables (``app.db.all_metadata()``)."""
