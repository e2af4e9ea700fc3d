"""The delivery ledger: one row per (report, period, channel, target, generation) in the app db.

A *target* is a recipient address for email, or the name of a webhook for the chat channels.
Generation 0 is the scheduled delivery; each explicit resend adds a row with the next generation,
``resend_of`` pointing at the row it repeats and ``requested_by`` saying who asked.

Status of a row::

    pending ──▶ unknown ──▶ sent
       │           │
       └───────────┴──────▶ failed_permanent

* ``pending``          not delivered yet (never tried, or a transient failure: ``last_error``).
* ``unknown``          the content was being handed over (SMTP DATA) when we lost track; the
                       sender retries it, identified by the same deterministic Message-ID.
* ``sent``             the channel accepted it; never sent again except by ``request_resend``.
* ``failed_permanent`` the channel refused it for good (SMTP 5xx); not retried.

Every function runs its own short transaction, so a crash loses at most the step in progress,
and several processes may share the ledger: inserts that race are settled by the unique
constraint (SELECT, then INSERT, tolerating ``IntegrityError``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from reporting_assets.resources.app_db import create_schema, metadata

__all__ = [
    "FAILED_PERMANENT",
    "FINAL_STATUSES",
    "PENDING",
    "SENT",
    "STATUSES",
    "UNKNOWN",
    "Delivery",
    "DeliveryLedger",
    "deliveries",
]

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


# One row while a run delivers a report period on a channel: two runs (the approval sensor's and
# an analyst's, a resend during a scheduled run) never send the same rows at the same time.
delivery_locks = sa.Table(
    "delivery_locks",
    metadata,
    sa.Column("report", sa.String(200), primary_key=True),
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
)

LOCK_STALE_AFTER = timedelta(minutes=15)


class DeliveryBusy(RuntimeError):
    """Another run is delivering this report period on this channel right now."""


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


def _now() -> datetime:
    return datetime.now(UTC)


def _row(mapping) -> Delivery:
    return Delivery(**{k: mapping[k] for k in Delivery.__dataclass_fields__})


def _unique(targets: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(targets))


class DeliveryLedger:
    """Read and update delivery rows. `engine` comes from `app_db.make_engine` (schema created)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        # make_engine may have run before this module registered the table: create it now
        # (create_schema is safe when several processes do this at once).
        create_schema(engine)

    # -- reading ---------------------------------------------------------------------------

    def get(self, delivery_id: int) -> Delivery:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
                .mappings()
                .one()
            )
        return _row(row)

    def history(
        self, report: str, period: str, channel: str, targets: Sequence[str] | None = None
    ) -> list[Delivery]:
        """Every row (all generations) of one report period on one channel, oldest first."""
        query = sa.select(deliveries).where(
            deliveries.c.report == report,
            deliveries.c.period == period,
            deliveries.c.channel == channel,
        )
        if targets is not None:
            query = query.where(deliveries.c.target.in_(_unique(targets)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id)).mappings().all()
        return [_row(r) for r in rows]

    def current(
        self, report: str, period: str, channel: str, targets: Sequence[str] | None = None
    ) -> list[Delivery]:
        """The newest generation's row for each target (in `targets` order when given)."""
        latest: dict[str, Delivery] = {}
        for row in self.history(report, period, channel, targets):
            if row.target not in latest or row.generation > latest[row.target].generation:
                latest[row.target] = row
        if targets is None:
            return list(latest.values())
        return [latest[t] for t in _unique(targets) if t in latest]

    def pending_targets(
        self, report: str, period: str, channel: str, targets: Sequence[str] | None = None
    ) -> list[str]:
        """Targets whose current row is neither `sent` nor `failed_permanent`."""
        return [
            r.target
            for r in self.current(report, period, channel, targets)
            if r.status not in FINAL_STATUSES
        ]

    def success_rate(
        self, since: datetime | None = None, channel: str | None = None
    ) -> float | None:
        """sent / (sent + failed_permanent) over rows updated since `since` (all rows if None).

        Rows still pending or unknown are not counted either way. None when nothing is decided.
        """
        query = sa.select(deliveries.c.status, sa.func.count()).where(
            deliveries.c.status.in_([SENT, FAILED_PERMANENT])
        )
        if since is not None:
            if since.tzinfo is not None:
                since = since.astimezone(UTC)
            query = query.where(deliveries.c.updated_at >= since)
        if channel is not None:
            query = query.where(deliveries.c.channel == channel)
        with self.engine.connect() as conn:
            counts = dict(conn.execute(query.group_by(deliveries.c.status)).all())
        sent, failed = counts.get(SENT, 0), counts.get(FAILED_PERMANENT, 0)
        return sent / (sent + failed) if sent + failed else None

    # -- creating rows ---------------------------------------------------------------------

    def _insert_tolerant(self, rows: list[dict]) -> None:
        """Insert rows; any that another process inserted first are left as they are."""
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(deliveries.insert(), rows)
            return
        except sa.exc.IntegrityError:
            pass
        for row in rows:  # someone raced us on at least one: one by one, skipping duplicates
            try:
                with self.engine.begin() as conn:
                    conn.execute(deliveries.insert(), [row])
            except sa.exc.IntegrityError:
                continue

    @staticmethod
    def _new_row(report, period, channel, target, generation=0, resend_of=None, who=None) -> dict:
        now = _now()
        return dict(
            report=report,
            period=period,
            channel=channel,
            target=target,
            generation=generation,
            status=PENDING,
            attempts=0,
            resend_of=resend_of,
            requested_by=who,
            created_at=now,
            updated_at=now,
        )

    def plan(
        self, report: str, period: str, channel: str, targets: Sequence[str]
    ) -> list[Delivery]:
        """Create a `pending` row for each target that has none; return each target's current row.

        Idempotent: planning again (or from two processes at once) creates nothing new, and a
        target's current row is the newest generation (a requested resend, if any).
        """
        targets = _unique(targets)
        have = {r.target for r in self.history(report, period, channel, targets)}
        missing = [self._new_row(report, period, channel, t) for t in targets if t not in have]
        self._insert_tolerant(missing)
        return self.current(report, period, channel, targets)

    def request_resend(
        self, report: str, period: str, channel: str, targets: Sequence[str], who: str
    ) -> list[Delivery]:
        """Queue a new delivery for each target, recorded as a resend requested by `who`.

        The new row has the next generation, ``resend_of`` = the row it repeats and status
        `pending`; the sender delivers it on its next run. A target whose current row is still
        pending or unknown gets no extra row (it is about to be delivered anyway), and a target
        with no row at all gets its first (generation 0) row, marked as requested by `who`.
        Returns each target's current row afterwards.
        """
        targets = _unique(targets)
        for _ in range(5):  # a concurrent request may take our generation number: look again
            current = {r.target: r for r in self.current(report, period, channel, targets)}
            rows = []
            for target in targets:
                row = current.get(target)
                if row is None:
                    rows.append(self._new_row(report, period, channel, target, who=who))
                elif row.status in FINAL_STATUSES:
                    rows.append(
                        self._new_row(
                            report, period, channel, target, row.generation + 1, row.id, who
                        )
                    )
            if not rows:
                break
            try:
                with self.engine.begin() as conn:
                    conn.execute(deliveries.insert(), rows)
                break
            except sa.exc.IntegrityError:
                continue
        return self.current(report, period, channel, targets)

    # -- one sender at a time --------------------------------------------------------------

    @contextmanager
    def exclusive(self, report: str, period: str, channel: str, holder: str) -> Iterator[None]:
        """Hold the delivery of one report period on one channel; DeliveryBusy if another run
        holds it. A lock older than LOCK_STALE_AFTER (its run died) is taken over."""
        key = {"report": report, "period": period, "channel": channel}
        where = [delivery_locks.c[k] == v for k, v in key.items()]
        now = _now()
        try:
            with self.engine.begin() as conn:
                conn.execute(delivery_locks.insert().values(**key, holder=holder, acquired_at=now))
        except sa.exc.IntegrityError:
            with self.engine.begin() as conn:
                taken = conn.execute(delivery_locks.update().where(
                    *where, delivery_locks.c.acquired_at < now - LOCK_STALE_AFTER
                ).values(holder=holder, acquired_at=now)).rowcount  # fmt: skip
                if not taken:
                    other = conn.execute(sa.select(delivery_locks).where(*where)).mappings().first()
                    who = (
                        f"{other['holder']} since {other['acquired_at']}"
                        if other
                        else "another run"
                    )
                    raise DeliveryBusy(f"{report} {period} is being delivered by {channel} in "
                                       f"{who}; nothing was sent twice") from None  # fmt: skip
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                mine = delivery_locks.c.holder == holder
                conn.execute(delivery_locks.delete().where(*where, mine))

    # -- updating rows ---------------------------------------------------------------------

    def _update(self, delivery_id: int, **values) -> None:
        values["updated_at"] = _now()
        with self.engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(**values))

    def mark_attempt(self, delivery_id: int) -> None:
        """Count one more attempt (before trying)."""
        self._update(delivery_id, attempts=deliveries.c.attempts + 1)

    def mark_sent(
        self,
        delivery_id: int,
        message_id: str | None,
        response: str | None,
        *,
        note: str | None = None,
    ) -> None:
        """The channel accepted it. `note` keeps a remark (e.g. a Cc address refused for good)."""
        now = _now()
        self._update(
            delivery_id,
            status=SENT,
            message_id=message_id,
            provider_response=response,
            last_error=note,
            sent_at=now,
        )

    def mark_failed(
        self,
        delivery_id: int,
        error: str,
        permanent: bool,
        *,
        response: str | None = None,
    ) -> None:
        """Permanent → `failed_permanent` (never retried); otherwise back to `pending`."""
        values: dict = {"status": FAILED_PERMANENT if permanent else PENDING, "last_error": error}
        if response is not None:
            values["provider_response"] = response
        self._update(delivery_id, **values)

    def mark_unknown(
        self,
        delivery_id: int,
        *,
        message_id: str | None = None,
        error: str | None = None,
        response: str | None = None,
    ) -> None:
        """The content is (being) handed over and we do not know yet whether it arrived."""
        values: dict = {"status": UNKNOWN}
        if message_id is not None:
            values["message_id"] = message_id
        if error is not None:
            values["last_error"] = error
        if response is not None:
            values["provider_response"] = response
        self._update(delivery_id, **values)
