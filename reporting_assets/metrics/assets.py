"""Daily metric assets (group `step2_metrics_daily`) and their four quality gates.

Each asset reads the day's sources, calls a plain function from `compute.py` or
`operations.py`, and yields the table with its four checks: completeness, business rules,
consistency with history and alert thresholds. Completeness, business rules and alert thresholds
are ERROR checks that block every downstream report; the history check's severity is configured
(WARN by default) and its result
goes to the report's quality appendix.

The account and revenue metrics read the day's product events reduced to a few small tables
(`event_aggregates`): with the PostHog Query API and `sources.posthog.pushdown`, PostHog computes
them and only they cross the network; otherwise DuckDB computes them from the stored day.

Every earlier day an asset reads is a declared dependency (`window_in`): the 4-week usage window,
the 28 days of cost history, the same-weekday history of the checks. The asset graph shows them,
Dagster's backfills order the days by them, and the asset says which days of a window were
missing instead of reading whatever happened to be stored.
"""

import dagster as dg
import polars as pl

from reporting_assets.lib.engine import EngineLimits
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.metrics import compute, operations
from reporting_assets.metrics.alert_assets import critical_alerts_daily
from reporting_assets.metrics.event_aggregates import DayEvents, PushdownAggregates, RawAggregates
from reporting_assets.metrics.gates import (
    COST_HISTORY_DAYS,
    METRICS_GROUP,
    USAGE_WINDOW_DAYS,
    emit_checked,
    gated_metric_asset,
    standard_gates,
)
from reporting_assets.metrics.windows import (
    missing_days,
    stacked,
    window_gaps,
)
from reporting_assets.partitions import DayWindow, daily_partitions, day_window
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    COMPLETE,
    check_specs,
)
from reporting_assets.quality.schemas import (
    CostOptimizationDaily,
    OperationalEfficiencyDaily,
    RevenueProtectionDaily,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.sources import PostHogEventsResource
from reporting_assets.resources.storage import window_in
from reporting_assets.sources.assets import same_weekday_keys


def day_events(
    posthog: PostHogEventsResource,
    posthog_events: pl.LazyFrame,
    business: SettingsResource,
    window: DayWindow,
) -> DayEvents:
    """Where the day's event aggregates come from: PostHog computes them when it is queried
    directly and pushdown is on; otherwise DuckDB, from the stored day, within the engine's
    memory limit. (The stored day is a declared input either way: its checks gate the metrics.)"""
    if posthog.aggregates_in_posthog():
        return PushdownAggregates(posthog.query_client(), window.start_utc, window.end_utc)
    return RawAggregates(posthog_events, EngineLimits.of(business.get()))


def aggregates_metadata(events: DayEvents) -> dict[str, object]:
    """Which path computed the aggregates, and what crossed the network for them."""
    return {
        "event_aggregates": events.path,
        "rows_transferred": events.rows_transferred,
        "posthog_queries": events.queries,
    }


@dg.asset(
    partitions_def=daily_partitions,
    group_name=METRICS_GROUP,
    kinds={"polars", "duckdb"},
    check_specs=check_specs("account_activity_daily", [COMPLETE]),
    code_version="1",
)
def account_activity_daily(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    posthog: PostHogEventsResource,
    posthog_events: pl.LazyFrame,
    app_db: AppDatabase,
):
    """How much each customer account used the product during the day: events, active users,
    page views and feature uses."""
    window = day_window(context.partition_key)
    events = day_events(posthog, posthog_events, business, window)
    table = compute.account_activity(events.activity(), window.day)
    received = posthog_events.select(pl.len()).collect().item()
    outcome = checks.completeness(table, None, sources={"posthog_events": received})
    yield from emit_checked(
        context,
        app_db,
        "account_activity_daily",
        table,
        window.day,
        {COMPLETE: outcome},
        {"active_accounts": table.height, **aggregates_metadata(events)},
    )


# Revenue protection is the CFO's first read of the morning: what MRR moved, what is at risk, and
# whether failed payments are being won back.
@gated_metric_asset(
    "polars",
    "duckdb",
    ins={"activity_window": window_in("account_activity_daily", -(USAGE_WINDOW_DAYS - 1), 0)},
)
def revenue_protection_daily(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    posthog: PostHogEventsResource,
    posthog_events: pl.LazyFrame,
    account_snapshot: pl.DataFrame,
    activity_window: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """MRR movements (new, expansion, contraction, churn), MRR at risk and revenue recovered,
    and the health of payments, by plan and in total."""
    window = day_window(context.partition_key)
    day = window.day
    gaps = missing_days(activity_window, day, -(USAGE_WINDOW_DAYS - 1), 0)
    window_problems, window_note = window_gaps(
        app_db, gaps, "the 4-week usage window", ("posthog_events", "account_activity_daily")
    )
    activity = stacked(activity_window)
    drops = compute.usage_drops(activity, day) if activity is not None else compute.NO_DROPS
    events = day_events(posthog, posthog_events, business, window)
    table, at_risk = compute.revenue_protection(
        events.revenue_events(), events.events_by_plan(), account_snapshot, drops, day
    )
    same_weekday = same_weekday_keys(day, business.get().quality.history_weeks)
    weekday_past = stacked(past, same_weekday)
    volume_history = (
        []
        if weekday_past is None
        else weekday_past.filter(pl.col("plan") == "total")
        .get_column("events_received")
        .cast(pl.Float64)
        .to_list()
    )
    total = table.filter(pl.col("plan") == "total")
    # Every plan's bridge adds up, plan changes included; and the plan rows add up to the total.
    identities = [
        (
            "opening + new + reactivation + expansion − contraction − churned + plan transfers "
            "= closing MRR",
            pl.col("opening_mrr") + pl.col("net_new_mrr") + pl.col("plan_transfer_mrr"),
            pl.col("closing_mrr"),
            pl.lit(True),
        )
    ]
    additive = [
        "opening_mrr",
        "new_mrr",
        "expansion_mrr",
        "contraction_mrr",
        "churned_mrr",
        "plan_transfer_mrr",
        "closing_mrr",
        "mrr_at_risk",
        "payments_failed",
        "payment_attempts",
        "payments_recovered",
    ]
    sums = table.filter(pl.col("plan") != "total").select(additive).sum().row(0, named=True)
    unbalanced = [
        f"plans' {c} sum to {sums[c]:,.2f} but the total row says {total.get_column(c)[0]:,.2f}"
        for c in additive
        if abs(sums[c] - total.get_column(c)[0]) > 0.01
    ]
    if abs(sums["plan_transfer_mrr"]) > 0.01:
        unbalanced.append(f"plan transfers net to {sums['plan_transfer_mrr']:,.2f}, not zero")
    outcomes = standard_gates(
        business.get(),
        "revenue_protection_daily",
        table,
        RevenueProtectionDaily,
        day,
        past,
        sources={
            "posthog_events": int(total.get_column("events_received")[0]),
            "account_snapshot": account_snapshot.height,
        },
        volume=("events", float(total.get_column("events_received")[0]), volume_history),
        identities=identities,
        extra_business_problems=unbalanced,
        extra_complete_problems=window_problems,
    )
    row = total.row(0, named=True)
    yield from emit_checked(
        context,
        app_db,
        "revenue_protection_daily",
        table,
        day,
        outcomes,
        {
            "closing_mrr": row["closing_mrr"],
            "net_new_mrr": row["net_new_mrr"],
            "mrr_at_risk": row["mrr_at_risk"],
            "accounts_at_risk": row["accounts_at_risk"],
            "accounts_with_usage_drop": drops.height,
            "usage_window": f"{len(activity_window)} of {USAGE_WINDOW_DAYS} days; {window_note}",
            "at_risk": dg.MetadataValue.md(markdown_preview(at_risk, rows=15)),
            **aggregates_metadata(events),
        },
    )


@gated_metric_asset("polars", ins={"cost_window": window_in("cloud_costs", -COST_HISTORY_DAYS, 0)})
def cost_optimization_daily(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    cost_window: dict[str, pl.DataFrame],
    cost_savings: pl.DataFrame,
    account_activity_daily: pl.DataFrame,
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """Cloud and vendor spend against budget, unit costs, idle and anomalous spend, and savings
    identified vs realized."""
    day = day_window(context.partition_key).day
    if context.partition_key not in cost_window:
        raise dg.Failure(f"cloud_costs has no partition for {day}: materialize it first")
    cloud_costs = cost_window[context.partition_key]
    history = stacked({k: f for k, f in cost_window.items() if k != context.partition_key})
    gaps = missing_days(cost_window, day, -COST_HISTORY_DAYS, -1)
    window_problems, window_note = window_gaps(
        app_db, gaps, "the 28-day cost history", ("cloud_costs",)
    )
    events = int(account_activity_daily.get_column("events").sum())
    table = operations.cost_optimization(
        cloud_costs,
        history if history is not None else cloud_costs.clear(),
        cost_savings,
        account_activity_daily.height,
        events,
        day,
    )
    lines = table.filter(pl.col("level") == "line")
    identities = [
        (
            "line costs sum to the total",
            pl.lit(lines.get_column("cost_usd").sum()),
            pl.col("cost_usd"),
            pl.col("level") == "total",
        )
    ]
    outcomes = standard_gates(
        business.get(),
        "cost_optimization_daily",
        table,
        CostOptimizationDaily,
        day,
        past,
        sources={
            "cloud_costs": cloud_costs.height,
            "account_activity_daily": account_activity_daily.height,
        },
        identities=identities,
        extra_complete_problems=window_problems,
    )
    flagged = table.filter(pl.col("anomalous") | pl.col("idle_candidate"))
    yield from emit_checked(
        context,
        app_db,
        "cost_optimization_daily",
        table,
        day,
        outcomes,
        {
            "total_cost_usd": float(lines.get_column("cost_usd").sum()),
            "cost_history": f"{len(cost_window) - 1} of {COST_HISTORY_DAYS} days; {window_note}",
            "flagged_lines": dg.MetadataValue.md(
                markdown_preview(
                    flagged.select(
                        "service",
                        "team",
                        "cost_usd",
                        "trailing_median_usd",
                        "anomalous",
                        "idle_candidate",
                    )
                )
            ),
        },
    )


@gated_metric_asset("polars")
def operational_efficiency_daily(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    incidents: pl.DataFrame,
    support_tickets: pl.DataFrame,
    deploy_runs: pl.DataFrame,
    account_activity_daily: pl.DataFrame,
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """Incidents and time to resolve, support backlog and SLAs, deploys and pipeline health,
    and the efficiency ratios an operations VP reads."""
    window = day_window(context.partition_key)
    table = operations.operational_efficiency(
        incidents,
        support_tickets,
        deploy_runs,
        account_activity_daily.height,
        window.day,
        window.start_utc.replace(tzinfo=None),
        window.end_utc.replace(tzinfo=None),
    )
    outcomes = standard_gates(
        business.get(),
        "operational_efficiency_daily",
        table,
        OperationalEfficiencyDaily,
        window.day,
        past,
        sources={
            "deploy_runs": deploy_runs.height,
            "account_activity_daily": account_activity_daily.height,
        },
    )
    yield from emit_checked(
        context, app_db, "operational_efficiency_daily", table, window.day, outcomes
    )


metric_assets = [
    account_activity_daily,
    revenue_protection_daily,
    cost_optimization_daily,
    operational_efficiency_daily,
    critical_alerts_daily,
]
