"""Readers' feedback and first-party usage events from the web app.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reader", sa.String(length=320), nullable=False),
        sa.Column("report", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=64), nullable=False),
        sa.Column("section", sa.String(length=200), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("useful", sa.Boolean(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_report", "feedback", ["report", "period"])
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reader", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("report", sa.String(length=200), nullable=True),
        sa.Column("period", sa.String(length=64), nullable=True),
        sa.Column("section", sa.String(length=200), nullable=True),
        sa.Column("file", sa.String(length=300), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_usage_events_at", "usage_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_usage_events_at", table_name="usage_events")
    op.drop_table("usage_events")
    op.drop_index("ix_feedback_report", table_name="feedback")
    op.drop_table("feedback")
