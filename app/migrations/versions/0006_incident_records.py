"""Incident records: incidents, their timeline and activity, article versions seen.

Revision ID: 0006_incident_records
Revises: 0005_people
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_incident_records"
down_revision = "0005_people"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(256)),
        sa.Column("group_hash", sa.String(64)),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("team", sa.String(128)),
        sa.Column("channel", sa.String(256)),
        sa.Column("responder", sa.String(320)),
        sa.Column("runbook_id", sa.String(512)),
        sa.Column("runbook_status", sa.String(16)),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("acknowledged_at", TZ),
        sa.Column("diagnosed_at", TZ),
        sa.Column("resolved_at", TZ),
        sa.Column("retro_outcome", sa.String(32)),
        sa.Column("retro_article_id", sa.String(512)),
        sa.Column("retro_by", sa.String(320)),
        sa.Column("retro_at", TZ),
        sa.Column("retro_asked_at", TZ),
        sa.Column("retro_reminded_at", TZ),
        sa.Column("retro_missed_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("source", "external_id", name="uq_incident_external"),
    )
    op.create_index("ix_incidents_group_hash", "incidents", ["group_hash"])
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"])
    op.create_index("ix_incidents_resolved_at", "incidents", ["resolved_at"])
    for table, extra in (
        ("incident_events", [sa.Column("kind", sa.String(32), nullable=False),
                             sa.Column("by", sa.String(320)), sa.Column("value", sa.String(512)),
                             sa.Column("note", sa.Text())]),
        ("incident_activity", [sa.Column("kind", sa.String(16), nullable=False),
                               sa.Column("ref", sa.Text(), nullable=False),
                               sa.Column("detail", sa.JSON(), nullable=False),
                               sa.Column("by", sa.String(320))]),
    ):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("incident_id", sa.Integer(),
                      sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
            sa.Column("at", TZ, nullable=False),
            *extra,
        )
        op.create_index(f"ix_{table}_incident_id", table, ["incident_id"])
    op.create_table(
        "incident_article_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(512), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("last_reviewed", sa.Date()),
        sa.Column("seen_at", TZ, nullable=False),
        sa.Column("baseline", sa.Boolean(), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_incident_article_versions_article_id", "incident_article_versions",
                    ["article_id"])
    op.create_index("ix_incident_article_versions_seen_at", "incident_article_versions",
                    ["seen_at"])


def downgrade() -> None:
    for table in ("incident_article_versions", "incident_activity", "incident_events",
                  "incidents"):
        op.drop_table(table)
