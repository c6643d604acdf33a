"""Snapshot publication: index snapshots stored in the database for replicas to fetch.

Revision ID: 0006_published
Revises: 0005_people

Named ``0006_published`` so it cannot be confused with another branch's 0006: if two 0006
revisions meet in a merge, re-point one's ``down_revision`` at the other.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_published"
down_revision = "0005_people"
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
