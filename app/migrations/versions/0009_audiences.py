"""Configurable audiences: what a personal key reads beyond its role, and the provider groups a
single sign-on session was opened with (its role and audiences are derived from them and the
current FIELDGUIDE_ROLE_GROUPS at each request).

Revision ID: 0009_audiences
Revises: 0008_article_votes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_audiences"
down_revision = "0008_article_votes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("person_keys", sa.Column("audiences", sa.JSON()))
    op.add_column("web_sessions", sa.Column("groups", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("groups")
    with op.batch_alter_table("person_keys") as batch:
        batch.drop_column("audiences")
