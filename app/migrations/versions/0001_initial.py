"""Initial schema: articles, search_events, click_events.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(512), primary_key=True),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(320), nullable=True),
        sa.Column("team", sa.String(128), nullable=True),
        sa.Column("created", sa.Date(), nullable=True),
        sa.Column("last_reviewed", sa.Date(), nullable=True),
        sa.Column("review_interval_days", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "search_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("search_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("normalized", sa.Text(), nullable=False),
        sa.Column("result_ids", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("took_ms", sa.Float(), nullable=False),
        sa.Column("zero_results", sa.Boolean(), nullable=False),
        sa.Column("audience", sa.String(32), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
    )
    op.create_index("ix_search_events_search_id", "search_events", ["search_id"], unique=True)
    op.create_index("ix_search_events_at", "search_events", ["at"])
    op.create_table(
        "click_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("search_id", sa.String(32), nullable=True),
        sa.Column("article_id", sa.String(512), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("query", sa.Text(), nullable=True),
    )
    op.create_index("ix_click_events_search_id", "click_events", ["search_id"])
    op.create_index("ix_click_events_at", "click_events", ["at"])


def downgrade() -> None:
    op.drop_table("click_events")
    op.drop_table("search_events")
    op.drop_table("articles")
