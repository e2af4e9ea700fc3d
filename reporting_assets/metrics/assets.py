"""Daily metric assets (group `metrics_daily`) and their four quality gates.

Each asset reads the day's sources, calls a plain function from `compute.py`, and yields the
table with its four checks: completeness, business rules, consistency with history and alert
thresholds. Completeness, business rules and alert thresholds are ERROR checks that block every
downstream report; the history check's severity is configured (WARN by default) and its result
goes to the report's quality appendix.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from reporting_assets.config import get_settings
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.metrics import compute
from reporting_assets.metrics.alerts import evaluate_rules
from reporting_assets.metrics.headline import (
    HEADLINES,
    LONG_SCHEMA,
    headline_values,
    metrics_of,
)
from reporting_assets.partitions import daily_partitions, day_window
from reporting_assets.quality import checks
from reporting_assets.quality.checks import UNIT_FLOORS
from reporting_assets.quality.dagster_checks import (
    ALERT_THRESHOLDS,
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    check_name,
    check_specs,
    to_result,
)
from reporting_assets.quality.schemas import (
    CostOptimizationDaily,
    CriticalAlertsDaily,
    OperationalEfficiencyDaily,
    RevenueProtectionDaily,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.storage import AssetHistory
from reporting_assets.sources.assets import same_weekday_keys

METRICS_GROUP = "metrics_daily"
FOUR_GATES = [COMPLETE, BUSINESS_RULES, HISTORY, ALERT_THRESHOLDS]
METRIC_ASSETS = ("revenue_protection_daily", "cost_optimization_daily",
                 "operational_efficiency_daily")  # fmt: skip


def _days_before(day: date, n: int) -> list[str]:
    return [(day - timedelta(days=k)).isoformat() for k in range(1, n + 1)]


def _gates_spec(asset: str) -> list[dg.AssetCheckSpec]:
    return check_specs(
        asset, FOUR_GATES, history_blocking=get_settings().quality.history_severity == "ERROR"
    )


def gated_metric_asset(*kinds: str):
    """A daily metric asset with its four quality gates declared."""

    def decorate(fn):
        return dg.asset(
            name=fn.__name__,
            partitions_def=daily_partitions,
            group_name=METRICS_GROUP,
            kinds=set(kinds),
            check_specs=_gates_spec(fn.__name__),
            code_version="1",
        )(fn)

    return decorate


def metric_ranges(asset: str) -> dict[str, tuple[float | None, float | None]]:
    """Configured valid ranges of the headline metrics an asset holds, by column."""
    metrics = get_settings().metrics
    return {HEADLINES[m].column: metrics[m].valid_range for m in metrics_of(asset)
            if m in metrics}  # fmt: skip


def headline_history(history: AssetHistory, asset: str, day: date, days: int) -> pl.DataFrame:
    """The asset's headline metrics over the `days` days before `day` (what is stored)."""
    stored = history.read(asset, _days_before(day, days))
    if stored is None:
        return pl.DataFrame(schema=LONG_SCHEMA)
    return headline_values(asset, stored)


def standard_gates(
    asset: str,
    table: pl.DataFrame,
    model,
    day: date,
    history: AssetHistory,
    *,
    sources: dict[str, int],
    volume: tuple[str, float, list[float]] | None = None,
    identities: list | None = None,
    extra_business_problems: list[str] | None = None,
) -> dict[str, checks.CheckOutcome]:
    """The four gates of a daily metric table."""
    s = get_settings()
    q = s.quality
    today = headline_values(asset, table)
    past = headline_history(history, asset, day, q.history_weeks * 7)
    watched = [m for m in metrics_of(asset) if m in s.metrics and s.metrics[m].history_check]
    floors = {m: UNIT_FLOORS[s.metrics[m].unit] for m in watched}
    rules = [r for r in s.alert_rules if r.metric in metrics_of(asset)]
    rule_problems = checks.thresholds_sane(rules, s.metrics, list(HEADLINES))
    missing = [r.metric for r in rules if today.filter(pl.col("metric") == r.metric).is_empty()]
    rule_problems += [f"rule metric '{m}' is not in the table" for m in missing]
    return {
        COMPLETE: checks.completeness(table, model, sources=sources, volume=volume,
                                      min_volume_share=q.min_volume_share),
        BUSINESS_RULES: checks.business_rules(table, model, metric_ranges(asset), identities,
                                              tolerance=q.identity_tolerance_usd,
                                              extra_problems=extra_business_problems),
        HISTORY: checks.consistent_with_history(today.filter(pl.col("metric").is_in(watched)),
                                                past, day, z_threshold=q.history_z_threshold,
                                                severity=q.history_severity,
                                                weeks=q.history_weeks, floors=floors),
        ALERT_THRESHOLDS: checks._outcome(
            rule_problems, "ERROR", f"{len(rules)} alert rule(s) sane and evaluable",
            {"rules": ", ".join(r.name for r in rules) or "none"}),
    }  # fmt: skip


