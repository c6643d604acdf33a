"""Incidents: alert groups (dedupe), alerts seen, the channel-post outbox, delivery keys.

Revision ID: 0004_incidents
Revises: 0003_chat
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_incidents"
down_revision = "0003_chat"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incident_alert_groups",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("receiver", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("firing", sa.JSON(), nullable=False),
        sa.Column("firing_hash", sa.String(64), nullable=False),
        sa.Column("firing_since", TZ),
        sa.Column("resolved_at", TZ),
        sa.Column("team", sa.String(128)),
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
    )
    op.create_table(
        "incident_alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("alertname", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(64)),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("runbook_url", sa.Text()),
        sa.Column("runbook_id", sa.String(512)),
        sa.Column("how", sa.String(16)),
        sa.Column("broken_url", sa.Boolean(), nullable=False),
        sa.Column("team", sa.String(128)),
        sa.Column("starts_at", TZ),
        sa.Column("ends_at", TZ),
        sa.Column("last_seen", TZ, nullable=False),
        sa.UniqueConstraint("key_hash", "fingerprint", name="uq_incident_alert"),
    )
    op.create_index("ix_incident_alerts_key_hash", "incident_alerts", ["key_hash"])
    op.create_index("ix_incident_alerts_alertname", "incident_alerts", ["alertname"])
    op.create_table(
        "incident_posts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delivery_key", sa.String(64), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("notifier", sa.String(16), nullable=False),
        sa.Column("team", sa.String(128)),
        sa.Column("channel", sa.String(256)),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("claimed_until", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ),
    )
    op.create_index("ix_incident_posts_key_hash", "incident_posts", ["key_hash"])
    op.create_index("ix_incident_posts_status", "incident_posts", ["status"])
    op.create_table(
        "incident_deliveries",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("received_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("incident_deliveries", "incident_posts", "incident_alerts",
                  "incident_alert_groups"):
        op.drop_table(table)
