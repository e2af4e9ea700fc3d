"""`reporting demo-data` and `reporting demo`: the demo company, and everything run on it."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import click
import polars as pl
import sqlalchemy as sa

from reporting_assets.analytics.impact import months_text
from reporting_assets.cli.common import app_database, dagster_home, partition_range, run_job
from reporting_assets.cli.deliveries import print_ledger
from reporting_assets.cli.demo_impact import acknowledge_in_web_app, baseline_history
from reporting_assets.cli.demo_usage import DAYS, generate_usage
from reporting_assets.config import get_settings, resolve
from reporting_assets.demo.generator import DemoSpec, generate_demo_company, spec_json
from reporting_assets.distribution.notify import notify_failed_checks
from reporting_assets.distribution.realtime import check_critical_alerts
from reporting_assets.lib.formatting import plural
from reporting_assets.lib.links import Links
from reporting_assets.metrics.rating import STATUS_WORDS
from reporting_assets.partitions import (
    latest_complete_day,
    monthly_partitions,
    quarterly_partitions,
    today,
    weekly_partitions,
    yearly_partitions,
)
from reporting_assets.records.feed import Feed
from reporting_assets.records.reviews import ReviewBook
from reporting_assets.resources import build_resources
from reporting_assets.resources.app_db import check_results


def demo_spec(
    days: int | None, events_per_day: int | None, end: date | None, export_format: str | None = None
):
    s = get_settings()
    end = end or latest_complete_day(timezone=s.calendar.report_timezone)
    days = days or s.demo.days
    start = end - timedelta(days=days - 1) if days else s.calendar.history_start
    return DemoSpec(
        seed=s.demo.seed,
        start=start,
        end=end,
        events_per_day=events_per_day or s.demo.events_per_day,
        starting_accounts=s.demo.starting_accounts,
        timezone=s.calendar.report_timezone,
        export_format=export_format or s.sources.posthog.export_format,
    )


def ensure_demo_data(spec, output_dir: Path, *, force: bool = False) -> dict:
    """Generate the demo company unless the same spec is already on disk."""
    manifest_path = output_dir / "anomalies.json"
    if not force and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("spec") == spec_json(spec):
            return manifest
    return generate_demo_company(spec, output_dir)


@click.command("demo-data")
@click.option("--days", type=int, default=None, help="Days of history (default: from config).")
@click.option("--events-per-day", type=int, default=None, help="Product events on day one.")
@click.option(
    "--end",
    "end",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day (default: yesterday in the report time zone).",
)
@click.option("--format", "export_format", type=click.Choice(["parquet", "jsonl"]), default=None)
@click.option("--output", type=click.Path(), default=None, help="Folder (default: from config).")
@click.option("--force", is_flag=True, help="Regenerate even if the same data exists.")
def demo_data(days, events_per_day, end, export_format, output, force) -> None:
    """Generate the demo company: PostHog batch-export files, warehouse, anomaly manifest."""
    spec = demo_spec(days, events_per_day, end.date() if end else None, export_format)
    out = resolve(output or get_settings().demo.output_dir)
    manifest = ensure_demo_data(spec, out, force=force)
    total = sum(manifest["events_per_day"].values())
    click.echo(
        f"Demo company in {out}: {spec.start} to {spec.end}, {total:,} events in "
        f"{manifest['event_files']} files"
    )
    for a in manifest["anomalies"]:
        click.echo(f"  anomaly {a['date']}: {a['kind']} ({a['expectation']})")


# The demo loads this many days before its first one: the 4-week windows of the daily metrics.
WINDOW_DAYS = 28

# Anomalies the demo injects on purpose that must stop the day's reports (the quality gate
# doing its job), as opposed to anomalies that must raise alerts.
BLOCKING_ANOMALIES = {"tracking_outage"}


def _print_latest(data_root: Path, day: str) -> None:
    alerts_file = data_root / "assets" / "critical_alerts_daily" / f"{day}.parquet"
    if not alerts_file.exists():
        return
    alerts = pl.read_parquet(alerts_file).filter(pl.col("severity") != "info")
    click.echo(f"   Alerts on {day}: " + ("none" if alerts.is_empty() else ""))
    for a in alerts.iter_rows(named=True):
        click.echo(f"     {a['severity'].upper():8} {a['rule']}: {a['message']}")
    revenue = pl.read_parquet(data_root / "assets" / "revenue_protection_daily" / f"{day}.parquet")
    total = revenue.filter(pl.col("plan") == "total").row(0, named=True)
    click.echo(
        f"   MRR ${total['closing_mrr']:,.0f} (net new ${total['net_new_mrr']:,.0f}), "
        f"MRR at risk ${total['mrr_at_risk']:,.0f}"
    )


def _print_analytics(data_root: Path, week: str, month: str) -> None:
    """The headline of the week's and the month's analytics."""
    assets = data_root / "assets"
    card = assets / "business_scorecard_weekly" / f"{week}.parquet"
    if card.exists():
        overall = pl.read_parquet(card).filter(pl.col("metric") == "overall").row(0, named=True)
        words = STATUS_WORDS.get(overall["status"], overall["status"])
        click.echo(f"   Week of {week}: scorecard {overall['value']:.0f}/100 ({words})")
    forecast = assets / "forecasts_monthly" / f"{month}.parquet"
    if forecast.exists():
        for r in pl.read_parquet(forecast).group_by("series", maintain_order=True).last() \
                .iter_rows(named=True):  # fmt: skip
            click.echo(f"   Forecast {r['series']} for {r['month']:%B %Y}: ${r['forecast']:,.0f} "
                       f"(${r['lower']:,.0f}–${r['upper']:,.0f}); backtest error "
                       f"{r['backtest_mape']:.1%} vs naive {r['baseline_mape']:.1%}")  # fmt: skip
    recs = assets / "strategic_recommendations_monthly" / f"{month}.parquet"
    if recs.exists():
        for r in pl.read_parquet(recs).sort("rank").head(3).iter_rows(named=True):
            click.echo(f"   Recommendation {r['rank']}: {r['recommendation']}")


def _print_baseline(settings) -> None:
    """The old process before go-live, generated so decision speed has a baseline."""
    base = baseline_history(settings, app_database().engine, today(), settings.demo.seed)
    if base is None:
        return
    hours = "none" if base.median_hours is None else f"median {base.median_hours:.1f} h"
    written = "already in the app database"
    if base.deliveries or base.acks:
        written = f"{base.deliveries} deliveries and {base.acks} acknowledgements written now"
    live = settings.impact.go_live_day(today())
    click.echo(
        f"   The demo's generated baseline before go-live ({live:%-d %B %Y}): the "
        f"{settings.reports[base.report].title} emailed as a PDF each Monday of "
        f"{months_text(base.first, base.last)}, acknowledged by reply ({hours} to the first "
        f"acknowledgement); {written}"
    )


def _acknowledge_in_web_app(settings) -> None:
    live = settings.impact.go_live_day(today())
    if live is None:
        return
    done = acknowledge_in_web_app(settings, app_database(), live)
    what = "; ".join(done) or "nothing to acknowledge"
    click.echo(f"   In the web app, signed in by their links: {what}")


def _generate_usage(settings) -> None:
    used = generate_usage(settings, app_database().engine, today(), settings.demo.seed)
    if used.written:
        click.echo(f"   The demo's generated use of the web app over the last {DAYS} days: "
                   f"{used.views} report views, {used.sections} sections opened, "
                   f"{used.feedback} ratings with comments")  # fmt: skip


def _newest_check_id() -> int:
    with app_database().engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(check_results.c.id), 0))
        ).scalar()


def _announce_critical_alerts(settings) -> list[dict]:
    resources = build_resources(settings)
    base_url = resources["artifacts"].report_base_url
    return check_critical_alerts(settings, resources["asset_history"], app_database(),
                                 report_base_url=base_url)  # fmt: skip


def _print_distribution(settings, checks_before: int, alerts: list[dict]) -> None:
    """What the sensors would announce now, then the feed, the reviews and the ledger."""
    app_db = app_database()
    _, failed = notify_failed_checks(settings, app_db.engine, checks_before, lookback=0)
    click.echo(f"6. Sensors, as the daemon of `make ui` runs them, over the last 7 days: "
               f"{plural(len(alerts), 'critical alert notice')}, "
               f"{plural(len(failed), 'failed-check notice')} "
               "to the data team")  # fmt: skip
    for a in alerts:
        click.echo(f"   {a['action']:<9} {a['rule']} ({a['day']})")
    feed = Feed(app_db.engine)
    kinds = Counter(n.kind for n in feed.all())
    click.echo(f"   Dashboard feed: {sum(kinds.values())} notifications ("
               + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
               + "); the web app shows each reader theirs")  # fmt: skip
    ceo = "ceo@" + settings.channels.email.sender.rsplit("@", 1)[-1]
    click.echo(f"   Unread for {ceo}: {feed.unread_count(ceo)}  (reporting feed list --user {ceo})")
    for r in ReviewBook(app_db.engine).list("open"):
        click.echo(f"   Review #{r.id} waits: {r.report} {r.period} {r.version}; "
                   f"`reporting review show {r.id}`, then approve or reject")  # fmt: skip
    click.echo("   Delivery ledger (reporting ledger lists every row):")
    print_ledger(summary=True)


@click.command("demo")
@click.option("--days", type=int, default=None, help="Days of demo history (default: config).")
@click.option("--events-per-day", type=int, default=None)
@click.option(
    "--history-days",
    type=int,
    default=None,
    help="Days with metrics before the latest (default: every day from the partitions' start, "
    "after the 4 weeks their windows read).",
)
def demo(days, events_per_day, history_days) -> None:
    """Generate the demo company and materialize everything for the latest complete period,
    after the trailing weeks the history checks compare it with."""
    settings = get_settings()
    spec = demo_spec(days, events_per_day, None)
    out = resolve(settings.demo.output_dir)
    click.echo(f"1. Demo company {spec.start} – {spec.end} in {out}")
    manifest = ensure_demo_data(spec, out)
    click.echo(
        f"   {sum(manifest['events_per_day'].values()):,} PostHog events, "
        f"{sum(manifest['table_rows'].values()):,} warehouse rows"
    )
    _print_baseline(settings)
    home = dagster_home()
    # Everything from the partitions' first day: the UI then shows no day left undone.
    load_from = max(spec.start, settings.calendar.first_partition_day(today()))
    if history_days is None:
        first = min(spec.end, load_from + timedelta(days=WINDOW_DAYS))
    else:
        first = max(load_from, spec.end - timedelta(days=history_days))
    days_to_run = partition_range(first, spec.end)
    click.echo(
        f"2. Daily sources, metrics and checks for {first} – {spec.end} "
        f"({len(days_to_run)} days, {settings.calendar.report_timezone}); Dagster instance in "
        f"{home}"
    )
    expected_blocks = {a["date"]: a["kind"] for a in manifest["anomalies"]
                       if a["kind"] in BLOCKING_ANOMALIES}  # fmt: skip
    unexpected = []
    # The 4 weeks before the first day: the account activity and cloud costs its windows read.
    window_start = max(load_from, first - timedelta(days=WINDOW_DAYS))
    before = partition_range(window_start, first - timedelta(days=1)) if first > load_from else []
    if before:
        click.echo(f"   first, the history their 4-week windows read: {before[0]} – {before[-1]}")
    for key in before:
        if not run_job("daily_history_job", key, quiet=True) and key not in expected_blocks:
            unexpected.append(key)
    checks_before, alert_notices = 0, []
    week_start = days_to_run[max(0, len(days_to_run) - 7)]
    for key in days_to_run:
        last_week = key >= week_start
        if key == week_start:
            checks_before = _newest_check_id()
        # The latest day also renders its reports; earlier days only feed the history checks.
        job = "daily_report_job" if key == days_to_run[-1] else "daily_metrics_job"
        ok = run_job(job, key, quiet=True)
        if last_week:  # what the real-time alert sensor announces as each of these days lands
            alert_notices += _announce_critical_alerts(settings)
        if not ok and key in expected_blocks:
            click.echo(
                f"    (expected: the demo injected a {expected_blocks[key]} on {key}; the "
                "quality gate blocked the day's reports)"
            )
        elif not ok:
            unexpected.append(key)
    week = weekly_partitions.get_last_partition_key()
    month = monthly_partitions.get_last_partition_key()
    keys = weekly_partitions.get_partition_keys()
    # Every whole week with metrics (the trends read the last `analytics.trend_weeks` of them).
    earlier_weeks = [w for w in keys[: keys.index(week)] if w >= first.isoformat()]
    months = monthly_partitions.get_partition_keys()
    previous_month = months[max(0, months.index(month) - 1)]
    click.echo(
        f"3. The weeks before ({', '.join(earlier_weeks)}; for the trends) and the month before "
        f"({previous_month[:7]}; for the comparisons): their KPIs. A period with a day missing "
        "says so by name."
    )
    for key in earlier_weeks:
        run_job("weekly_analytics_job", key, quiet=True)
    run_job("monthly_kpis_job", previous_month, quiet=True)
    click.echo(
        f"4. The latest complete week ({week}) and the month to date ({month[:7]}): "
        "analytics, models, reports and decks"
    )
    saturday = (date.fromisoformat(week) + timedelta(days=6)).isoformat()
    quarter = quarterly_partitions.get_last_partition_key()
    year = yearly_partitions.get_last_partition_key()
    for job, key in (
        ("weekly_report_job", week),
        ("platform_slo_job", saturday),
        ("platform_slo_job", spec.end.isoformat()),
        ("monthly_report_job", month),
        ("enhancement_planning_job", quarter),
        ("strategic_review_job", year),
    ):
        if job == "enhancement_planning_job":
            click.echo(f"   The quarter's enhancement backlog (from {quarter[:7]}) and the "
                       f"year's strategic review ({year[:4]}), from what the platform "
                       "recorded")  # fmt: skip
        if job == "monthly_report_job":  # the month's decision speed counts these
            _acknowledge_in_web_app(settings)
            _generate_usage(settings)  # what the performance review reviews
        if job == "platform_slo_job" and key == saturday:
            click.echo(f"   The platform's service levels for {saturday} (the week's "
                       f"report) and {spec.end} (the day's); then the month's performance "
                       "review")  # fmt: skip
        if not run_job(job, key):
            unexpected.append(f"{job} {key}")
    data_root = resolve(settings.storage.data_root)
    day = spec.end.isoformat()
    click.echo(f"5. Produced for {day}:")
    tables = sorted((data_root / "assets").glob(f"*/{day}.parquet"))
    where = (data_root / "assets").relative_to(resolve("."))
    click.echo(f"   {len(tables)} asset partitions under {where}/<asset>/{day}.parquet")
    _print_latest(data_root, day)
    _print_analytics(data_root, week, month)
    artifacts = resolve(settings.storage.artifact_root)
    for report in sorted(
        [
            *artifacts.glob(f"*/{day}/v*"),
            *artifacts.glob(f"*/{week}/v*"),
            *artifacts.glob(f"*/{month}/v*"),
        ]
    ):
        for f in sorted(p for p in report.iterdir() if p.is_file()):
            click.echo(f"   {f.relative_to(resolve('.'))}  ({f.stat().st_size:,} bytes)")
    outbox = resolve(settings.channels.email.outbox_dir)
    sent = sorted(outbox.glob("*/*/*.eml"))
    if sent:
        click.echo(
            f"   {len(sent)} emails in the outbox {outbox.relative_to(resolve('.'))}/"
            "<report>/<period>/ (the monthly report waits for a reviewer's approval)"
        )
    _print_distribution(settings, checks_before, alert_notices)
    click.echo(
        "\nOpen the Dagster UI with `make ui` (http://127.0.0.1:3000): Assets → lineage for the "
        "flow, an asset's Checks tab for the quality gates, Runs for what ran."
    )
    domain = settings.channels.email.sender.rsplit("@", 1)[-1]
    links = Links.of(settings)
    ceo, chair = f"ceo@{domain}", f"chair@{domain}"
    click.echo(f"`make ui` also serves the web app on {settings.web.base_url}:\n"
               f"   the CEO's Today: {links.url(settings.web.base_url, ceo)}\n"
               f"   the board chair's review of the monthly report: "
               f"{links.url(settings.web.base_url, chair, '/reviews')}\n"
               "   and, while it runs, `make live-alert` posts the demo's payment-failure day to "
               "its PostHog hook, event by event: the alert is on the CEO's open page within a "
               "second of the breaching event.")  # fmt: skip
    if unexpected:
        click.secho(f"Unexpected failures on {', '.join(unexpected)}", fg="red", err=True)
        sys.exit(1)
