"""The daily cost and operations metrics, as plain functions from source frames to metric
frames (no Dagster here): cloud spend against budget with its anomalies and idle resources, and
incidents, support, deploys and the pipeline's own success.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from reporting_assets.lib.plans import TOTAL
from reporting_assets.metrics.layer import COST, OPERATIONS, ratio_columns

ANOMALY_RATIO = 1.6
IDLE_UTILIZATION = 0.10
IDLE_MIN_DAILY_USD = 20.0


def cost_optimization(
    costs: pl.DataFrame,
    cost_history: pl.DataFrame,
    savings: pl.DataFrame,
    active_accounts: int,
    events: int,
    day: date,
) -> pl.DataFrame:
    """Spend by cost line against budget and its own trailing level, idle and anomalous spend,
    unit costs, and savings identified vs realized; one row per line plus a total row.

    `cost_history` holds the cost lines of the 28 days before `day`.
    """
    keys = ["service", "vendor", "team"]
    trailing = cost_history.group_by(keys).agg(trailing_median_usd=pl.col("cost_usd").median())
    lines = (
        costs.join(trailing, on=keys, how="left")
        .with_columns(
            anomaly_ratio=pl.col("cost_usd") / pl.col("trailing_median_usd"),
        )
        .with_columns(
            anomalous=pl.col("anomaly_ratio").fill_null(1.0) > ANOMALY_RATIO,
            idle_candidate=(pl.col("utilization") < IDLE_UTILIZATION)
            & (pl.col("cost_usd") >= IDLE_MIN_DAILY_USD),
        )
        .with_columns(
            anomalous_excess_usd=pl.when(pl.col("anomalous"))
            .then(pl.col("cost_usd") - pl.col("trailing_median_usd")).otherwise(0.0),
            idle_spend_usd=pl.when(pl.col("idle_candidate")).then(pl.col("cost_usd"))
            .otherwise(0.0),
        )
    )  # fmt: skip
    identified = savings.get_column("monthly_savings_usd").sum()
    realized = savings.get_column("realized_monthly_savings_usd").fill_null(0).sum()
    total_cost = lines.get_column("cost_usd").sum()
    total_budget = lines.get_column("daily_budget_usd").sum()
    total = pl.DataFrame({
        "level": ["total"], "service": [TOTAL], "vendor": [TOTAL], "team": [TOTAL],
        "cost_usd": [total_cost], "daily_budget_usd": [total_budget],
        "trailing_median_usd": [lines.get_column("trailing_median_usd").sum()],
        "anomalous": [bool(lines.get_column("anomalous").any())],
        "idle_candidate": [False],
        "anomalous_excess_usd": [lines.get_column("anomalous_excess_usd").sum()],
        "idle_spend_usd": [lines.get_column("idle_spend_usd").sum()],
    })  # fmt: skip
    table = pl.concat(
        [lines.with_columns(level=pl.lit("line")).select(total.columns), total],
        how="vertical_relaxed",
    )
    is_total = pl.col("level") == "total"
    return table.with_columns(
        date=pl.lit(day),
        active_accounts=pl.when(is_total).then(pl.lit(active_accounts, dtype=pl.Int64)),
    ).with_columns(**ratio_columns(COST)).with_columns(
        cost_per_1k_events=pl.when(pl.col("level") == "total")
        .then(pl.col("cost_usd") / events * 1000 if events else None),
        savings_identified_monthly_usd=pl.when(pl.col("level") == "total").then(identified),
        savings_realized_monthly_usd=pl.when(pl.col("level") == "total").then(realized),
        savings_realization_rate=pl.when(pl.col("level") == "total")
        .then(realized / identified if identified else None),
    ).select(
        "date", "level", "service", "vendor", "team", "cost_usd", "daily_budget_usd",
        "budget_variance", "trailing_median_usd", "anomalous", "anomalous_excess_usd",
        "idle_candidate", "idle_spend_usd", "active_accounts", "cost_per_active_account",
        "cost_per_1k_events",
        "savings_identified_monthly_usd", "savings_realized_monthly_usd",
        "savings_realization_rate",
    )  # fmt: skip


def operational_efficiency(
    incidents: pl.DataFrame,
    tickets: pl.DataFrame,
    runs: pl.DataFrame,
    active_accounts: int,
    day: date,
    start_utc,
    end_utc,
) -> pl.DataFrame:
    """Incidents and time to resolve, support load and SLA, delivery health; one row per day.

    Inputs are the day's sources as of the end of the day; `start_utc`/`end_utc` bound the day
    (naive UTC, like the warehouse).
    """
    within = lambda c: pl.col(c).is_between(start_utc, end_utc, closed="left")  # noqa: E731
    inc_opened = incidents.filter(within("opened_at"))
    inc_resolved = incidents.filter(within("resolved_at"))
    t_opened = tickets.filter(within("opened_at"))
    t_resolved = tickets.filter(within("resolved_at"))
    t_first = tickets.filter(within("first_response_at"))
    deploys = runs.filter(pl.col("kind") == "deploy")
    finished = runs.filter(pl.col("status").is_in(["success", "failed"]))

    serious = inc_resolved.filter(pl.col("severity").is_in(["sev1", "sev2"]))
    within_sla = pl.col("first_response_hours") <= pl.col("sla_first_response_hours")
    row = {
        "date": day,
        "incidents_opened": inc_opened.height,
        "sev1_opened": inc_opened.filter(pl.col("severity") == "sev1").height,
        "incidents_resolved": inc_resolved.height,
        "sev12_resolved": serious.height,
        "sev12_resolution_hours": float(serious.get_column("resolution_hours").sum()),
        "open_incidents": incidents.filter(pl.col("resolved_at").is_null()).height,
        "tickets_opened": t_opened.height,
        "tickets_resolved": t_resolved.height,
        "ticket_backlog": tickets.filter(pl.col("resolved_at").is_null()).height,
        "first_responses": t_first.height,
        "first_responses_within_sla": t_first.filter(within_sla).height,
        "median_first_response_hours": t_first.get_column("first_response_hours").median()
        if t_first.height else None,
        "resolution_sla_rate": t_resolved.select(
            (pl.col("resolution_hours") <= pl.col("sla_resolution_hours")).mean()).item()
        if t_resolved.height else None,
        "deploys": deploys.height,
        "deploy_failures": deploys.filter(pl.col("status") == "failed").height,
        "pipeline_runs": runs.height - deploys.height,
        "runs_finished": finished.height,
        "runs_succeeded": finished.filter(pl.col("status") == "success").height,
        "active_accounts": active_accounts,
    }  # fmt: skip
    return (
        pl.DataFrame([row])
        .with_columns(**ratio_columns(OPERATIONS))
        .select(list(OPERATIONAL_SCHEMA))
        .cast(OPERATIONAL_SCHEMA)
    )


OPERATIONAL_SCHEMA = {
    "date": pl.Date, "incidents_opened": pl.Int64, "sev1_opened": pl.Int64,
    "incidents_resolved": pl.Int64, "sev12_resolved": pl.Int64,
    "sev12_resolution_hours": pl.Float64, "mttr_hours": pl.Float64, "open_incidents": pl.Int64,
    "tickets_opened": pl.Int64, "tickets_resolved": pl.Int64, "ticket_backlog": pl.Int64,
    "first_responses": pl.Int64, "first_responses_within_sla": pl.Int64,
    "first_response_sla_rate": pl.Float64, "median_first_response_hours": pl.Float64,
    "resolution_sla_rate": pl.Float64, "deploys": pl.Int64, "deploy_failures": pl.Int64,
    "pipeline_runs": pl.Int64, "runs_finished": pl.Int64, "runs_succeeded": pl.Int64,
    "pipeline_success_rate": pl.Float64, "active_accounts": pl.Int64,
    "tickets_per_100_accounts": pl.Float64,
}  # fmt: skip