def _emit(
    context: dg.AssetExecutionContext,
    app_db: AppDatabase,
    asset: str,
    table: pl.DataFrame,
    day: date,
    outcomes: dict,
    extra: dict | None = None,
):
    app_db.record_checks(
        asset,
        context.partition_key,
        context.run.run_id,
        {check_name(asset, f): o for f, o in outcomes.items()},
    )
    yield dg.Output(
        table,
        metadata={
            "rows": table.height,
            "period": day.isoformat(),
            "preview": dg.MetadataValue.md(markdown_preview(table, rows=12)),
            **(extra or {}),
        },
    )
    for family, outcome in outcomes.items():
        yield to_result(asset, family, outcome)


@dg.asset(
    partitions_def=daily_partitions,
    group_name=METRICS_GROUP,
    kinds={"polars"},
    check_specs=check_specs("account_activity_daily", [COMPLETE]),
    code_version="1",
)
def account_activity_daily(
    context: dg.AssetExecutionContext, posthog_events: pl.LazyFrame, app_db: AppDatabase
):
    """How much each customer account used the product during the day: events, active users,
    page views and feature uses."""
    day = day_window(context.partition_key).day
    table = compute.account_activity(posthog_events, day)
    received = posthog_events.select(pl.len()).collect().item()
    outcome = checks.completeness(table, None, sources={"posthog_events": received})
    yield from _emit(
        context,
        app_db,
        "account_activity_daily",
        table,
        day,
        {COMPLETE: outcome},
        {"active_accounts": table.height},
    )


