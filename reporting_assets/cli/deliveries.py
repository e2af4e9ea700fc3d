"""`reporting resend`, `reporting in-doubt`, `reporting resolve` and `reporting ledger`: the
delivery ledger, and what operators do with it."""

from __future__ import annotations

import sys
from collections import Counter

import click
import sqlalchemy as sa

from reporting_assets.cli.common import dagster_home, engine, fail, run_job
from reporting_assets.config import get_settings
from reporting_assets.config.audience import data_team
from reporting_assets.records.ledger import DeliveryLedger, deliveries
from reporting_assets.records.resolutions import ResolveError, resolve


@click.command("resend")
@click.argument("report")
@click.argument("period")
@click.option("--by", required=True, help="Who asks for the resend (kept in the ledger).")
@click.option("--channel", default="email", show_default=True)
@click.option("--to", "targets", multiple=True, help="Only these addresses (repeatable).")
def resend(report: str, period: str, by: str, channel: str, targets: tuple[str, ...]) -> None:
    """Send a report period again on one channel, recorded as a resend."""
    # The delivery assets are built from the config when imported: only for a resend.
    from reporting_assets.distribution.assets import delivery_keys

    if report not in get_settings().reports:
        fail(f"unknown report '{report}' (one of {', '.join(get_settings().reports)})")
    asset = f"{report}_{channel}"
    if asset not in delivery_keys(report):
        fail(f"{report} is not delivered by {channel} (its assets: "
              f"{', '.join(delivery_keys(report))})")  # fmt: skip
    dagster_home()
    config = {"resend": True, "requested_by": by, "targets": list(targets)}
    ok = run_job(f"{report}_delivery_job", period,
                 run_config={"ops": {asset: {"config": config}}})  # fmt: skip
    print_ledger(report, period)
    if not ok:
        sys.exit(1)


# -- deliveries in doubt ----------------------------------------------------------------------


@click.command("in-doubt")
@click.option("--report", default=None)
@click.option("--period", default=None)
def in_doubt(report: str | None, period: str | None) -> None:
    """Deliveries in doubt: handed over when the sender stopped or the connection dropped,
    never sent again by themselves. Settle each with `reporting resolve`."""
    rows = DeliveryLedger(engine()).in_doubt(report, period)
    if not rows:
        click.echo("Nothing is in doubt.")
    for r in rows:
        click.echo(f"#{r.id:<6} {r.report} {r.period} {r.channel} {r.target}  Message-ID "
                   f"{r.message_id or '-'}  since {r.updated_at:%Y-%m-%d %H:%M}  "
                   f"[{r.last_error or 'the sender stopped during the hand-over'}]")  # fmt: skip
    if rows:
        click.echo("\nLook for the Message-ID in the mail relay's log, then: reporting resolve ID "
                   "delivered --by YOU (it arrived) or reporting resolve ID resend --by YOU "
                   "(it did not).")  # fmt: skip


def resolver(settings, report: str, by: str) -> str:
    """Who may settle a delivery in doubt: the data team, or the report's owner or reviewers."""
    who = by.strip().lower()
    cfg = settings.reports.get(report)
    allowed = {a.lower() for a in data_team(settings)}
    if cfg is not None:
        allowed |= {cfg.owner.lower(), *(r.lower() for r in cfg.reviewers)}
    if who not in allowed:
        raise ValueError(f"{who or '(nobody)'} may not settle deliveries of {report}: the data "
                         "team (notifications.data_team), its owner or reviewers may")  # fmt: skip
    return who


@click.command("resolve")
@click.argument("delivery_id", type=int)
@click.argument("action", type=click.Choice(["delivered", "resend"]))
@click.option("--by", required=True, help="Who settles it (the data team, owner or reviewer).")
@click.option("--note", default="", help="What you checked (e.g. the relay's log line).")
def resolve_command(delivery_id: int, action: str, by: str, note: str) -> None:
    """Settle a delivery in doubt: DELIVERED (the relay's log shows its Message-ID) or RESEND
    (it did not arrive: a new, recorded copy goes out with the next delivery run)."""
    ledger = DeliveryLedger(engine())
    try:
        row = ledger.get(delivery_id)
        who = resolver(get_settings(), row.report, by)
        current = resolve(ledger, delivery_id, action, who, note)
    except (ResolveError, ValueError, sa.exc.NoResultFound) as exc:
        fail(str(exc) if not isinstance(exc, sa.exc.NoResultFound)
              else f"there is no delivery {delivery_id}")  # fmt: skip
    if action == "delivered":
        click.echo(f"Delivery #{delivery_id} to {current.target} marked delivered by {who}.")
    else:
        job = f"reporting materialize {current.report}_delivery_job --partition {current.period}"
        click.echo(f"Resend #{current.id} to {current.target} queued by {who} (generation "
                   f"{current.generation}); it goes out with the next delivery run, or now: "
                   f"{job}")  # fmt: skip


def print_ledger(
    report: str | None = None, period: str | None = None, *, summary: bool = False
) -> None:
    ledger = DeliveryLedger(engine())
    query = sa.select(deliveries).order_by(deliveries.c.id)
    if report:
        query = query.where(deliveries.c.report == report)
    if period:
        query = query.where(deliveries.c.period == period)
    with ledger.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    if summary:
        groups = Counter((r["report"], r["period"], r["channel"], r["status"]) for r in rows)
        for (rep, per, channel, status), n in sorted(groups.items()):
            click.echo(f"  {rep:<30} {per:<24} {channel:<9} {n:>3} {status}")
    for r in [] if summary else rows:
        extra = f" resend {r['generation']} by {r['requested_by']}" if r["generation"] else ""
        error = f"  [{r['last_error']}]" if r["last_error"] else ""
        click.echo(f"  {r['report']:<30} {r['period']:<12} {r['channel']:<9} {r['target']:<34} "
                   f"{r['status']:<16} attempts {r['attempts']}{extra}{error}")  # fmt: skip
    rate = ledger.success_rate()
    click.echo(f"  {len(rows)} deliveries; success rate "
               + ("n/a" if rate is None else f"{rate:.2%}"))  # fmt: skip


@click.command("ledger")
@click.option("--report", default=None)
@click.option("--period", default=None)
def ledger(report: str | None, period: str | None) -> None:
    """Every delivery: report, period, channel, target, status, attempts."""
    print_ledger(report, period)
