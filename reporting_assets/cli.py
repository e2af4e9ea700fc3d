"""`reporting …`: the commands analysts and operators run (demo data, demo run, materialize)."""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import click

from reporting_assets.config import ConfigError, config_path, get_settings, load_settings, resolve


def _fail(message: str) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(2)


@click.group()
def main() -> None:
    """Executive reporting platform on Dagster."""


@main.command("check-config")
@click.argument("path", required=False)
def check_config(path: str | None) -> None:
    """Validate a configuration file (default: REPORTING_CONFIG or the bundled demo config)."""
    from reporting_assets.analytics.recommend import rule_problems

    try:
        settings = load_settings(path)
    except ConfigError as exc:
        _fail(str(exc))
    if problems := rule_problems(settings.recommendations):
        _fail("\n".join(f"{path or config_path()}: {p}" for p in problems))
    click.echo(
        f"OK: {len(settings.metrics)} metrics, {len(settings.alert_rules)} alert rules, "
        f"{len(settings.reports)} reports, {len(settings.distribution_lists)} distribution lists"
    )


@main.command("metrics-doc")
@click.option("--readme", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Rewrite the generated definitions block of this README in place.")  # fmt: skip
def metrics_doc(readme: str | None) -> None:
    """Print every metric's definition from the metric layer and the config (the README's table;
    the workbook's README sheet and every report's appendix print the same text)."""
    from reporting_assets.metrics.layer import definitions_markdown, with_definitions

    configs = get_settings().metrics
    if readme is None:
        click.echo(definitions_markdown(configs))
        return
    path = Path(readme)
    path.write_text(with_definitions(path.read_text(), configs))
    click.echo(f"Rewrote the metric definitions in {path}")


def demo_spec(
    days: int | None, events_per_day: int | None, end: date | None, export_format: str | None = None
):
    from reporting_assets.demo.generator import DemoSpec
    from reporting_assets.partitions import latest_complete_day

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
    from reporting_assets.demo.generator import generate_demo_company, spec_json

    manifest_path = output_dir / "anomalies.json"
    if not force and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("spec") == spec_json(spec):
            return manifest
    return generate_demo_company(spec, output_dir)


@main.command("demo-data")
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


def _dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or resolve("var/dagster_home"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists() or not config.read_text().strip():
        config.write_text("telemetry:\n  enabled: false\n")
    return home


def run_job(
    job_name: str, partition_key: str, *, quiet: bool = False, run_config: dict | None = None
) -> bool:
    """Run a job for one partition in this process, recorded in the Dagster instance; print
    one line, and the checks that failed."""
    import dagster as dg

    from reporting_assets.definitions import defs

    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(job_name).execute_in_process(
            partition_key=partition_key,
            instance=instance,
            raise_on_error=False,
            run_config={
                **(run_config or {}),
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
        )
    failed = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.asset_check_evaluation_data.passed
    ]
    status = "succeeded" if result.success else "FAILED"
    if not (quiet and result.success and not failed):
        click.echo(f"  {job_name} [{partition_key}] {status} (run {result.run_id[:8]})")
    for check in failed:
        severity = check.severity.value
        click.echo(f"    {severity} {check.check_name}: {check.description}")
    if not result.success and not failed:
        for e in result.all_events:
            if e.event_type_value == "STEP_FAILURE":
                click.echo(f"    step {e.step_key} failed: {e.step_failure_data.error.message}")
    return result.success


@main.command("materialize")
@click.argument("job_name")
@click.option("--partition", "partition_key", required=True)
def materialize(job_name: str, partition_key: str) -> None:
    """Run JOB_NAME for one partition (e.g. `reporting materialize daily_sources_job
    --partition 2026-11-27`)."""
    _dagster_home()
    if not run_job(job_name, partition_key):
        sys.exit(1)


def partition_range(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


@main.command("backfill")
@click.argument("job_name")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--no-wait", is_flag=True, help="Submit it and return (a running daemon runs it).")
def backfill(job_name: str, start, end, no_wait: bool) -> None:
    """Backfill JOB_NAME's assets for every period from --start to --end as a Dagster asset
    backfill (UI: Overview → Backfills): Dagster orders the periods by their declared
    dependencies, a day after the days its windows read. A running dagster-daemon (`make ui`)
    carries it out; without one, this command does, and waits for it."""
    import dagster as dg

    from reporting_assets.backfills import (
        BulkActionStatus,
        daemon_running,
        drive,
        partitions_between,
        submit,
    )
    from reporting_assets.definitions import defs

    _dagster_home()
    try:
        keys = partitions_between(defs, job_name, f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}")
    except (ValueError, dg.DagsterInvariantViolationError) as exc:
        _fail(f"reporting backfill: {exc}")
    failed: list[str] = []

    def told(run: dg.DagsterRun) -> None:
        key = run.tags.get("dagster/partition", "?")
        click.echo(f"  run {run.run_id[:8]} [{key}] {run.status.value.lower()}")
        if run.status != dg.DagsterRunStatus.SUCCESS:
            failed.append(key)

    with dg.DagsterInstance.get() as instance:
        backfill_id = submit(instance, defs, job_name, keys)
        click.echo(f"Backfill {backfill_id}: {job_name}, {len(keys)} partitions "
                   f"({keys[0]} – {keys[-1]})")  # fmt: skip
        if no_wait or daemon_running(instance):
            click.echo("The dagster-daemon carries it out; follow it in the UI (Overview → "
                       "Backfills).")  # fmt: skip
            return
        status = drive(instance, backfill_id, told)
    click.echo(f"Backfill {backfill_id}: {status.value.lower()}")
    if failed or status not in (BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS):
        click.secho(f"{len(set(failed))} partition(s) failed: {', '.join(sorted(set(failed)))}",
                    fg="red", err=True)  # fmt: skip
        sys.exit(1)


# The demo loads this many days before its first one: the 4-week windows of the daily metrics.
WINDOW_DAYS = 28
# Weeks of KPIs a weekly trend is fitted over (config `analytics.trend_weeks`).
TREND_WEEKS = get_settings().analytics.trend_weeks

# Anomalies the demo injects on purpose that must stop the day's reports (the quality gate
# doing its job), as opposed to anomalies that must raise alerts.
BLOCKING_ANOMALIES = {"tracking_outage"}


def _print_latest(data_root: Path, day: str) -> None:
    import polars as pl

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
    import polars as pl

    from reporting_assets.metrics.layer import STATUS_WORDS

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


def _newest_check_id() -> int:
    import sqlalchemy as sa

    from reporting_assets.distribution.commands import app_database
    from reporting_assets.resources.app_db import check_results

    with app_database().engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(check_results.c.id), 0))
        ).scalar()


