"""Settling a delivery in doubt: an operator decides, from the relay's log, whether the message
arrived (`delivered`) or must go again (`resend`, a new recorded generation). Every decision is
kept with who made it and why."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from reporting_assets.records.ledger import (
    SENT,
    UNKNOWN,
    Delivery,
    DeliveryLedger,
    deliveries,
)
from reporting_assets.resources.app_db import metadata

__all__ = ["RESOLUTIONS", "ResolveError", "delivery_resolutions", "resolve"]

RESOLUTIONS = ("delivered", "resend")


class ResolveError(ValueError):
    """An in-doubt row cannot be settled that way (not in doubt, unknown action)."""


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


def resolve(
    ledger: DeliveryLedger, delivery_id: int, action: str, by: str, note: str = ""
) -> Delivery:
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
        row = ledger.get(delivery_id)
    except sa.exc.NoResultFound:
        raise ResolveError(f"there is no delivery {delivery_id}") from None
    doubtful = {r.id for r in ledger.in_doubt(row.report, row.period)}
    if row.id not in doubtful:
        raise ResolveError(f"delivery {delivery_id} ({row.target}, {row.status}) is not in "
                           "doubt; nothing to settle")  # fmt: skip
    now = datetime.now(UTC)
    record = dict(delivery_id=row.id, action=action, resolved_by=by.strip(), note=note,
                  resolved_at=now)  # fmt: skip
    with ledger.engine.begin() as conn:
        if action == "delivered":
            conn.execute(deliveries.update().where(
                deliveries.c.id == row.id, deliveries.c.status == UNKNOWN
            ).values(status=SENT, sent_at=now, updated_at=now,
                     last_error=f"in doubt; marked delivered by {by.strip()}"
                     + (f": {note}" if note else "")))  # fmt: skip
            conn.execute(delivery_resolutions.insert().values(**record))
        else:
            new = ledger.new_row(row.report, row.period, row.channel, row.target,
                                row.generation + 1, row.id, by.strip())  # fmt: skip
            resend_id = conn.execute(deliveries.insert().values(**new)).inserted_primary_key[0]
            conn.execute(delivery_resolutions.insert().values(**record, resend_id=resend_id))
    [current] = ledger.current(row.report, row.period, row.channel, [row.target])
    return current
