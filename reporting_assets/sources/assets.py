"""Source assets: each day's raw material, read from PostHog and the warehouse views.

Every source is partitioned by report-timezone day and idempotent per partition: re-running a day
replaces that day's file, it never appends. Warehouse rows are taken "as of" the end of the day,
so a later resolution or milestone never leaks into an earlier day's picture.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl

from reporting_assets.lib.engine import EngineLimits, connect, quoted
from reporting_assets.lib.events import property_problems
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.partitions import DayWindow, daily_partitions, day_window
from reporting_assets.quality.checks import CheckOutcome, completeness, completeness_of
from reporting_assets.quality.dagster_checks import (
    COMPLETE,
    SCHEMA,
    check_specs,
    to_result,
)
from reporting_assets.quality.file_checks import file_schema_problems
from reporting_assets.quality.schemas import AccountSnapshot, CloudCosts, PostHogEvents, RawEvents
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.sources import PostHogEventsResource, WarehouseResource
from reporting_assets.resources.storage import WrittenParquet, staging_file, window_in

SOURCES_GROUP = "step1_sources"


# The day's volume is judged against the same weekday over this many earlier weeks.
VOLUME_WEEKS = 4


def same_weekday_keys(day: date, weeks: int) -> list[str]:
    """Partition keys of the same weekday in the `weeks` weeks before `day`."""
    return [(day - timedelta(weeks=w)).isoformat() for w in range(1, weeks + 1)]


def posthog_event_checks(
    con, day_file: Path, problems: list[str], earlier_counts: list[int], min_volume_share: float
) -> dict[str, CheckOutcome]:
    """Schema and completeness of a day of PostHog events, as queries over its written file
    (`day_file`): the raw columns every event must carry, the properties' JSON, and the typed
    events' rules (`RawEvents`, `PostHogEvents`), with `problems` found reading the export."""
    relation = f"read_parquet({quoted(str(day_file))})"
    rows = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    schema_found, cases = file_schema_problems(con, day_file, RawEvents, PostHogEvents)
    schema = list(dict.fromkeys(problems + schema_found + property_problems(con, relation)))
    metadata = {"rows": rows}
    if not cases.is_empty():
        metadata["failure_cases"] = markdown_preview(cases.head(20))
    return {
        SCHEMA: CheckOutcome(
            not schema, "ERROR",
            "; ".join(schema[:5]) if schema else "every event has its columns, types and values",
            metadata, schema,
        ),
        COMPLETE: completeness_of(
            rows, schema_found, cases, sources={"posthog": rows},
            volume=("events", float(rows), [float(c) for c in earlier_counts]),
            min_volume_share=min_volume_share,
        ),
    }  # fmt: skip


def day_summary(con, day_file: Path) -> dict:
    """What the day holds, for the asset's page: distinct accounts and events by type."""
    relation = f"read_parquet({quoted(str(day_file))})"
    accounts = con.execute(f"SELECT count(DISTINCT account_id) FROM {relation}").fetchall()[0][0]
    counts = con.sql(
        f"SELECT event, count(*) AS len FROM {relation} GROUP BY event ORDER BY len DESC, event"
    ).pl()
    return {
        "distinct_accounts": accounts,
        "events_by_type": dg.MetadataValue.md(markdown_preview(counts, rows=20)),
    }