def _announce_critical_alerts(settings) -> list[dict]:
    from reporting_assets.distribution.commands import app_database
    from reporting_assets.distribution.realtime import check_critical_alerts
    from reporting_assets.resources import build_resources

    resources = build_resources(settings)
    base_url = resources["artifacts"].report_base_url
    return check_critical_alerts(settings, resources["asset_history"], app_database(),
                                 report_base_url=base_url)  # fmt: skip


def _print_distribution(settings, checks_before: int, alerts: list[dict]) -> None:
    """What the sensors would announce now, then the feed, the reviews and the ledger."""
    from collections import Counter

    from reporting_assets.distribution.commands import _print_ledger, app_database
    from reporting_assets.distribution.feed import Feed
    from reporting_assets.distribution.notify import notify_failed_checks
    from reporting_assets.distribution.review import ReviewBook

    app_db = app_database()
    _, failed = notify_failed_checks(settings, app_db.engine, checks_before, lookback=0)
    click.echo(f"6. Sensors, as the daemon of `make ui` runs them, over the last 7 days: "
               f"{len(alerts)} critical alert notice(s), {len(failed)} failed-check notice(s) "
               "to the data team")  # fmt: skip
    for a in alerts:
        click.echo(f"   {a['action']:<9} {a['rule']} ({a['day']})")
    feed = Feed(app_db.engine)
    kinds = Counter(n.kind for n in feed.all())
    export = resolve(settings.notifications.feed_export)
    click.echo(f"   Dashboard feed: {sum(kinds.values())} notifications ("
               + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
               + f"); JSON for a dashboard in {export.relative_to(resolve('.'))}")  # fmt: skip
    ceo = "ceo@" + settings.channels.email.sender.rsplit("@", 1)[-1]
    click.echo(f"   Unread for {ceo}: {feed.unread_count(ceo)}  (reporting feed list --user {ceo})")
    for r in ReviewBook(app_db.engine).list("open"):
        click.echo(f"   Review #{r.id} waits: {r.report} {r.period} {r.version}; "
                   f"`reporting review show {r.id}`, then approve or reject")  # fmt: skip
    click.echo("   Delivery ledger (reporting ledger lists every row):")
    _print_ledger(summary=True)


@main.command("demo")
@click.option("--days", type=int, default=None, help="Days of demo history (default: config).")
@click.option("--events-per-day", type=int, default=None)
@click.option(
    "--history-days",
    type=int,
    default=None,
    help="Days materialized before the latest (default: the history checks' weeks).",
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
    home = _dagster_home()
    history_days = history_days if history_days is not None else settings.quality.history_weeks * 7
    first = max(spec.start, spec.end - timedelta(days=history_days))
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
    window_start = max(spec.start, first - timedelta(days=WINDOW_DAYS))
    before = partition_range(window_start, first - timedelta(days=1)) if first > spec.start else []
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
    from reporting_assets.partitions import monthly_partitions, weekly_partitions

    week = weekly_partitions.get_last_partition_key()
    month = monthly_partitions.get_last_partition_key()
    keys = weekly_partitions.get_partition_keys()
    earlier_weeks = [w for w in keys[keys.index(week) - TREND_WEEKS + 1 : keys.index(week)]
                     if w >= first.isoformat()]  # fmt: skip
    months = monthly_partitions.get_partition_keys()
    previous_month = months[months.index(month) - 1]
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
    for job, key in (("weekly_report_job", week), ("monthly_report_job", month)):
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
    if unexpected:
        click.secho(f"Unexpected failures on {', '.join(unexpected)}", fg="red", err=True)
        sys.exit(1)


def _add_distribution_commands() -> None:
    from reporting_assets.distribution.commands import commands

    for command in commands:
        main.add_command(command)


_add_distribution_commands()

if __name__ == "__main__":
    main()
