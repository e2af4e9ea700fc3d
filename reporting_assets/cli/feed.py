"""`reporting feed …`, `reporting ack` and `reporting decision-speed`: what readers see and
acknowledge."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, timedelta

import click

from reporting_assets.cli.common import engine, fail
from reporting_assets.config import get_settings, resolve
from reporting_assets.records.acks import AckError, acknowledge, decision_speed
from reporting_assets.records.feed import Feed


def _who(by: str | None) -> str:
    return (by or getpass.getuser()).strip()


@click.command("ack")
@click.argument("subject", type=click.Choice(["report", "alert"]))
@click.argument("key")
@click.argument("period")
@click.option("--by", help="Who acknowledges (default: your login name).")
@click.option("--decision", default="", help="What was decided, if anything.")
def ack(subject: str, key: str, period: str, by: str | None, decision: str) -> None:
    """Acknowledge a report (KEY = report, PERIOD = its period) or an alert (KEY = rule, PERIOD
    = its day), with an optional decision note."""
    try:
        a = acknowledge(engine(), subject, key, period, _who(by), decision)
    except AckError as exc:
        fail(str(exc))
    click.echo(f"Acknowledged {subject} {key} {period} by {a.acknowledged_by}, "
               f"{a.hours_to_decision:.1f} h after it was delivered.")  # fmt: skip


@click.command("decision-speed")
@click.option("--days", type=int, default=30, help="Acknowledgements of the last N days.")
def decision_speed_command(days: int) -> None:
    """Hours from delivery to acknowledgement (the executive decision-speed metric)."""
    figures = decision_speed(engine(), datetime.now(UTC) - timedelta(days=days))
    click.echo(json.dumps(figures, indent=2))


@click.group("feed")
def feed() -> None:
    """The dashboard feed: list a reader's notifications, mark them read, export them as JSON."""


@feed.command("list")
@click.option("--user", required=True, help="Email address of the reader.")
@click.option("--unread", is_flag=True, help="Only the unread ones.")
def feed_list(user: str, unread: bool) -> None:
    items = Feed(engine()).for_user(user, unread_only=unread)
    for n in items:
        flag = " " if n.read else "*"
        click.echo(f"{flag} #{n.id:<5} {n.created_at}  {n.severity:<8} {n.kind:<16} {n.title}")
    click.echo(f"{sum(1 for n in items if not n.read)} unread of {len(items)}")


@feed.command("read")
@click.option("--user", required=True)
@click.argument("ids", type=int, nargs=-1)
def feed_read(user: str, ids: tuple[int, ...]) -> None:
    """Mark notifications read for a user (all of them when no id is given)."""
    n = Feed(engine()).mark_read(user, list(ids) or None)
    click.echo(f"{n} marked read for {user}")


@feed.command("export")
@click.option("--user", required=True, help="Email address of the reader.")
@click.option("--output", type=click.Path(), default=None,
              help="Default: <notifications.feed_exports>/<user>.json.")  # fmt: skip
def feed_export(user: str, output: str | None) -> None:
    """Write one reader's feed as JSON (for a script of theirs to poll): their notifications,
    each read or not, and nobody else's."""
    user = user.strip().lower()
    path = resolve(output or f"{get_settings().notifications.feed_exports}/{user}.json")
    doc = Feed(engine()).export(path, user)
    click.echo(f"{len(doc['notifications'])} notifications ({doc['unread']} unread) for {user} "
               f"written to {path}")  # fmt: skip
