"""Snapshot publication: index snapshots stored in the database for replicas to fetch.

Revision ID: 0007_published
Revises: 0006_incident_records
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_published"
down_revision = "0006_incident_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_publications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), nullable=False, unique=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "index_publication_chunks",
        sa.Column("publication_id", sa.Integer(),
                  sa.ForeignKey("index_publications.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("index_publication_chunks")
    op.drop_table("index_publications")
