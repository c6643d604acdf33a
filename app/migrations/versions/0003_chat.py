"""Chat: sessions, turns, feedback, opened sources, hand-off tickets, outcome history.

Revision ID: 0003_chat
Revises: 0002_freshness
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_chat"
down_revision = "0002_freshness"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _session_fk() -> sa.Column[str]:
    return sa.Column("session_id", sa.String(32),
                     sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_activity", TZ, nullable=False),
        sa.Column("engineer", sa.Boolean(), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("outcome_at", TZ),
    )
    op.create_index("ix_chat_sessions_last_activity", "chat_sessions", ["last_activity"])
    op.create_index("ix_chat_sessions_closed", "chat_sessions", ["closed"])
    op.create_index("ix_chat_sessions_outcome", "chat_sessions", ["outcome"])
    op.create_table(
        "chat_turns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _session_fk(),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("intent", sa.String(32)),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float()),
    )
    op.create_index("ix_chat_turns_session_id", "chat_turns", ["session_id"])
    op.create_index("ix_chat_turns_kind", "chat_turns", ["kind"])
    op.create_table(
        "chat_feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _session_fk(),
        sa.Column("turn_id", sa.Integer()),
        sa.Column("article_id", sa.String(512)),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_chat_feedback_session_id", "chat_feedback", ["session_id"])
    op.create_index("ix_chat_feedback_article_id", "chat_feedback", ["article_id"])
    op.create_table(
        "chat_opens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _session_fk(),
        sa.Column("article_id", sa.String(512), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_chat_opens_session_id", "chat_opens", ["session_id"])
    op.create_table(
        "chat_tickets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(32), nullable=False, unique=True),
        _session_fk(),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sink", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("delivered_at", TZ),
        sa.Column("description", sa.Text()),
        sa.Column("contact", sa.String(320)),
        sa.Column("packet", sa.JSON(), nullable=False),
    )
    op.create_index("ix_chat_tickets_session_id", "chat_tickets", ["session_id"])
    op.create_index("ix_chat_tickets_status", "chat_tickets", ["status"])
    op.create_table(
        "chat_outcomes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _session_fk(),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_chat_outcomes_session_id", "chat_outcomes", ["session_id"])


def downgrade() -> None:
    for table in ("chat_outcomes", "chat_tickets", "chat_opens", "chat_feedback", "chat_turns",
                  "chat_sessions"):
        op.drop_table(table)
