"""The web app's own measurements for the platform SLOs: live-stream latency and health probes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_latencies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reader", sa.String(length=320), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stream_latencies_written", "stream_latencies", ["written_at"])
    op.create_table(
        "health_probes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("probed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_health_probes_probed", "health_probes", ["probed_at"])


def downgrade() -> None:
    op.drop_index("ix_health_probes_probed", table_name="health_probes")
    op.drop_table("health_probes")
    op.drop_index("ix_stream_latencies_written", table_name="stream_latencies")
    op.drop_table("stream_latencies")
