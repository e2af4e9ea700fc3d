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
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    "DeliveryBusy",
    "DeliveryLedger",
    "Lease",
    "LeaseLost",
    "deliveries",
]

log = logging.getLogger(__name__)

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

# How every in-doubt row was settled, and by whom.
delivery_resolutions = sa.Table(
    "delivery_resolutions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # delivered | resend
    sa.Column("resolved_by", sa.String(200), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("resend_id", sa.Integer, sa.ForeignKey("deliveries.id"), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
)

LEASE_STALE_AFTER = timedelta(seconds=60)
RESOLUTIONS = ("delivered", "resend")


class DeliveryBusy(RuntimeError):
    """Another run is delivering this report period on this channel right now."""


class LeaseLost(DeliveryBusy):
    """This run's lease was taken over (its heartbeat went stale): it must stop sending."""


class ResolveError(ValueError):
    """An in-doubt row cannot be settled that way (not in doubt, unknown action)."""


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
                rows = [_row(r) for r in conn.execute(query).mappings()]
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
            return [_row(r) for r in conn.execute(query.order_by(deliveries.c.id)).mappings()]

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
    def lease(
        self,
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
            with self.engine.begin() as conn:
                conn.execute(delivery_leases.insert().values(**row))
        except sa.exc.IntegrityError:
            with self.engine.begin() as conn:
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
        lease = Lease(self.engine, key, holder, stale_after)
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

    # -- updating rows ---------------------------------------------------------------------

    def _update(self, delivery_id: int, **values) -> None:
        values["updated_at"] = _now()
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
                .values(status=UNKNOWN, message_id=message_id, updated_at=_now())
            ).rowcount
        return bool(won)

    def resolve(self, delivery_id: int, action: str, by: str, note: str = "") -> Delivery:
        """Settle an in-doubt row, recorded with who decided and why.

        ``delivered``: the message did arrive (the relay's log shows its Message-ID), so the
        row becomes `sent`. ``resend``: it did not (or nobody can tell, and a second copy is the
        lesser harm): a new generation is queued as an explicit resend, with its own
        Message-ID, and the next delivery run sends it. Returns the row now current.
        """
        if action not in RESOLUTIONS:
            raise ResolveError(f"resolve as one of {', '.join(RESOLUTIONS)}, not {action!r}")
        if not by.strip():
            raise ResolveError("say who settles it (--by): resolutions are audited")
        try:
            row = self.get(delivery_id)
        except sa.exc.NoResultFound:
            raise ResolveError(f"there is no delivery {delivery_id}") from None
        doubtful = {r.id for r in self.in_doubt(row.report, row.period)}
        if row.id not in doubtful:
            raise ResolveError(f"delivery {delivery_id} ({row.target}, {row.status}) is not in "
                               "doubt; nothing to settle")  # fmt: skip
        now = _now()
        record = dict(delivery_id=row.id, action=action, resolved_by=by.strip(), note=note,
                      resolved_at=now)  # fmt: skip
        with self.engine.begin() as conn:
            if action == "delivered":
                conn.execute(deliveries.update().where(
                    deliveries.c.id == row.id, deliveries.c.status == UNKNOWN
                ).values(status=SENT, sent_at=now, updated_at=now,
                         last_error=f"in doubt; marked delivered by {by.strip()}"
                         + (f": {note}" if note else "")))  # fmt: skip
                conn.execute(delivery_resolutions.insert().values(**record))
            else:
                new = self._new_row(row.report, row.period, row.channel, row.target,
                                    row.generation + 1, row.id, by.strip())  # fmt: skip
                resend_id = conn.execute(deliveries.insert().values(**new)).inserted_primary_key[0]
                conn.execute(delivery_resolutions.insert().values(**record, resend_id=resend_id))
        [current] = self.current(row.report, row.period, row.channel, [row.target])
        return current

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
