"""Freshness: per-article state, review tasks, review audit trail, notification log, job locks.

Revision ID: 0002_freshness
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_freshness"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "freshness_state",
        sa.Column("article_id", sa.String(512), primary_key=True),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("review_by", sa.Date()),
        sa.Column("reviewed_on", sa.Date()),
        sa.Column("assignee", sa.String(320), nullable=False),
        sa.Column("assigned_because", sa.String(64), nullable=False),
        sa.Column("team", sa.String(128)),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("banner", sa.Boolean(), nullable=False),
        sa.Column("banner_since", sa.Date()),
        sa.Column("undated_since", sa.Date()),
        sa.Column("unverified_since", sa.Date()),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "freshness_review_tasks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(512), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(320), nullable=False),
        sa.Column("assigned_because", sa.String(64), nullable=False),
        sa.Column("review_by", sa.Date()),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date()),
        sa.Column("close_reason", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_freshness_review_tasks_article_id", "freshness_review_tasks",
                    ["article_id"])
    op.create_table(
        "freshness_review_actions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(512), nullable=False),
        sa.Column("reviewer", sa.String(320), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_freshness_review_actions_article_id", "freshness_review_actions",
                    ["article_id"])
    op.create_table(
        "freshness_notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(1024), nullable=False),
        sa.Column("week_key", sa.String(10), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("kind", "recipient", "channel", "week_key",
                            name="uq_freshness_notification_week"),
    )
    op.create_table(
        "freshness_locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("freshness_locks")
    op.drop_table("freshness_notifications")
    op.drop_index("ix_freshness_review_actions_article_id", "freshness_review_actions")
    op.drop_table("freshness_review_actions")
    op.drop_index("ix_freshness_review_tasks_article_id", "freshness_review_tasks")
    op.drop_table("freshness_review_tasks")
    op.drop_table("freshness_state")