# PostHog is the source of truth for what customers did: billing lifecycle events and product
# usage. Everything in revenue protection starts here. Its checks block every metric downstream:
# a tracking outage or a broken export must never reach an executive as a real drop in revenue.
# The day streams from the export to its file in DuckDB, and the gates are queries over that
# file, so a day of 100 M events needs no more memory than the engine's limit.
@dg.asset(
    partitions_def=daily_partitions,
    group_name=SOURCES_GROUP,
    kinds={"posthog", "duckdb", "parquet"},
    check_specs=check_specs("posthog_events", [SCHEMA, COMPLETE]),
    ins={"earlier_counts": window_in("posthog_events", -VOLUME_WEEKS * 7, row_counts=True)},
    code_version="3",
    pool="posthog_api",
)
def posthog_events(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    posthog: PostHogEventsResource,
    app_db: AppDatabase,
    earlier_counts: dict[str, int],
):
    """Every product and billing event customers generated during the day (PostHog)."""
    window = day_window(context.partition_key)
    settings = business.get()
    limits = EngineLimits.of(settings)
    dest = staging_file(settings, "posthog_events", context.partition_key)
    try:
        staged = posthog.stage_day(window.start_utc, window.end_utc, dest, limits)
        same_weekday = same_weekday_keys(window.day, VOLUME_WEEKS)
        earlier = [n for k, n in sorted(earlier_counts.items()) if k in same_weekday]
        with connect(limits) as con:
            outcomes = posthog_event_checks(
                con, dest, staged.problems, earlier, settings.quality.min_volume_share
            )
            summary = day_summary(con, dest)
        app_db.record_source_load(
            "posthog_events", context.partition_key, context.run.run_id, staged.rows,
            posthog.backend,
        )  # fmt: skip
        yield dg.Output(
            WrittenParquet(dest),
            metadata={
                "rows": staged.rows,
                "period": window.label,
                "window_utc": f"{window.start_utc.isoformat()} – {window.end_utc.isoformat()}",
                "backend": posthog.backend,
                "engine_memory_limit": limits.memory_limit,
                **summary,
            },
        )
    finally:
        dest.unlink(missing_ok=True)
    app_db.record_checks("posthog_events", context.partition_key, context.run.run_id, outcomes)
    for family, outcome in outcomes.items():
        yield to_result("posthog_events", family, outcome)


@dataclass(frozen=True)
class WarehouseSource:
    """How one warehouse view becomes a daily source asset."""

    name: str
    view: str
    where: str
    description: str
    # column -> derived columns; values after the end of the day are hidden ("as of" the day)
    as_of: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kinds: frozenset[str] = frozenset({"duckdb", "polars"})
    post: Callable[[pl.DataFrame, DayWindow], pl.DataFrame] | None = None
    # Must the day have rows (costs are booked every day; incidents are not opened every day)?
    required: bool = False
    model: type[pa.DataFrameModel] | None = None


def opening_and_closing(history: pl.DataFrame, window: DayWindow) -> pl.DataFrame:
    """One row per account: its state at the end of the day, and at the end of the day before
    (the opening state; null for accounts created during the day)."""

    def valid_on(d):
        return (pl.col("valid_from") <= d) & (
            pl.col("valid_to").is_null() | (pl.col("valid_to") > d)
        )

    closing = history.filter(valid_on(window.day)).drop("valid_from", "valid_to")
    opening = history.filter(valid_on(window.day - timedelta(days=1))).select(
        "account_id",
        pl.col("plan").alias("opening_plan"),
        pl.col("status").alias("opening_status"),
        pl.col("mrr").alias("opening_mrr"),
    )
    return closing.join(opening, on="account_id", how="left").sort("account_id")


WAREHOUSE_SOURCES = (
    WarehouseSource(
        "cloud_costs",
        "v_daily_cloud_cost",
        "cost_date = :day",
        "What the company spent on each cloud service and vendor during the day, with the "
        "day's share of the budget.",
        required=True,
        model=CloudCosts,
    ),
    WarehouseSource(
        "cost_savings",
        "v_cost_savings",
        "identified_date <= :day",
        "Cost-saving opportunities identified so far, and the savings realized by the day.",
        as_of={"realized_date": ("realized_monthly_savings_usd",)},
    ),
    WarehouseSource(
        "incidents",
        "v_incidents",
        "opened_at < :end_utc AND (resolved_at IS NULL OR resolved_at >= :start_utc)",
        "Production incidents that were open at some point during the day.",
        as_of={"resolved_at": ("resolution_hours",)},
    ),
    WarehouseSource(
        "support_tickets",
        "v_support_tickets",
        "opened_at < :end_utc AND (resolved_at IS NULL OR resolved_at >= :start_utc)",
        "Customer support tickets that were open at some point during the day.",
        as_of={
            "first_response_at": ("first_response_hours",),
            "resolved_at": ("resolution_hours",),
        },
    ),
    WarehouseSource(
        "deploy_runs",
        "v_deploy_runs",
        "started_at >= :start_utc AND started_at < :end_utc",
        "Deploys and data pipeline runs started during the day, with their outcome.",
        required=True,
    ),
    WarehouseSource(
        "account_snapshot",
        "v_account_history",
        "valid_from <= :day AND (valid_to IS NULL OR valid_to > :prev_day)",
        "Every customer account as it stood at the start and at the end of the day: plan, "
        "seats, MRR and status.",
        post=opening_and_closing,
        required=True,
        model=AccountSnapshot,
    ),
    WarehouseSource(
        "strategic_initiatives",
        "v_initiatives",
        "start_date <= :day",
        "Strategic initiatives under way by the day: owner, plan, investment, expected benefit.",
        as_of={"actual_end_date": ()},
    ),
    WarehouseSource(
        "initiative_milestones",
        "v_initiative_milestones",
        "initiative_id IN (SELECT initiative_id FROM v_initiatives WHERE start_date <= :day)",
        "Milestones of the initiatives under way, with the dates reached by the day.",
        as_of={"actual_date": ()},
    ),
    WarehouseSource(
        "initiative_ledger",
        "v_initiative_ledger",
        "month_start <= :day",
        "Money spent on and benefit booked from each initiative, month by month, to the day.",
    ),
    WarehouseSource(
        "industry_benchmarks",
        "v_industry_benchmarks",
        "",
        "Industry percentiles for common SaaS KPIs, for companies of our size.",
        required=True,
    ),
)


