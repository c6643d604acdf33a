"""Single sign-on sessions asked again: what a session needs to ask the provider (encrypted),
when its groups were last confirmed, and when the next request asks again (the column a
request claims, so one refresh runs per interval across replicas).

Revision ID: 0010_session_refresh
Revises: 0009_audiences
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_session_refresh"
down_revision = "0009_audiences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("web_sessions", sa.Column("provider_tokens", sa.Text()))
    op.add_column("web_sessions", sa.Column("groups_confirmed_at", sa.DateTime(timezone=True)))
    op.add_column("web_sessions", sa.Column("refresh_due_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("refresh_due_at")
        batch.drop_column("groups_confirmed_at")
        batch.drop_column("provider_tokens")
