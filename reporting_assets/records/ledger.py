"""The delivery ledger: one row per (report, period, channel, target, generation) in the app db.

A *target* is a recipient address for email, or the name of a webhook for the chat channels.
Generation 0 is the scheduled delivery; each explicit resend adds a row with the next generation,
``resend_of`` pointing at the row it repeats and ``requested_by`` saying who asked.

Status of a row::

    pending ──▶ unknown ──▶ sent
       ▲  │        │
       └──┼────────┤ (a definite refusal after the claim)
          └────────┴──────▶ failed_permanent

* ``pending``          not delivered yet (never tried, or a transient failure: ``last_error``).
* ``unknown``          *claimed*: the last byte of the content is on its way, and until the
                       channel answers nobody can say whether it arrived. A row that stays
                       ``unknown`` (the sender was killed, the connection dropped after the
                       content) is **in doubt**: it is never sent again by itself. It is listed
                       by `in_doubt`, reported to the data team, and an operator settles it with
                       `resolve` (delivered, or an explicit recorded resend).
* ``sent``             the channel accepted it; never sent again except by ``request_resend``.
* ``failed_permanent`` the channel refused it for good (SMTP 5xx); not retried.

`claim` is the only way from ``pending`` to ``unknown``, a compare-and-set: of two senders that
reach the same row (a stalled run and the run that took its lease over) exactly one may send it.

Every function runs its own short transaction, so a crash loses at most the step in progress,
and several processes may share the ledger: inserts that race are settled by the unique
constraint (SELECT, then INSERT, tolerating ``IntegrityError``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from reporting_assets.records.delivery_rows import (
    FAILED_PERMANENT,
    FINAL_STATUSES,
    PENDING,
    SENT,
    STATUSES,
    UNKNOWN,
    Delivery,
    deliveries,
    delivery_of,
    utcnow,
)
from reporting_assets.records.leases import hold

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

log = logging.getLogger(__name__)


def _newest():
    """The row is its target's newest generation (no later resend supersedes it)."""
    newer = deliveries.alias("newer")
    return ~sa.exists().where(
        newer.c.report == deliveries.c.report,
        newer.c.period == deliveries.c.period,
        newer.c.channel == deliveries.c.channel,
        newer.c.target == deliveries.c.target,
        newer.c.generation > deliveries.c.generation,
    )


def _unique(targets: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(targets))


class DeliveryLedger:
    """Read and update delivery rows. `engine` comes from `app_db.make_engine` (schema created)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    # -- reading ---------------------------------------------------------------------------

    def get(self, delivery_id: int) -> Delivery:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
                .mappings()
                .one()
            )
        return delivery_of(row)

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
        return [delivery_of(r) for r in rows]

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

    def open_rows(
        self, report: str, period: str, channel: str, *, batch: int = 200
    ) -> Iterator[Delivery]:
        """Each target's current row that is still `pending` or `unknown`, oldest first, read
        from the database `batch` rows at a time (a list of any length in flat memory)."""
        after = 0
        while True:
            query = (
                sa.select(deliveries)
                .where(
                    deliveries.c.report == report,
                    deliveries.c.period == period,
                    deliveries.c.channel == channel,
                    deliveries.c.status.in_([PENDING, UNKNOWN]),
                    deliveries.c.id > after,
                    _newest(),
                )
                .order_by(deliveries.c.id)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = [delivery_of(r) for r in conn.execute(query).mappings()]
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].id

    def tally(self, report: str, period: str, channel: str) -> dict[str, int]:
        """How many targets' current rows are in each status (every status, zeros included)."""
        query = (
            sa.select(deliveries.c.status, sa.func.count())
            .where(
                deliveries.c.report == report,
                deliveries.c.period == period,
                deliveries.c.channel == channel,
                _newest(),
            )
            .group_by(deliveries.c.status)
        )
        with self.engine.connect() as conn:
            counts = dict(conn.execute(query).all())
        return {status: counts.get(status, 0) for status in STATUSES}

    def in_doubt(self, report: str | None = None, period: str | None = None) -> list[Delivery]:
        """Rows in doubt: claimed (`unknown`) and never settled, the newest generation of their
        target. Each waits for `resolve`."""
        query = sa.select(deliveries).where(deliveries.c.status == UNKNOWN, _newest())
        if report is not None:
            query = query.where(deliveries.c.report == report)
        if period is not None:
            query = query.where(deliveries.c.period == period)
        with self.engine.connect() as conn:
            return [
                delivery_of(r) for r in conn.execute(query.order_by(deliveries.c.id)).mappings()
            ]

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
        self, since: datetime | None = None, channel: str | None = None,
        until: datetime | None = None,
    ) -> float | None:  # fmt: skip
        """sent / (sent + failed_permanent) over rows updated in [since, until) (all if None).

        Rows still pending or unknown are not counted either way. None when nothing is decided.
        """
        query = sa.select(deliveries.c.status, sa.func.count()).where(
            deliveries.c.status.in_([SENT, FAILED_PERMANENT])
        )
        if since is not None:
            if since.tzinfo is not None:
                since = since.astimezone(UTC)
            query = query.where(deliveries.c.updated_at >= since)
        if until is not None:
            query = query.where(deliveries.c.updated_at < until.astimezone(UTC))
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
    def new_row(report, period, channel, target, generation=0, resend_of=None, who=None) -> dict:
        now = utcnow()
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
        missing = [self.new_row(report, period, channel, t) for t in targets if t not in have]
        self._insert_tolerant(missing)
        return self.current(report, period, channel, targets)

    def request_resend(
        self, report: str, period: str, channel: str, targets: Sequence[str], who: str
    ) -> list[Delivery]:
        """Queue a new delivery for each target, recorded as a resend requested by `who`.

        The new row has the next generation, ``resend_of`` = the row it repeats and status
        `pending`; the sender delivers it on its next run. A target whose current row is still
        pending gets no extra row (it is about to be delivered anyway), nor does one in doubt
        (`unknown`: `resolve` settles it, deciding whether a second copy is wanted), and a
        target with no row at all gets its first (generation 0) row, requested by `who`.
        Returns each target's current row afterwards.
        """
        targets = _unique(targets)
        for _ in range(5):  # a concurrent request may take our generation number: look again
            current = {r.target: r for r in self.current(report, period, channel, targets)}
            rows = []
            for target in targets:
                row = current.get(target)
                if row is None:
                    rows.append(self.new_row(report, period, channel, target, who=who))
                elif row.status in FINAL_STATUSES:
                    rows.append(
                        self.new_row(
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

    def lease(self, report: str, period: str, channel: str, holder: str, **options):
        """`leases.hold` on this ledger's database (run_id, stale_after, on_takeover)."""
        return hold(self.engine, report, period, channel, holder, **options)

    # -- updating rows ---------------------------------------------------------------------

    def _update(self, delivery_id: int, **values) -> None:
        values["updated_at"] = utcnow()
        with self.engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(**values))

    def claim(self, delivery_id: int, message_id: str | None) -> bool:
        """`pending` → `unknown`, only if the row is still pending (compare-and-set). Called
        right before the last byte of the content goes out: True means this sender, and no
        other, hands it over now; False means another sender has it (or it is settled)."""
        with self.engine.begin() as conn:
            won = conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id, deliveries.c.status == PENDING)
                .values(status=UNKNOWN, message_id=message_id, updated_at=utcnow())
            ).rowcount
        return bool(won)

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
        now = utcnow()
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
