"""Billing events as PostHog pushes them, one at a time, while the day goes on: kept once per
event (PostHog retries a delivery it thinks failed, in any order), so the alert rules can be
judged on the day so far long before the daily run has the whole day."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa

from reporting_assets.resources.app_db import as_utc, metadata

# One row per PostHog event (its uuid), with the day it belongs to in the report time zone and
# the properties the alert rules count (the amount in minor units, as the daily source types it).
intraday_events = sa.Table(
    "intraday_events",
    metadata,
    sa.Column("uuid", sa.String(64), primary_key=True),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("distinct_id", sa.String(200), nullable=True),
    sa.Column("account_id", sa.String(200), nullable=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=True),
    sa.Column("properties", sa.Text, nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_intraday_events_day", "day", "event"),
)


@dataclass(frozen=True)
class HookEvent:
    """One event as PostHog's webhook destination delivered it."""

    uuid: str
    event: str
    occurred_at: datetime  # UTC
    distinct_id: str | None = None
    account_id: str | None = None
    amount_minor: int | None = None
    properties: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EventTally:
    """How many events of one name a day holds so far, and their amounts (minor units)."""

    count: int = 0
    amount_minor: int = 0


def store_event(engine: sa.Engine, event: HookEvent, day: date) -> bool:
    """Keep the event once; return False when it was already kept (a retried delivery)."""
    row = dict(
        uuid=event.uuid,
        event=event.event,
        day=day.isoformat(),
        occurred_at=event.occurred_at,
        distinct_id=event.distinct_id,
        account_id=event.account_id,
        amount_minor=event.amount_minor,
        properties=json.dumps(event.properties, separators=(",", ":"), default=str),
        received_at=datetime.now(UTC),
    )
    try:
        with engine.begin() as conn:
            conn.execute(intraday_events.insert().values(**row))
        return True
    except sa.exc.IntegrityError:
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(intraday_events.c.uuid).where(intraday_events.c.uuid == event.uuid)
            ).first()
        if found is None:  # not a duplicate after all: a real constraint problem
            raise
        return False


def day_tally(engine: sa.Engine, day: date, events: Iterable[str]) -> dict[str, EventTally]:
    """{event name: its count and amount} among the day's events kept so far (every name asked
    for is present, with zeros when none arrived)."""
    names = sorted(set(events))
    query = (
        sa.select(
            intraday_events.c.event,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(intraday_events.c.amount_minor), 0),
        )
        .where(intraday_events.c.day == day.isoformat(), intraday_events.c.event.in_(names))
        .group_by(intraday_events.c.event)
    )
    with engine.connect() as conn:
        found = {name: EventTally(int(n), int(amount)) for name, n, amount in conn.execute(query)}
    return {name: found.get(name, EventTally()) for name in names}


def last_event_at(engine: sa.Engine, day: date) -> datetime | None:
    """When the newest event kept for the day happened (UTC)."""
    with engine.connect() as conn:
        newest = conn.execute(
            sa.select(sa.func.max(intraday_events.c.occurred_at)).where(
                intraday_events.c.day == day.isoformat()
            )
        ).scalar()
    return as_utc(newest)
