"""The app database: deliveries, leases, resolutions, notifications, reviews, acknowledgements,
alert episodes, check results and source loads.

Revision ID: 0001
Revises:
Create Date: 2026-11-30 19:53:50.091439
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Databases made before migrations existed (created table by table as the code first used
    # them) get only what they lack; the lease table replaced `delivery_locks`.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "acknowledgements" not in existing:
        op.create_table(
            "acknowledgements",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("subject", sa.String(length=16), nullable=False),
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("period", sa.String(length=64), nullable=False),
            sa.Column("acknowledged_by", sa.String(length=320), nullable=False),
            sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("decision", sa.Text(), nullable=True),
            sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("subject", "key", "period", "acknowledged_by", name="uq_ack_once"),
        )
    if "alert_states" not in existing:
        op.create_table(
            "alert_states",
            sa.Column("rule", sa.String(length=200), nullable=False),
            sa.Column("scope", sa.String(length=200), nullable=False),
            sa.Column("firing", sa.Boolean(), nullable=False),
            sa.Column("since", sa.String(length=10), nullable=True),
            sa.Column("last_day", sa.String(length=10), nullable=True),
            sa.Column("notices", sa.Integer(), nullable=False),
            sa.Column("episode", sa.Integer(), nullable=False),
            sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("rule", "scope"),
        )
    if "check_notices" not in existing:
        op.create_table(
            "check_notices",
            sa.Column("check_result_id", sa.Integer(), nullable=False),
            sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("check_result_id"),
        )
    if "check_results" not in existing:
        op.create_table(
            "check_results",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("asset", sa.String(length=200), nullable=False),
            sa.Column("check_name", sa.String(length=200), nullable=False),
            sa.Column("partition_key", sa.String(length=64), nullable=False),
            sa.Column("run_id", sa.String(length=64), nullable=False),
            sa.Column("passed", sa.Boolean(), nullable=False),
            sa.Column("severity", sa.String(length=8), nullable=False),
            sa.Column("description", sa.Text(), nullable=False),
            sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("check_results", schema=None) as batch_op:
            batch_op.create_index(
                "ix_check_results_partition", ["partition_key", "asset"], unique=False
            )
    if "deliveries" not in existing:
        op.create_table(
            "deliveries",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("report", sa.String(length=200), nullable=False),
            sa.Column("period", sa.String(length=64), nullable=False),
            sa.Column("channel", sa.String(length=32), nullable=False),
            sa.Column("target", sa.String(length=320), nullable=False),
            sa.Column("generation", sa.Integer(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("last_error", sa.Text(), nullable=True),
            sa.Column("provider_response", sa.Text(), nullable=True),
            sa.Column("message_id", sa.String(length=255), nullable=True),
            sa.Column("resend_of", sa.Integer(), nullable=True),
            sa.Column("requested_by", sa.String(length=200), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
            sa.ForeignKeyConstraint(
                ["resend_of"],
                ["deliveries.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint(
                "report",
                "period",
                "channel",
                "target",
                "generation",
                name="uq_deliveries_generation",
            ),
        )
        with op.batch_alter_table("deliveries", schema=None) as batch_op:
            batch_op.create_index("ix_deliveries_status", ["status", "updated_at"], unique=False)
    if "delivery_leases" not in existing:
        op.create_table(
            "delivery_leases",
            sa.Column("report", sa.String(length=200), nullable=False),
            sa.Column("period", sa.String(length=64), nullable=False),
            sa.Column("channel", sa.String(length=32), nullable=False),
            sa.Column("holder", sa.String(length=200), nullable=False),
            sa.Column("run_id", sa.String(length=64), nullable=True),
            sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("report", "period", "channel"),
        )
    if "notifications" not in existing:
        op.create_table(
            "notifications",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("kind", sa.String(length=32), nullable=False),
            sa.Column("severity", sa.String(length=16), nullable=False),
            sa.Column("title", sa.String(length=300), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("report", sa.String(length=200), nullable=True),
            sa.Column("period", sa.String(length=64), nullable=True),
            sa.Column("url", sa.String(length=1000), nullable=True),
            sa.Column("audience", sa.Text(), nullable=False),
            sa.Column("payload", sa.Text(), nullable=True),
            sa.Column("dedupe_key", sa.String(length=400), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("dedupe_key"),
        )
        with op.batch_alter_table("notifications", schema=None) as batch_op:
            batch_op.create_index("ix_notifications_created", ["created_at"], unique=False)
    if "reviews" not in existing:
        op.create_table(
            "reviews",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("report", sa.String(length=200), nullable=False),
            sa.Column("period", sa.String(length=64), nullable=False),
            sa.Column("version", sa.String(length=16), nullable=False),
            sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("checklist", sa.Text(), nullable=False),
            sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("decided_by", sa.String(length=320), nullable=True),
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("comment", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("report", "period", "artifact_sha256", name="uq_review_artifact"),
        )
    if "source_loads" not in existing:
        op.create_table(
            "source_loads",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("asset", sa.String(length=200), nullable=False),
            sa.Column("partition_key", sa.String(length=64), nullable=False),
            sa.Column("run_id", sa.String(length=64), nullable=False),
            sa.Column("rows", sa.BigInteger(), nullable=False),
            sa.Column("backend", sa.String(length=64), nullable=False),
            sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "delivery_resolutions" not in existing:
        op.create_table(
            "delivery_resolutions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("delivery_id", sa.Integer(), nullable=False),
            sa.Column("action", sa.String(length=16), nullable=False),
            sa.Column("resolved_by", sa.String(length=200), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.Column("resend_id", sa.Integer(), nullable=True),
            sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["delivery_id"],
                ["deliveries.id"],
            ),
            sa.ForeignKeyConstraint(
                ["resend_id"],
                ["deliveries.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
        )
    if "notification_reads" not in existing:
        op.create_table(
            "notification_reads",
            sa.Column("notification_id", sa.Integer(), nullable=False),
            sa.Column("reader", sa.String(length=320), nullable=False),
            sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["notification_id"],
                ["notifications.id"],
            ),
            sa.PrimaryKeyConstraint("notification_id", "reader"),
        )
    if "review_events" not in existing:
        op.create_table(
            "review_events",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("review_id", sa.Integer(), nullable=False),
            sa.Column("action", sa.String(length=16), nullable=False),
            sa.Column("actor", sa.String(length=320), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
            sa.Column("comment", sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(
                ["review_id"],
                ["reviews.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
        )
    if "delivery_locks" in existing:
        op.drop_table("delivery_locks")


def downgrade() -> None:
    op.drop_table("review_events")
    op.drop_table("notification_reads")
    op.drop_table("delivery_resolutions")
    op.drop_table("source_loads")
    op.drop_table("reviews")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_created")

    op.drop_table("notifications")
    op.drop_table("delivery_leases")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_status")

    op.drop_table("deliveries")
    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.drop_index("ix_check_results_partition")

    op.drop_table("check_results")
    op.drop_table("check_notices")
    op.drop_table("alert_states")
    op.drop_table("acknowledgements")
