"""Readers' "was this helpful?" votes on articles (one row per article and voter).

Revision ID: 0008_article_votes
Revises: 0007_published
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_article_votes"
down_revision = "0007_published"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_votes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(512), nullable=False),
        sa.Column("voter", sa.String(64), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("signed_in", sa.Boolean(), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("article_id", "voter", name="uq_article_vote_voter"),
    )
    op.create_index("ix_article_votes_article_id", "article_votes", ["article_id"])
    op.create_index("ix_article_votes_voted_at", "article_votes", ["voted_at"])


def downgrade() -> None:
    op.drop_index("ix_article_votes_voted_at", table_name="article_votes")
    op.drop_index("ix_article_votes_article_id", table_name="article_votes")
    op.drop_table("article_votes")
