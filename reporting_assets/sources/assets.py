"""Source assets: each day's raw material, read from PostHog and the warehouse views.

Every source is partitioned by report-timezone day and idempotent per partition: re-running a day
replaces that day's file, it never appends. Warehouse rows are taken "as of" the end of the day,
so a later resolution or milestone never leaks into an earlier day's picture.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import dagster as dg
import polars as pl

from reporting_assets.lib.events import typed_events
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.partitions import DayWindow, daily_partitions, day_window
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.sources import PostHogEventsResource, WarehouseResource

SOURCES_GROUP = "sources"


# PostHog is the source of truth for what customers did: billing lifecycle events and product
# usage. Everything in revenue protection starts here.
@dg.asset(
    partitions_def=daily_partitions,
    group_name=SOURCES_GROUP,
    kinds={"posthog", "polars", "parquet"},
    code_version="1",
)
def posthog_events(
    context: dg.AssetExecutionContext, posthog: PostHogEventsResource, app_db: AppDatabase
) -> dg.Output[pl.DataFrame]:
    """Every product and billing event customers generated during the day (PostHog)."""
    window = day_window(context.partition_key)
    events = typed_events(posthog.events_between(window.start_utc, window.end_utc))
    app_db.record_source_load(
        "posthog_events", context.partition_key, context.run.run_id, events.height, posthog.backend
    )
    counts = events.group_by("event").len().sort("len", descending=True)
    return dg.Output(
        events,
        metadata={
            "rows": events.height,
            "period": window.label,
            "window_utc": f"{window.start_utc.isoformat()} – {window.end_utc.isoformat()}",
            "backend": posthog.backend,
            "distinct_accounts": events.get_column("account_id").n_unique(),
            "events_by_type": dg.MetadataValue.md(markdown_preview(counts, rows=20)),
        },
    )


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


WAREHOUSE_SOURCES = (
    WarehouseSource(
        "cloud_costs",
        "v_daily_cloud_cost",
        "cost_date = :day",
        "What the company spent on each cloud service and vendor during the day, with the "
        "day's share of the budget.",
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
    ),
    WarehouseSource(
        "account_snapshot",
        "v_account_history",
        "valid_from <= :day AND (valid_to IS NULL OR valid_to > :day)",
        "Every customer account as it stood at the end of the day: plan, seats, MRR, status.",
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
        "start_utc": window.start_utc.replace(tzinfo=None),
        "end_utc": window.end_utc.replace(tzinfo=None),
    }
    used = {k: v for k, v in params.items() if f":{k}" in source.where}
    frame = warehouse.client().read(source.view, source.where, used)
    return as_of(frame, source, window)


def _warehouse_asset(source: WarehouseSource) -> dg.AssetsDefinition:
    @dg.asset(
        name=source.name,
        partitions_def=daily_partitions,
        group_name=SOURCES_GROUP,
        kinds=set(source.kinds),
        description=source.description,
        code_version="1",
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, app_db: AppDatabase
    ) -> dg.Output[pl.DataFrame]:
        window = day_window(context.partition_key)
        frame = read_warehouse_source(source, warehouse, window)
        app_db.record_source_load(
            source.name, context.partition_key, context.run.run_id, frame.height, warehouse.backend
        )
        return dg.Output(
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

    return _asset


warehouse_source_assets = [_warehouse_asset(s) for s in WAREHOUSE_SOURCES]
source_assets = [posthog_events, *warehouse_source_assets]
