"""What the web app measures about itself, for the platform's service levels: how long a
notification took to reach a reader's open page (from its creation to the moment the live stream
wrote it), and whether the app answered its health probe (up or down, and how fast)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from reporting_assets.records.feed import notifications
from reporting_assets.resources.app_db import as_utc, metadata

# One row per notification written to one reader's live stream.
stream_latencies = sa.Table(
    "stream_latencies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reader", sa.String(320), nullable=False),
    sa.Column("notification_id", sa.Integer, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_stream_latencies_written", "written_at"),
)

# One row per probe of the web app's /healthz.
health_probes = sa.Table(
    "health_probes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("url", sa.String(500), nullable=False),
    sa.Column("up", sa.Boolean, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("seconds", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("probed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_health_probes_probed", "probed_at"),
)


@dataclass(frozen=True)
class Probe:
    """One health probe: answered OK or not, how fast, and why not."""

    up: bool
    status_code: int | None
    seconds: float | None
    error: str | None
    probed_at: datetime


def record_stream_latency(
    engine: sa.Engine,
    reader: str,
    notification_id: int,
    written_at: datetime,
    *,
    not_before: datetime | None = None,
) -> float | None:
    """Keep how long notification `notification_id` took to reach `reader`'s stream (written at
    `written_at`); return the seconds. Nothing is kept (None) for an unknown notification or
    one created before `not_before` (when the page opened: a replay of what it missed)."""
    with engine.begin() as conn:
        created = conn.execute(
            sa.select(notifications.c.created_at).where(notifications.c.id == notification_id)
        ).scalar()
        if created is None or (not_before is not None and as_utc(created) < as_utc(not_before)):
            return None
        seconds = max(0.0, (as_utc(written_at) - as_utc(created)).total_seconds())
        conn.execute(
            stream_latencies.insert().values(
                reader=reader,
                notification_id=notification_id,
                seconds=seconds,
                written_at=as_utc(written_at),
            )
        )
    return seconds


def stream_latency_seconds(engine: sa.Engine, start: datetime, end: datetime) -> list[float]:
    """Every latency measured in [start, end), oldest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(stream_latencies.c.seconds)
                .where(
                    stream_latencies.c.written_at >= as_utc(start),
                    stream_latencies.c.written_at < as_utc(end),
                )
                .order_by(stream_latencies.c.id)
            ).scalars()
        )


def record_probe(engine: sa.Engine, url: str, probe: Probe) -> None:
    with engine.begin() as conn:
        conn.execute(
            health_probes.insert().values(
                url=url,
                up=probe.up,
                status_code=probe.status_code,
                seconds=probe.seconds,
                error=probe.error,
                probed_at=as_utc(probe.probed_at),
            )
        )


def probes_between(engine: sa.Engine, start: datetime, end: datetime) -> list[Probe]:
    """Every health probe made in [start, end), oldest first."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(health_probes)
                .where(
                    health_probes.c.probed_at >= as_utc(start),
                    health_probes.c.probed_at < as_utc(end),
                )
                .order_by(health_probes.c.id)
            )
            .mappings()
            .all()
        )
    return [
        Probe(r["up"], r["status_code"], r["seconds"], r["error"], as_utc(r["probed_at"]))
        for r in rows
    ]
