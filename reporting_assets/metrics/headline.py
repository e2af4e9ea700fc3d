"""Headline metrics: where each configured metric is read from the daily metric tables.

Reports, alert rules and history checks speak in metric names (`payment_failure_rate`); this
module knows which table, row and column hold each one, and turns the tables into one long frame
of (date, metric, scope, value).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Headline:
    asset: str
    column: str
    row: tuple[str, str] | None  # (column, value) selecting the headline row; None: one row


TOTAL_REVENUE = ("plan", "total")
TOTAL_COST = ("level", "total")

HEADLINES: dict[str, Headline] = {
    "mrr": Headline("revenue_protection_daily", "closing_mrr", TOTAL_REVENUE),
    "net_new_mrr": Headline("revenue_protection_daily", "net_new_mrr", TOTAL_REVENUE),
    "mrr_at_risk": Headline("revenue_protection_daily", "mrr_at_risk", TOTAL_REVENUE),
    "churned_mrr": Headline("revenue_protection_daily", "churned_mrr", TOTAL_REVENUE),
    "revenue_recovered": Headline("revenue_protection_daily", "revenue_recovered", TOTAL_REVENUE),
    "payment_failure_rate": Headline(
        "revenue_protection_daily", "payment_failure_rate", TOTAL_REVENUE
    ),
    "payment_recovery_rate": Headline(
        "revenue_protection_daily", "payment_recovery_rate", TOTAL_REVENUE
    ),
    "total_cost": Headline("cost_optimization_daily", "cost_usd", TOTAL_COST),
    "budget_variance": Headline("cost_optimization_daily", "budget_variance", TOTAL_COST),
    "cost_per_active_account": Headline(
        "cost_optimization_daily", "cost_per_active_account", TOTAL_COST
    ),
    "incidents_opened": Headline("operational_efficiency_daily", "incidents_opened", None),
    "mttr_hours": Headline("operational_efficiency_daily", "mttr_hours", None),
    "ticket_backlog": Headline("operational_efficiency_daily", "ticket_backlog", None),
    "first_response_sla_rate": Headline(
        "operational_efficiency_daily", "first_response_sla_rate", None
    ),
    "pipeline_success_rate": Headline(
        "operational_efficiency_daily", "pipeline_success_rate", None
    ),
    "tickets_per_100_accounts": Headline(
        "operational_efficiency_daily", "tickets_per_100_accounts", None
    ),
}

LONG_SCHEMA = {"date": pl.Date, "metric": pl.String, "scope": pl.String, "value": pl.Float64}


def headline_values(asset: str, table: pl.DataFrame) -> pl.DataFrame:
    """The headline metrics one metric table holds, long: date, metric, scope, value."""
    parts = []
    for metric, h in HEADLINES.items():
        if h.asset != asset:
            continue
        rows = table if h.row is None else table.filter(pl.col(h.row[0]) == h.row[1])
        parts.append(rows.select(
            "date",
            pl.lit(metric).alias("metric"),
            pl.lit("total").alias("scope"),
            pl.col(h.column).cast(pl.Float64).alias("value"),
        ))  # fmt: skip
    if not parts:
        return pl.DataFrame(schema=LONG_SCHEMA)
    return pl.concat(parts).cast(LONG_SCHEMA)


def metrics_of(asset: str) -> list[str]:
    return [m for m, h in HEADLINES.items() if h.asset == asset]