def as_of(frame: pl.DataFrame, source: WarehouseSource, window: DayWindow) -> pl.DataFrame:
    """Hide what had not happened yet at the end of the day (future dates and instants)."""
    exprs = []
    for column, derived in source.as_of.items():
        dtype = frame.schema[column]
        limit = window.day if dtype == pl.Date else window.end_utc.replace(tzinfo=None)
        future = pl.col(column) > limit if dtype == pl.Date else pl.col(column) >= limit
        exprs.append(pl.when(future).then(None).otherwise(pl.col(column)).alias(column))
        exprs.extend(pl.when(future).then(None).otherwise(pl.col(d)).alias(d) for d in derived)
    return frame.with_columns(exprs) if exprs else frame


def read_warehouse_source(
    source: WarehouseSource, warehouse: WarehouseResource, window: DayWindow
) -> pl.DataFrame:
    """The rows of one warehouse source for a day, as of the end of that day."""
    params = {
        "day": window.day,
        "prev_day": window.day - timedelta(days=1),
        "start_utc": window.start_utc.replace(tzinfo=None),
        "end_utc": window.end_utc.replace(tzinfo=None),
    }
    used = {k: v for k, v in params.items() if f":{k}" in source.where}
    frame = as_of(warehouse.client().read(source.view, source.where, used), source, window)
    return source.post(frame, window) if source.post else frame


def _warehouse_asset(source: WarehouseSource) -> dg.AssetsDefinition:
    @dg.asset(
        name=source.name,
        partitions_def=daily_partitions,
        group_name=SOURCES_GROUP,
        kinds=set(source.kinds),
        description=source.description,
        check_specs=check_specs(source.name, [COMPLETE]),
        code_version="2",
        pool="warehouse",
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, app_db: AppDatabase
    ):
        window = day_window(context.partition_key)
        frame = read_warehouse_source(source, warehouse, window)
        app_db.record_source_load(
            source.name, context.partition_key, context.run.run_id, frame.height, warehouse.backend
        )
        yield dg.Output(
            frame,
            metadata={
                "rows": frame.height,
                "period": window.label,
                "as_of": (window.end_utc - timedelta(microseconds=1)).isoformat(),
                "view": source.view,
                "backend": warehouse.backend,
                "preview": dg.MetadataValue.md(markdown_preview(frame)),
            },
        )
        required = {source.view: frame.height} if source.required else {}
        outcome = completeness(frame, source.model, sources=required)
        app_db.record_checks(
            source.name,
            context.partition_key,
            context.run.run_id,
            {COMPLETE: outcome},
        )
        yield to_result(source.name, COMPLETE, outcome)

    return _asset


warehouse_source_assets = [_warehouse_asset(s) for s in WAREHOUSE_SOURCES]
source_assets = [posthog_events, *warehouse_source_assets]
