"""Acknowledgements: an executive saying "seen" (and what they decided) about a report or alert.

Each acknowledgement records who, when, an optional decision note, and when the thing
acknowledged reached its readers (the first delivery of the report from the ledger, or the
first notification of the alert in the feed). The time between the two is the *decision
speed* the monthly business-impact metrics track.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from reporting_assets.records.feed import notifications
from reporting_assets.records.ledger import SENT, deliveries
from reporting_assets.resources.app_db import as_utc, metadata

SUBJECTS = ("report", "alert")

acknowledgements = sa.Table(
    "acknowledgements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject", sa.String(16), nullable=False),  # report | alert
    sa.Column("key", sa.String(200), nullable=False),  # report key, or alert rule name
    sa.Column("period", sa.String(64), nullable=False),  # report period, or the alert's day
    sa.Column("acknowledged_by", sa.String(320), nullable=False),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decision", sa.Text, nullable=True),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("subject", "key", "period", "acknowledged_by", name="uq_ack_once"),
)


class AckError(ValueError):
    """The acknowledgement cannot be recorded (unknown subject, or already recorded)."""


@dataclass(frozen=True)
class Ack:
    id: int
    subject: str
    key: str
    period: str
    acknowledged_by: str
    acknowledged_at: datetime
    decision: str | None
    delivered_at: datetime | None

    @property
    def hours_to_decision(self) -> float | None:
        if self.delivered_at is None:
            return None
        return (self.acknowledged_at - self.delivered_at).total_seconds() / 3600


def _as_ack(row) -> Ack:
    values = dict(row)
    values["acknowledged_at"] = as_utc(values["acknowledged_at"])
    values["delivered_at"] = as_utc(values["delivered_at"])
    return Ack(**values)


def delivered_at(engine: sa.Engine, subject: str, key: str, period: str) -> datetime | None:
    """When the subject first reached its readers (None if it never did)."""
    with engine.connect() as conn:
        if subject == "report":
            found = conn.execute(
                sa.select(sa.func.min(deliveries.c.sent_at)).where(
                    deliveries.c.report == key,
                    deliveries.c.period == period,
                    deliveries.c.status == SENT,
                )
            ).scalar()
        else:
            found = conn.execute(
                sa.select(sa.func.min(notifications.c.created_at)).where(
                    notifications.c.kind == "critical_alert",
                    notifications.c.report == key,
                    notifications.c.period == period,
                )
            ).scalar()
    return as_utc(found)


def acknowledge(
    engine: sa.Engine,
    subject: str,
    key: str,
    period: str,
    who: str,
    decision: str | None = None,
    *,
    at: datetime | None = None,
) -> Ack:
    """Record that `who` acknowledged a report period or an alert day (once per person)."""
    if subject not in SUBJECTS:
        raise AckError(f"can only acknowledge one of {', '.join(SUBJECTS)}, not '{subject}'")
    when = as_utc(at) or datetime.now(UTC)
    reached = delivered_at(engine, subject, key, period)
    if reached is None:
        what = "was never delivered" if subject == "report" else "never fired a notification"
        raise AckError(f"{subject} {key} {period} {what}; nothing to acknowledge")
    row = dict(subject=subject, key=key, period=period, acknowledged_by=who.strip().lower(),
               acknowledged_at=when, decision=decision or None, delivered_at=reached)  # fmt: skip
    try:
        with engine.begin() as conn:
            new_id = conn.execute(acknowledgements.insert().values(**row)).inserted_primary_key[0]
    except sa.exc.IntegrityError:
        raise AckError(f"{who} already acknowledged {subject} {key} {period}") from None
    return Ack(id=int(new_id), **row)


def acks(engine: sa.Engine, since: datetime | None = None, until: datetime | None = None) -> list:
    """Acknowledgements recorded in [since, until), oldest first."""
    query = sa.select(acknowledgements)
    if since is not None:
        query = query.where(acknowledgements.c.acknowledged_at >= as_utc(since))
    if until is not None:
        query = query.where(acknowledgements.c.acknowledged_at < as_utc(until))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(acknowledgements.c.id)).mappings().all()
    return [_as_ack(r) for r in rows]


def decision_speed(
    engine: sa.Engine, since: datetime | None = None, until: datetime | None = None
) -> dict:
    """Hours from delivery to the first acknowledgement of each report period or alert day
    whose first acknowledgement falls in [since, until).

    Only the first person to acknowledge a subject counts: that is when a decision could start.
    """
    first: dict[tuple[str, str, str], Ack] = {}
    for ack in acks(engine, None, until):  # all earlier ones: the first may predate `since`
        k = (ack.subject, ack.key, ack.period)
        if k not in first or ack.acknowledged_at < first[k].acknowledged_at:
            first[k] = ack
    if since is not None:
        first = {k: a for k, a in first.items() if a.acknowledged_at >= as_utc(since)}
    hours = [a.hours_to_decision for a in first.values() if a.hours_to_decision is not None]
    return {
        "acknowledged": len(hours),
        "median_hours": statistics.median(hours) if hours else None,
        "mean_hours": statistics.fmean(hours) if hours else None,
    }
