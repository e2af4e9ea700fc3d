"""Delivery leases: one run delivers a report period on a channel at a time, and a lease
lives with its run.

The holder refreshes the lease's heartbeat while it sends. Another run is refused
(`DeliveryBusy`) while the heartbeat is fresh; a lease whose heartbeat is older than the stale
limit belongs to a run that died, and is taken over (the caller marks the dead run failed). A
run whose lease was taken over learns it at its next check (`LeaseLost`) and stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from reporting_assets.resources.app_db import metadata

__all__ = ["LEASE_STALE_AFTER", "DeliveryBusy", "Lease", "LeaseLost", "delivery_leases", "hold"]

log = logging.getLogger(__name__)

LEASE_STALE_AFTER = timedelta(seconds=60)

# One row while a run delivers a report period on a channel (its *lease*): two runs (the approval
# sensor's and an analyst's, a resend during a scheduled run) never send the same rows at the
# same time. The holder refreshes `heartbeat_at` while it sends; a lease whose heartbeat is older
# than the stale limit belongs to a dead run and is taken over.
delivery_leases = sa.Table(
    "delivery_leases",
    metadata,
    sa.Column("report", sa.String(200), primary_key=True),
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryBusy(RuntimeError):
    """Another run is delivering this report period on this channel right now."""


class LeaseLost(DeliveryBusy):
    """This run's lease was taken over (its heartbeat went stale): it must stop sending."""


class Lease:
    """A held delivery lease. A background thread refreshes its heartbeat every quarter of the
    stale limit; `check` raises `LeaseLost` once another run has taken it over."""

    def __init__(self, engine: sa.Engine, key: dict, holder: str, stale_after: timedelta):
        self.engine, self.key, self.holder = engine, key, holder
        self.interval = max(stale_after.total_seconds() / 4, 0.05)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="delivery-lease", daemon=True)

    def _where(self):
        return [delivery_leases.c[k] == v for k, v in self.key.items()] + [
            delivery_leases.c.holder == self.holder
        ]

    def beat(self) -> bool:
        """Refresh the heartbeat now; False (and `lost` set) when the lease is no longer ours."""
        with self.engine.begin() as conn:
            mine = conn.execute(
                delivery_leases.update().where(*self._where()).values(heartbeat_at=_now())
            ).rowcount
        if not mine:
            self.lost.set()
        return bool(mine)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.beat():
                    return
            except sa.exc.SQLAlchemyError as exc:  # the database is briefly away: try again
                log.warning("delivery lease heartbeat failed: %s", exc)

    def check(self) -> None:
        if self.lost.is_set():
            k = self.key
            raise LeaseLost(
                f"{k['report']} {k['period']} {k['channel']}: another run took the delivery over "
                f"(no heartbeat from {self.holder} for too long); this run stops sending"
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self.engine.begin() as conn:
            conn.execute(delivery_leases.delete().where(*self._where()))


@contextmanager
def hold(
    engine: sa.Engine,
    report: str,
    period: str,
    channel: str,
    holder: str,
    *,
    run_id: str | None = None,
    stale_after: timedelta = LEASE_STALE_AFTER,
    on_takeover: Callable[[dict], None] | None = None,
) -> Iterator[Lease]:
    """Hold the delivery of one report period on one channel while the block runs.

    `DeliveryBusy` if another run holds it with a fresh heartbeat. A lease whose heartbeat
    is older than `stale_after` belongs to a run that died: it is taken over, and
    `on_takeover` is called with the dead holder's row (its ``run_id``) so that run can be
    marked failed. While the block runs a thread keeps the heartbeat fresh.
    """
    key = {"report": report, "period": period, "channel": channel}
    where = [delivery_leases.c[k] == v for k, v in key.items()]
    now = _now()
    row = dict(**key, holder=holder, run_id=run_id, acquired_at=now, heartbeat_at=now)
    dead: dict | None = None
    try:
        with engine.begin() as conn:
            conn.execute(delivery_leases.insert().values(**row))
    except sa.exc.IntegrityError:
        with engine.begin() as conn:
            other = conn.execute(sa.select(delivery_leases).where(*where)).mappings().first()
            taken = other is not None and conn.execute(
                delivery_leases.update()
                .where(*where, delivery_leases.c.holder == other["holder"],
                       delivery_leases.c.heartbeat_at < now - stale_after)
                .values(holder=holder, run_id=run_id, acquired_at=now, heartbeat_at=now)
            ).rowcount  # fmt: skip
        if not taken:
            who = (f"{other['holder']} (heartbeat {other['heartbeat_at']:%H:%M:%S})"
                   if other else "another run")  # fmt: skip
            raise DeliveryBusy(f"{report} {period} is being delivered by {channel} in "
                               f"{who}; nothing was sent twice") from None  # fmt: skip
        dead = dict(other)
    lease = Lease(engine, key, holder, stale_after)
    lease._thread.start()
    try:
        if dead is not None:
            log.warning(
                "took over the %s delivery of %s %s from %s (no heartbeat since %s)",
                channel, report, period, dead["holder"], dead["heartbeat_at"],
            )  # fmt: skip
            if on_takeover is not None:
                on_takeover(dead)
        yield lease
    finally:
        lease.release()
