"""The `deliveries` table of the app database, its statuses, and one row of it as a `Delivery`
(the ledger's rules are in `ledger.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from reporting_assets.resources.app_db import metadata

PENDING = "pending"
SENT = "sent"
FAILED_PERMANENT = "failed_permanent"
UNKNOWN = "unknown"
STATUSES = (PENDING, SENT, FAILED_PERMANENT, UNKNOWN)
FINAL_STATUSES = frozenset({SENT, FAILED_PERMANENT})

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report", sa.String(200), nullable=False),
    sa.Column("period", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("target", sa.String(320), nullable=False),
    # 0 for the scheduled delivery, n for the n-th explicit resend to this target.
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(20), nullable=False, default=PENDING),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("provider_response", sa.Text, nullable=True),
    sa.Column("message_id", sa.String(255), nullable=True),
    sa.Column("resend_of", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=True),
    sa.Column("requested_by", sa.String(200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint(
        "report", "period", "channel", "target", "generation", name="uq_deliveries_generation"
    ),
    sa.Index("ix_deliveries_status", "status", "updated_at"),
)


@dataclass(frozen=True)
class Delivery:
    """One ledger row (a snapshot: read it again with `DeliveryLedger.get` for the latest)."""

    id: int
    report: str
    period: str
    channel: str
    target: str
    generation: int
    status: str
    attempts: int
    last_error: str | None
    provider_response: str | None
    message_id: str | None
    resend_of: int | None
    requested_by: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    @property
    def is_resend(self) -> bool:
        return self.generation > 0


def utcnow() -> datetime:
    return datetime.now(UTC)


def delivery_of(mapping) -> Delivery:
    """The Delivery of a `deliveries` row mapping."""
    return Delivery(**{k: mapping[k] for k in Delivery.__dataclass_fields__})
