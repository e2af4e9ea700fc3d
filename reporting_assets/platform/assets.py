"""Platform SLO assets (group `step7_platform`): one table per service level and day, each with
an asset check against its target in config (`slo:`), so a missed SLO reaches the data team as a
failed check (the check-failure sensor), shows in the Dagster UI with its figure, and stays in
the day's table for the monthly review.

A platform day covers the report periods that end on it (all due the next day) and what the web
app measured during it. The figures are plain functions in `figures.py`; this module reads
Dagster's run records and event log, the delivery ledger and the app's measurements.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from reporting_assets.config import get_settings
from reporting_assets.config.models import Settings
from reporting_assets.distribution.assets import delivery_keys
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.partitions import daily_partitions, day_window
from reporting_assets.platform import figures as fig
from reporting_assets.platform.history import (
    finished_runs,
    first_materializations,
    first_sent,
    ledger_rows,
)
from reporting_assets.quality.checks import CheckOutcome
from reporting_assets.quality.dagster_checks import to_result
from reporting_assets.records.measurements import probes_between, stream_latency_seconds
from reporting_assets.reports.rendering import FRESHNESS_DEADLINES
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.sources.assets import source_assets

PLATFORM_GROUP = "step7_platform"
SEVERITY = "WARN"  # a missed SLO is told to the data team; it never blocks a report

RUNS_WITHIN_TARGET = "runs_within_target"
DELIVERED_WITHIN_TARGET = "delivered_within_target"
SUCCESS_RATE_MET = "success_rate_met"
LATENCY_WITHIN_TARGET = "latency_within_target"
REPORTS_ON_TIME = "reports_on_time"
AVAILABILITY_MET = "availability_met"

SOURCE_KEYS = [k.to_user_string() for a in source_assets for k in a.keys]
REPORTS = list(get_settings().reports)
DELIVERIES = [d for r in REPORTS for d in delivery_keys(r)]


def _slo_asset(name: str, check: str, check_description: str, description: str, deps=()):
    """A daily platform asset with its one SLO check (WARN, never blocking)."""
    return dg.asset(
        name=name,
        partitions_def=daily_partitions,
        group_name=PLATFORM_GROUP,
        kinds={"dagster", "polars"},
        deps=list(deps),
        description=description,
        check_specs=[dg.AssetCheckSpec(check, asset=name, description=check_description)],
        code_version="1",
    )


def _emit(
    context: dg.AssetExecutionContext,
    app_db: AppDatabase,
    asset: str,
    check: str,
    frame: pl.DataFrame,
    outcome: CheckOutcome,
    **metadata,
):
    """Record the check in the app database (what the data team's notices read), then yield the
    day's table and the check's result."""
    app_db.record_checks(asset, context.partition_key, context.run.run_id, {check: outcome})
    yield dg.Output(
        frame,
        metadata={
            "period": context.partition_key,
            "rows": frame.height,
            "summary": outcome.description,
            "preview": dg.MetadataValue.md(markdown_preview(frame, rows=20)),
            **metadata,
        },
    )
    yield to_result(asset, check, outcome)


def _outcome(problems: list[str], ok: str, **metadata) -> CheckOutcome:
    description = "; ".join(problems[:5]) + (
        f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    )
    return CheckOutcome(not problems, SEVERITY, description or ok, metadata, problems)


def _duration(minutes: float) -> str:
    """45 min, 5.5 h, 3.2 days."""
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h" if minutes < 48 * 60 else f"{minutes / 1440:.1f} days"


def _report_periods(settings: Settings, partition_key: str) -> dict[str, str]:
    """{report: period key} of the reports whose period ends on this day."""
    keys = fig.periods_ending_on(day_window(partition_key).day)
    cadences = {r: d.cadence for r, d in settings.reports.items()}
    return {r: keys[c] for r, c in cadences.items() if c in keys}


@_slo_asset(
    "slo_generation_time",
    RUNS_WITHIN_TARGET,
    "Every run of a daily, weekly or monthly job for a period ending on the day finished within "
    "its cadence's target (slo.generation_minutes).",
    "How long each report pipeline took, per job and report: every run for the periods that end "
    "on the day, from Dagster's run records, against 5 / 15 / 45 minutes.",
)
def slo_generation_time(
    context: dg.AssetExecutionContext, business: SettingsResource, app_db: AppDatabase
):
    settings = business.get()
    day = day_window(context.partition_key).day
    cadences = {r: d.cadence for r, d in settings.reports.items()}
    runs = finished_runs(context.instance, fig.periods_ending_on(day).values())
    frame = fig.generation_times(runs, day, cadences, settings.slo.generation_minutes)
    slow = frame.filter(~pl.col("within_target"))
    outcome = _outcome(
        [
            f"{r['job']} [{r['partition']}] took {r['minutes']:.1f} min (target "
            f"{r['target_minutes']:g}), run {r['run_id'][:8]}"
            for r in slow.iter_rows(named=True)
        ],
        f"{frame.height} runs, each within its target" if frame.height else "no runs to judge",
        runs=frame.height,
        slowest_minutes=frame["minutes"].max(),
    )
    yield from _emit(context, app_db, "slo_generation_time", RUNS_WITHIN_TARGET, frame, outcome)


@_slo_asset(
    "slo_landing_to_delivery",
    DELIVERED_WITHIN_TARGET,
    "Each report period ending on the day reached each channel within its cadence's target "
    "after its data landed (slo.landing_to_delivery_minutes).",
    "How long readers waited for the data: from the period's source data landing to the "
    "report's first delivery on each channel.",
    deps=DELIVERIES,
)
def slo_landing_to_delivery(
    context: dg.AssetExecutionContext, business: SettingsResource, app_db: AppDatabase
):
    settings = business.get()
    periods = _report_periods(settings, context.partition_key)
    cadences = {r: settings.reports[r].cadence for r in periods}
    days = {r: [d.isoformat() for d in fig.period_days(cadences[r], p)] for r, p in periods.items()}
    wanted = sorted({d for ds in days.values() for d in ds})
    landed = {s: first_materializations(context.instance, s, wanted) for s in SOURCE_KEYS}
    landings = {
        (r, p): [t for s in SOURCE_KEYS for d, t in landed[s].items() if d in days[r]]
        for r, p in periods.items()
    }
    sent = first_sent(ledger_rows(app_db.engine, periods))
    deliveries = [
        {"report": r, "cadence": cadences[r], "period": p, "channel": c, "sent_at": t}
        for (r, p, c), t in sent.items()
    ]
    frame = fig.landing_to_delivery(landings, deliveries, settings.slo.landing_to_delivery_minutes)
    late = frame.filter(~pl.col("within_target"))  # null (no landing recorded) is not late
    outcome = _outcome(
        [
            f"{r['report']} [{r['period']}] by {r['channel']}: {r['minutes']:.0f} min after its "
            f"data landed (target {r['target_minutes']:g})"
            for r in late.iter_rows(named=True)
        ],
        f"{frame.height} deliveries, none late" if frame.height else "nothing delivered yet",
        deliveries=frame.height,
        slowest_minutes=frame["minutes"].max(),
    )
    yield from _emit(
        context, app_db, "slo_landing_to_delivery", DELIVERED_WITHIN_TARGET, frame, outcome
    )


@_slo_asset(
    "slo_delivery_success",
    SUCCESS_RATE_MET,
    "Delivery success per channel and per report, for the report periods ending on the day, is "
    "at least slo.delivery_success (99.5 %).",
    "How reliably reports reach people: delivered / (delivered + refused for good) per channel "
    "and per report, with the bounces and other failures by cause.",
    deps=DELIVERIES,
)
def slo_delivery_success(
    context: dg.AssetExecutionContext, business: SettingsResource, app_db: AppDatabase
):
    settings = business.get()
    rows = ledger_rows(app_db.engine, _report_periods(settings, context.partition_key))
    frame, causes = fig.delivery_success(rows, settings.slo.delivery_success)
    missed = frame.filter(~pl.col("meets_target"))
    outcome = _outcome(
        [
            f"{r['scope']} {r['name']}: {r['success_rate']:.1%} delivered ({r['failed']} refused "
            f"for good; target {r['target']:.1%})"
            for r in missed.iter_rows(named=True)
        ],
        f"{frame.filter(pl.col('scope') == 'channel')['sent'].sum()} delivered, every channel "
        "and report on target"
        if rows
        else "nothing delivered for the day's periods",
        bounces=causes.filter(pl.col("kind") == "bounce")["deliveries"].sum(),
    )
    yield from _emit(
        context,
        app_db,
        "slo_delivery_success",
        SUCCESS_RATE_MET,
        frame,
        outcome,
        causes=dg.MetadataValue.md(markdown_preview(causes, rows=20)),
    )


@_slo_asset(
    "slo_dashboard_latency",
    LATENCY_WITHIN_TARGET,
    "The day's notification-to-screen latency, at slo.latency_percentile, is within "
    "slo.dashboard_latency_s (2 s).",
    "How fast the dashboard updates: seconds from a notification being created to the web "
    "app writing it to a reader's open page, over the day.",
)
def slo_dashboard_latency(
    context: dg.AssetExecutionContext, business: SettingsResource, app_db: AppDatabase
):
    slo = business.get().slo
    window = day_window(context.partition_key)
    seconds = stream_latency_seconds(app_db.engine, window.start_utc, window.end_utc)
    summary = fig.latency_summary(seconds, slo.latency_percentile, slo.dashboard_latency_s)
    share = f"p{slo.latency_percentile * 100:g}"
    problems = (
        []
        if summary["within_target"]
        else [
            f"{share} latency {summary['seconds']:.2f} s over {summary['measured']} notifications "
            f"(target {slo.dashboard_latency_s:g} s)"
        ]
    )
    ok = (
        f"{share} {summary['seconds']:.2f} s over {summary['measured']} notifications"
        if seconds
        else "no notification reached an open page"
    )
    outcome = _outcome(problems, ok, measured=summary["measured"], seconds=summary["seconds"])
    yield from _emit(
        context,
        app_db,
        "slo_dashboard_latency",
        LATENCY_WITHIN_TARGET,
        pl.DataFrame([summary], schema=fig.LATENCY_SCHEMA),
        outcome,
    )


@_slo_asset(
    "slo_report_freshness",
    REPORTS_ON_TIME,
    "Every report period ending on the day was first materialized by its deadline (an hour after "
    "its schedule); a later re-run or backfill does not make a late period on time.",
    "Whether each report was there on time: the first time each report period ending on the day "
    "was materialized, against its deadline in New York time.",
    deps=REPORTS,
)
def slo_report_freshness(
    context: dg.AssetExecutionContext, business: SettingsResource, app_db: AppDatabase
):
    settings = business.get()
    tz = settings.calendar.report_timezone
    day = day_window(context.partition_key).day
    items = []
    for report, period in _report_periods(settings, context.partition_key).items():
        cadence = settings.reports[report].cadence
        first = first_materializations(context.instance, report, [period]).get(period)
        items.append(
            {
                "report": report,
                "cadence": cadence,
                "period": period,
                "deadline": fig.deadline(day, FRESHNESS_DEADLINES[cadence], tz),
                "first_materialized": first,
            }
        )
    frame = fig.freshness(items, datetime.now(UTC))
    bad = frame.filter(pl.col("status").is_in([fig.LATE, fig.MISSING]))
    outcome = _outcome(
        [
            f"{r['report']} [{r['period']}] {r['status']}: {_duration(r['minutes_late'])} past "
            f"its deadline ({r['deadline'].astimezone(ZoneInfo(tz)):%a %d %b %H:%M})"
            for r in bad.iter_rows(named=True)
        ],
        f"{frame.height} report periods: "
        + ", ".join(f"{r['report']} {r['status']}" for r in frame.iter_rows(named=True)),
        late=bad.height,
    )
    yield from _emit(context, app_db, "slo_report_freshness", REPORTS_ON_TIME, frame, outcome)


@_slo_asset(
    "slo_availability",
    AVAILABILITY_MET,
    "The share of the day's health probes of the web app answered OK is at least slo.availability.",
    "Whether executives could reach the web app: the share of the minute-by-minute probes of "
    "its health endpoint that it answered, over the day.",
)
def slo_availability(
    context: dg.AssetExecutionContext, business: SettingsResource, app_db: AppDatabase
):
    slo = business.get().slo
    window = day_window(context.partition_key)
    probes = probes_between(app_db.engine, window.start_utc, window.end_utc)
    summary = fig.availability_summary([p.up for p in probes], slo.availability)
    errors = sorted({p.error or f"HTTP {p.status_code}" for p in probes if not p.up})
    problems = (
        []
        if summary["meets_target"]
        else [
            f"available {summary['availability']:.2%} of {summary['probes']} probes (target "
            f"{slo.availability:.2%}): {', '.join(errors[:3])}"
        ]
    )
    ok = (
        f"available {summary['availability']:.2%} of {summary['probes']} probes"
        if probes
        else "not probed on this day"
    )
    outcome = _outcome(problems, ok, probes=summary["probes"], down=summary["down"])
    yield from _emit(
        context,
        app_db,
        "slo_availability",
        AVAILABILITY_MET,
        pl.DataFrame([summary], schema=fig.AVAILABILITY_SCHEMA),
        outcome,
    )


platform_assets = [
    slo_generation_time,
    slo_landing_to_delivery,
    slo_delivery_success,
    slo_dashboard_latency,
    slo_report_freshness,
    slo_availability,
]