# Revenue protection is the CFO's first read of the morning: what MRR moved, what is at risk, and
# whether failed payments are being won back.
@gated_metric_asset("polars", "duckdb")
def revenue_protection_daily(
    context: dg.AssetExecutionContext,
    posthog_events: pl.LazyFrame,
    account_snapshot: pl.DataFrame,
    account_activity_daily: pl.DataFrame,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """MRR movements (new, expansion, contraction, churn), MRR at risk and revenue recovered,
    and the health of payments, by plan and in total."""
    day = day_window(context.partition_key).day
    earlier = asset_history.read("account_activity_daily", _days_before(day, 27))
    activity = (
        pl.concat([account_activity_daily, earlier], how="diagonal_relaxed")
        if earlier is not None
        else account_activity_daily
    )
    drops = compute.usage_drops(activity, day)
    table = compute.revenue_protection(posthog_events, account_snapshot, drops, day)
    past = asset_history.read(
        "revenue_protection_daily", same_weekday_keys(day, get_settings().quality.history_weeks)
    )
    volume_history = (
        []
        if past is None
        else past.filter(pl.col("plan") == "total")
        .get_column("events_received")
        .cast(pl.Float64)
        .to_list()
    )
    total = table.filter(pl.col("plan") == "total")
    is_total = pl.col("plan") == "total"
    identities = [
        (
            "opening + new + reactivation + expansion − contraction − churned = closing MRR",
            pl.col("opening_mrr") + pl.col("net_new_mrr"),
            pl.col("closing_mrr"),
            is_total,
        ),
    ]
    # Components sum to totals: the plan rows add up to the total row.
    additive = [
        "opening_mrr",
        "new_mrr",
        "expansion_mrr",
        "contraction_mrr",
        "churned_mrr",
        "closing_mrr",
        "mrr_at_risk",
        "payments_failed",
        "payments_recovered",
    ]
    sums = table.filter(~is_total).select(additive).sum().row(0, named=True)
    unbalanced = [
        f"plans' {c} sum to {sums[c]:,.2f} but the total row says {total.get_column(c)[0]:,.2f}"
        for c in additive if abs(sums[c] - total.get_column(c)[0]) > 0.01
    ]  # fmt: skip
    outcomes = standard_gates(
        "revenue_protection_daily", table, RevenueProtectionDaily, day, asset_history,
        sources={"posthog_events": int(total.get_column("events_received")[0]),
                 "account_snapshot": account_snapshot.height},
        volume=("events", float(total.get_column("events_received")[0]), volume_history),
        identities=identities, extra_business_problems=unbalanced,
    )  # fmt: skip
    row = total.row(0, named=True)
    yield from _emit(context, app_db, "revenue_protection_daily", table, day, outcomes, {
        "closing_mrr": row["closing_mrr"], "net_new_mrr": row["net_new_mrr"],
        "mrr_at_risk": row["mrr_at_risk"], "accounts_with_usage_drop": drops.height,
    })  # fmt: skip


@gated_metric_asset("polars")
def cost_optimization_daily(
    context: dg.AssetExecutionContext,
    cloud_costs: pl.DataFrame,
    cost_savings: pl.DataFrame,
    account_activity_daily: pl.DataFrame,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """Cloud and vendor spend against budget, unit costs, idle and anomalous spend, and savings
    identified vs realized."""
    day = day_window(context.partition_key).day
    history = asset_history.read("cloud_costs", _days_before(day, 28))
    if history is None:
        history = cloud_costs.clear()
    events = int(account_activity_daily.get_column("events").sum())
    table = compute.cost_optimization(
        cloud_costs, history, cost_savings, account_activity_daily.height, events, day
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
        "cost_optimization_daily", table, CostOptimizationDaily, day, asset_history,
        sources={"cloud_costs": cloud_costs.height,
                 "account_activity_daily": account_activity_daily.height},
        identities=identities,
    )  # fmt: skip
    flagged = table.filter(pl.col("anomalous") | pl.col("idle_candidate"))
    yield from _emit(context, app_db, "cost_optimization_daily", table, day, outcomes, {
        "total_cost_usd": float(lines.get_column("cost_usd").sum()),
        "flagged_lines": dg.MetadataValue.md(markdown_preview(flagged.select(
            "service", "team", "cost_usd", "trailing_median_usd", "anomalous",
            "idle_candidate"))),
    })  # fmt: skip


@gated_metric_asset("polars")
def operational_efficiency_daily(
    context: dg.AssetExecutionContext,
    incidents: pl.DataFrame,
    support_tickets: pl.DataFrame,
    deploy_runs: pl.DataFrame,
    account_activity_daily: pl.DataFrame,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """Incidents and time to resolve, support backlog and SLAs, deploys and pipeline health,
    and the efficiency ratios an operations VP reads."""
    window = day_window(context.partition_key)
    table = compute.operational_efficiency(
        incidents, support_tickets, deploy_runs, account_activity_daily.height, window.day,
        window.start_utc.replace(tzinfo=None), window.end_utc.replace(tzinfo=None))  # fmt: skip
    outcomes = standard_gates(
        "operational_efficiency_daily", table, OperationalEfficiencyDaily, window.day,
        asset_history, sources={"deploy_runs": deploy_runs.height,
                                "account_activity_daily": account_activity_daily.height},
    )  # fmt: skip
    yield from _emit(context, app_db, "operational_efficiency_daily", table, window.day, outcomes)


# The alert list is what reaches executives first, so its own gate re-evaluates every rule
# independently of the engine: an alert that should have fired and didn't is a failed run.
@gated_metric_asset("polars")
def critical_alerts_daily(
    context: dg.AssetExecutionContext,
    revenue_protection_daily: pl.DataFrame,
    cost_optimization_daily: pl.DataFrame,
    operational_efficiency_daily: pl.DataFrame,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """Every alert rule evaluated on the day's metrics: value, threshold, severity (info,
    warning, critical) and since when it has been breaching."""
    s = get_settings()
    day = day_window(context.partition_key).day
    today = {"revenue_protection_daily": revenue_protection_daily,
             "cost_optimization_daily": cost_optimization_daily,
             "operational_efficiency_daily": operational_efficiency_daily}  # fmt: skip
    span = s.quality.history_weeks * 7 + max([r.min_duration_days for r in s.alert_rules] or [1])
    long = pl.concat(
        [headline_values(a, t) for a, t in today.items()]
        + [headline_history(asset_history, a, day, span) for a in today],
    )
    alerts = evaluate_rules(s.alert_rules, long, day)
    firing = alerts.filter(pl.col("severity") != "info")
    past = asset_history.read(
        "critical_alerts_daily", same_weekday_keys(day, s.quality.history_weeks)
    )
    past_counts = pl.DataFrame(schema=LONG_SCHEMA)
    if past is not None:
        past_counts = past.group_by("date").agg(
            pl.lit("firing_alerts").alias("metric"),
            pl.lit("total").alias("scope"),
            (pl.col("severity") != "info").sum().cast(pl.Float64).alias("value"),
        )
    today_count = pl.DataFrame(
        {
            "date": [day],
            "metric": ["firing_alerts"],
            "scope": ["total"],
            "value": [float(firing.height)],
        }
    )
    outcomes = {
        COMPLETE: checks.completeness(
            alerts, CriticalAlertsDaily, sources={a: t.height for a, t in today.items()},
            extra_problems=[f"rule '{r.name}' was not evaluated" for r in s.alert_rules
                            if r.name not in alerts.get_column("rule").to_list()]),
        BUSINESS_RULES: checks.business_rules(
            alerts, CriticalAlertsDaily, {"consecutive_days": (0, None)},
            [("threshold is the crossed one",
              pl.when(pl.col("severity") == "critical").then(pl.col("critical_threshold"))
              .otherwise(pl.col("warning_threshold")), pl.col("threshold"))]),
        HISTORY: checks.consistent_with_history(
            today_count, past_counts, day, z_threshold=s.quality.history_z_threshold,
            severity=s.quality.history_severity, weeks=s.quality.history_weeks,
            floors={"firing_alerts": 1.0}),
        ALERT_THRESHOLDS: checks.alerts_match_rules(
            alerts, s.alert_rules, s.metrics, long, day, list(HEADLINES)),
    }  # fmt: skip
    yield from _emit(context, app_db, "critical_alerts_daily", alerts, day, outcomes, {
        "critical": firing.filter(pl.col("severity") == "critical").height,
        "warning": firing.filter(pl.col("severity") == "warning").height,
        "firing": dg.MetadataValue.md(markdown_preview(firing.select(
            "rule", "severity", "value", "threshold", "breaching_since", "message"))),
    })  # fmt: skip


metric_assets = [account_activity_daily, revenue_protection_daily, cost_optimization_daily,
                 operational_efficiency_daily, critical_alerts_daily]  # fmt: skip
