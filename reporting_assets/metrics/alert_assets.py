"""The daily alert list (`critical_alerts_daily`): every alert rule evaluated on the day's
checked metrics, with its own four gates."""

import dagster as dg
import polars as pl

from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.metrics.alerts import evaluate_rules
from reporting_assets.metrics.gates import ALERT_SPAN, emit_checked, gated_metric_asset
from reporting_assets.metrics.layer import LONG_SCHEMA, METRIC_TABLES, METRICS, headline_values
from reporting_assets.metrics.windows import stacked
from reporting_assets.partitions import day_window
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    ALERT_THRESHOLDS,
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    HISTORY_SEVERITY,
)
from reporting_assets.quality.schemas import CriticalAlertsDaily
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import window_in
from reporting_assets.sources.assets import same_weekday_keys


# The alert list is what reaches executives first, so its own gate re-evaluates every rule
# independently of the engine: an alert that should have fired and didn't is a failed run.
@gated_metric_asset("polars", ins={a: window_in(a, -ALERT_SPAN, 0) for a in METRIC_TABLES})
def critical_alerts_daily(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    revenue_protection_daily: dict[str, pl.DataFrame],
    cost_optimization_daily: dict[str, pl.DataFrame],
    operational_efficiency_daily: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """Every alert rule evaluated on the day's metrics: value, threshold, severity (info,
    warning, critical) and since when it has been breaching."""
    s = business.get()
    day = day_window(context.partition_key).day
    key = context.partition_key
    windows = {
        "revenue_protection_daily": revenue_protection_daily,
        "cost_optimization_daily": cost_optimization_daily,
        "operational_efficiency_daily": operational_efficiency_daily,
    }
    absent = [a for a, w in windows.items() if key not in w]
    if absent:
        raise dg.Failure(f"{', '.join(absent)} not materialized for {day}")
    today = {a: w[key] for a, w in windows.items()}
    long = pl.concat([headline_values(a, stacked(w)) for a, w in windows.items()])
    alerts = evaluate_rules(s.alert_rules, long, day)
    firing = alerts.filter(pl.col("severity") != "info")
    weekday_past = stacked(past, same_weekday_keys(day, s.quality.history_weeks))
    past_counts = pl.DataFrame(schema=LONG_SCHEMA)
    if weekday_past is not None:
        past_counts = weekday_past.group_by("date").agg(
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
            alerts,
            CriticalAlertsDaily,
            sources={a: t.height for a, t in today.items()},
            extra_problems=[
                f"rule '{r.name}' was not evaluated"
                for r in s.alert_rules
                if r.name not in alerts.get_column("rule").to_list()
            ],
        ),
        BUSINESS_RULES: checks.business_rules(
            alerts,
            CriticalAlertsDaily,
            {"consecutive_days": (0, None)},
            [
                (
                    "threshold is the crossed one",
                    pl.when(pl.col("severity") == "critical")
                    .then(pl.col("critical_threshold"))
                    .otherwise(pl.col("warning_threshold")),
                    pl.col("threshold"),
                )
            ],
        ),
        HISTORY: checks.consistent_with_history(
            today_count,
            past_counts,
            day,
            z_threshold=s.quality.history_z_threshold,
            severity=HISTORY_SEVERITY,
            weeks=s.quality.history_weeks,
            floors={"firing_alerts": 1.0},
        ),
        ALERT_THRESHOLDS: checks.alerts_match_rules(
            alerts, s.alert_rules, s.metrics, long, day, list(METRICS)
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "critical_alerts_daily",
        alerts,
        day,
        outcomes,
        {
            "critical": firing.filter(pl.col("severity") == "critical").height,
            "warning": firing.filter(pl.col("severity") == "warning").height,
            "firing": dg.MetadataValue.md(
                markdown_preview(
                    firing.select(
                        "rule", "severity", "value", "threshold", "breaching_since", "message"
                    )
                )
            ),
        },
    )
