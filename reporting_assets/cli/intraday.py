"""`reporting intraday replay`: post a demo day's billing events to the web app's PostHog hook,
one request per event as PostHog's realtime destination does, so the demo shows an alert
arriving while the day goes on."""

import json
import os
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import polars as pl
import requests

from reporting_assets.cli.common import fail
from reporting_assets.config import get_settings, resolve
from reporting_assets.config.models import Settings
from reporting_assets.distribution.intraday import COUNTED_EVENTS, hook_body
from reporting_assets.lib.days import day_bounds_utc
from reporting_assets.lib.events import read_batch_export


def replay_bodies(raw: pl.DataFrame, events: list[str], onto: date | None, tz: str) -> list[dict]:
    """The webhook bodies of the day's `events` in time order. With `onto`, each event moves to
    that day at the same local time, under a uuid derived from its own (a replay posted twice
    on the same day counts once)."""
    zone = ZoneInfo(tz)
    bodies = []
    for r in (
        raw.filter(pl.col("event").is_in(events)).sort("timestamp", "uuid").iter_rows(named=True)
    ):
        moment, event_id = r["timestamp"], r["uuid"]
        if onto is not None:
            local = moment.astimezone(zone)
            moment = datetime.combine(onto, local.time(), zone)
            event_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{r['uuid']}@{onto}"))
        properties = json.loads(r["properties"]) if r["properties"] else {}
        bodies.append(
            hook_body(r["event"], moment, properties, uuid=event_id, distinct_id=r["distinct_id"])
        )
    return bodies


def _demo_day(settings: Settings) -> date:
    anomalies = Path(resolve(settings.demo.output_dir)) / "anomalies.json"
    if anomalies.exists():
        for a in json.loads(anomalies.read_text()).get("anomalies", []):
            if a["kind"] == "payment_failure_spike":
                return date.fromisoformat(a["date"])
    fail("no --day given and no payment failure spike in the demo data: run `reporting demo-data`")


@click.group("intraday")
def intraday() -> None:
    """Alerts as they happen: PostHog's pushed events."""


@click.command("replay")
@click.option(
    "--day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The demo day to replay (default: the demo's payment failure spike).",
)
@click.option("--url", default=None, help="The hook (default: web.base_url + /hooks/posthog).")
@click.option(
    "--events",
    default=",".join(COUNTED_EVENTS),
    show_default=True,
    help="The events the destination forwards (comma-separated).",
)
@click.option(
    "--as-today/--as-recorded",
    default=True,
    show_default=True,
    help="Move the events onto today (a live alert), or keep their own day.",
)
@click.option(
    "--pace", type=float, default=0.2, show_default=True, help="Seconds between two events."
)
def replay(day: datetime | None, url: str | None, events: str, as_today: bool, pace: float):
    """Post a demo day's billing events to the hook, one request per event, in time order."""
    settings = get_settings()
    cfg = settings.intraday
    secret = os.environ.get(cfg.secret_env)
    if not secret:
        fail(f"set {cfg.secret_env} to the hook's secret (the web app reads the same variable)")
    tz = settings.calendar.report_timezone
    chosen = day.date() if day else _demo_day(settings)
    ph = settings.sources.posthog
    root = ph.export_path if ph.backend != "demo" else f"{settings.demo.output_dir}/posthog/events"
    raw = read_batch_export(str(resolve(root)), *day_bounds_utc(chosen, ZoneInfo(tz)))
    onto = datetime.now(ZoneInfo(tz)).date() if as_today else None
    bodies = replay_bodies(raw, [e.strip() for e in events.split(",") if e.strip()], onto, tz)
    url = url or f"{settings.web.base_url}/hooks/posthog"
    click.echo(f"{len(bodies)} events of {chosen}" + (f" as {onto}" if onto else "") + f" → {url}")
    with requests.Session() as session:
        for i, body in enumerate(bodies, 1):
            answer = session.post(
                url,
                data=json.dumps(body),
                timeout=10,
                headers={"Content-Type": "application/json", cfg.header: secret},
            )
            if answer.status_code != 200:
                fail(f"event {i} ({body['event']['event']}): {answer.status_code} {answer.text}")
            click.echo(
                f"{i:4d} {body['event']['timestamp']} {body['event']['event']:<20} "
                f"{answer.json()['stored']}"
            )
            time.sleep(pace)


intraday.add_command(replay)
