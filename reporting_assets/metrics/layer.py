"""The metric layer: every headline metric defined once, and the only code that aggregates one.

Each metric names the daily table and row that hold it and its *measure*, how it rolls up from
days to a week or a month:

- `sum`: a flow; the period's value is the sum of its days (net new MRR, spend, incidents);
- `stock`: a level; the period's value is the one at its last day (MRR, the support backlog);
- `ratio`: a ratio of two additive measures, computed from the summed numerator and
  denominator at every grain, never as an average of daily ratios (payment failure rate,
  mean time to resolve, which is hours over incidents). A denominator may instead be a level
  averaged over the days (cost per active account: spend over the average active accounts).

Labels, units, directions, targets, the tolerance band of the rating and the plain-words
definition live in the config's `metrics:` entries (business knobs); the measure lives here
(how the numbers are added up). Daily tables, roll-ups, ratings, sentences and the README's
definitions all come from these two. Semantic layers such as MetricFlow and Cube work the same
way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import polars as pl

REVENUE = "revenue_protection_daily"
COST = "cost_optimization_daily"
OPERATIONS = "operational_efficiency_daily"
METRIC_TABLES = (REVENUE, COST, OPERATIONS)

TOTAL_REVENUE = ("plan", "total")
TOTAL_COST = ("level", "total")

Measure = Literal["sum", "stock", "ratio"]


@dataclass(frozen=True)
class MetricDefinition:
    """Where a metric lives in the daily tables and how it adds up over days."""

    key: str
    asset: str
    column: str
    row: tuple[str, str] | None
    measure: Measure
    numerator: str | None = None
    denominator: str | None = None
    denominator_measure: Literal["sum", "mean"] = "sum"
    scale: float = 1.0
    offset: float = 0.0
    # What a missing value means to a reader ("no payments attempted"), never "zero" or "fine".
    when_missing: str = "no data"
    # A ratio's numerator and denominator in words ("failed charges", "charges attempted").
    parts: tuple[str, str] = ("", "")

    def expression(self) -> pl.Expr:
        """The metric over its component columns, at any grain: the daily rows of a table, or
        one row of components rolled up over a period."""
        if self.measure != "ratio":
            return pl.col(self.column).cast(pl.Float64)
        num, den = pl.col(self.numerator).cast(pl.Float64), pl.col(self.denominator)
        return (pl.when(den > 0).then(num / den * self.scale + self.offset).otherwise(None)).cast(
            pl.Float64
        )

    def roll_up(self, rows: pl.DataFrame) -> float | None:
        """The metric over the given daily rows (one per day, any order)."""
        if rows.is_empty():
            return None
        if self.measure == "stock":
            return rows.sort("date").get_column(self.column).cast(pl.Float64)[-1]
        if self.measure == "sum":
            return float(rows.get_column(self.column).cast(pl.Float64).sum())
        num, den = self.parts_over(rows)
        one = pl.DataFrame({self.numerator: [num], self.denominator: [den]})
        return one.select(self.expression()).item()

    def parts_over(self, rows: pl.DataFrame) -> tuple[float, float]:
        """A ratio's numerator (summed) and denominator (summed, or averaged) over the rows."""
        den = rows.get_column(self.denominator).cast(pl.Float64)
        return (
            float(rows.get_column(self.numerator).cast(pl.Float64).sum()),
            float(den.sum() if self.denominator_measure == "sum" else den.mean()),
        )

    def rows_of(self, table: pl.DataFrame) -> pl.DataFrame:
        """The rows of a daily table that hold this metric (the total rows)."""
        return table if self.row is None else table.filter(pl.col(self.row[0]) == self.row[1])

    def words(self) -> str:
        """How the metric adds up over a week or a month, in plain words."""
        if self.measure == "sum":
            return "Over a week or a month: the sum of its days."
        if self.measure == "stock":
            return "Over a week or a month: its value on the last day."
        num, den = self.parts
        if self.denominator_measure == "mean":
            return (
                f"Over a week or a month: the period's {num} over its average {den} a day, "
                "never an average of daily values."
            )
        minus = (
            f", {'minus' if self.offset < 0 else 'plus'} {abs(self.offset):g}"
            if self.offset
            else ""
        )
        return (
            f"Over a week or a month: the period's {num} over its {den} (each summed over the "
            f"days){minus}, never an average of daily rates."
        )


def _m(key, asset, column, row, measure, **kw) -> MetricDefinition:
    return MetricDefinition(key, asset, column, row, measure, **kw)


METRICS: dict[str, MetricDefinition] = {
    m.key: m
    for m in [
        _m("mrr", REVENUE, "closing_mrr", TOTAL_REVENUE, "stock"),
        _m("net_new_mrr", REVENUE, "net_new_mrr", TOTAL_REVENUE, "sum"),
        _m("new_mrr", REVENUE, "new_mrr", TOTAL_REVENUE, "sum"),
        _m("reactivation_mrr", REVENUE, "reactivation_mrr", TOTAL_REVENUE, "sum"),
        _m("expansion_mrr", REVENUE, "expansion_mrr", TOTAL_REVENUE, "sum"),
        _m("contraction_mrr", REVENUE, "contraction_mrr", TOTAL_REVENUE, "sum"),
        _m("churned_mrr", REVENUE, "churned_mrr", TOTAL_REVENUE, "sum"),
        _m("mrr_at_risk", REVENUE, "mrr_at_risk", TOTAL_REVENUE, "stock"),
        # The day-by-day at-risk amounts added up: the revenue a period put at risk, against which
        # the revenue recovered is measured (business impact).
        _m("mrr_at_risk_flagged", REVENUE, "mrr_at_risk", TOTAL_REVENUE, "sum"),
        _m("failed_payment_amount", REVENUE, "failed_payment_amount", TOTAL_REVENUE, "sum"),
        _m("revenue_recovered", REVENUE, "revenue_recovered", TOTAL_REVENUE, "sum"),
        _m(
            "payment_failure_rate",
            REVENUE,
            "payment_failure_rate",
            TOTAL_REVENUE,
            "ratio",
            numerator="payments_failed",
            denominator="payment_attempts",
            when_missing="no payments attempted",
            parts=("failed charges", "charges attempted"),
        ),
        _m(
            "payment_recovery_rate",
            REVENUE,
            "payment_recovery_rate",
            TOTAL_REVENUE,
            "ratio",
            numerator="payments_recovered",
            denominator="failed_payments_settled",
            when_missing="no failed payment was settled",
            parts=("failed payments recovered", "failed payments settled"),
        ),
        _m("total_cost", COST, "cost_usd", TOTAL_COST, "sum"),
        _m(
            "budget_variance",
            COST,
            "budget_variance",
            TOTAL_COST,
            "ratio",
            numerator="cost_usd",
            denominator="daily_budget_usd",
            offset=-1.0,
            when_missing="no budget set",
            parts=("spend", "budget"),
        ),
        _m(
            "cost_per_active_account",
            COST,
            "cost_per_active_account",
            TOTAL_COST,
            "ratio",
            numerator="cost_usd",
            denominator="active_accounts",
            denominator_measure="mean",
            when_missing="no active accounts",
            parts=("spend", "active accounts"),
        ),
        _m("incidents_opened", OPERATIONS, "incidents_opened", None, "sum"),
        _m(
            "mttr_hours",
            OPERATIONS,
            "mttr_hours",
            None,
            "ratio",
            numerator="sev12_resolution_hours",
            denominator="sev12_resolved",
            when_missing="no sev1 or sev2 incident was resolved",
            parts=("hours to resolve sev1–2 incidents", "sev1–2 incidents resolved"),
        ),
        _m("ticket_backlog", OPERATIONS, "ticket_backlog", None, "stock"),
        _m(
            "first_response_sla_rate",
            OPERATIONS,
            "first_response_sla_rate",
            None,
            "ratio",
            numerator="first_responses_within_sla",
            denominator="first_responses",
            when_missing="no ticket had its first response",
            parts=("first responses within SLA", "first responses"),
        ),
        _m(
            "pipeline_success_rate",
            OPERATIONS,
            "pipeline_success_rate",
            None,
            "ratio",
            numerator="runs_succeeded",
            denominator="runs_finished",
            when_missing="no deploy or pipeline run finished",
            parts=("deploys and pipeline runs that succeeded", "those that finished"),
        ),
        _m(
            "tickets_per_100_accounts",
            OPERATIONS,
            "tickets_per_100_accounts",
            None,
            "ratio",
            numerator="tickets_opened",
            denominator="active_accounts",
            denominator_measure="mean",
            scale=100.0,
            when_missing="no active accounts",
            parts=("tickets opened (× 100)", "active accounts"),
        ),
    ]
}

LONG_SCHEMA = {"date": pl.Date, "metric": pl.String, "scope": pl.String, "value": pl.Float64}


def metrics_of(asset: str) -> list[str]:
    """The metrics a daily table holds."""
    return [k for k, m in METRICS.items() if m.asset == asset]


def ratio_columns(asset: str) -> dict[str, pl.Expr]:
    """The ratio columns of a daily table, as the layer defines them: computed row by row from
    the table's own numerator and denominator columns."""
    return {
        m.column: m.expression()
        for m in METRICS.values()
        if m.asset == asset and m.measure == "ratio"
    }


def headline_values(asset: str, table: pl.DataFrame) -> pl.DataFrame:
    """The metrics one daily table holds, long: date, metric, scope, value."""
    parts = [
        METRICS[k]
        .rows_of(table)
        .select(
            "date",
            pl.lit(k).alias("metric"),
            pl.lit("total").alias("scope"),
            pl.col(METRICS[k].column).cast(pl.Float64).alias("value"),
        )
        for k in metrics_of(asset)
    ]
    return pl.concat(parts).cast(LONG_SCHEMA) if parts else pl.DataFrame(schema=LONG_SCHEMA)


def day_values(tables: dict[str, pl.DataFrame]) -> dict[str, float | None]:
    """{metric: value} for one day from that day's tables."""
    out: dict[str, float | None] = {}
    for asset, table in tables.items():
        for row in headline_values(asset, table).iter_rows(named=True):
            out[row["metric"]] = row["value"]
    return out


@dataclass(frozen=True)
class Coverage:
    """Which days of a period have checked daily metrics in every metric table."""

    start: date
    end: date
    present: tuple[date, ...]

    @property
    def expected(self) -> tuple[date, ...]:
        return tuple(
            self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)
        )

    @property
    def missing(self) -> tuple[date, ...]:
        have = set(self.present)
        return tuple(d for d in self.expected if d not in have)

    @property
    def complete(self) -> bool:
        return not self.missing

    def missing_words(self) -> str:
        """'2 of 29 days missing: 3 and 17 October' (empty when complete)."""
        if self.complete:
            return ""
        return f"{len(self.missing)} of {len(self.expected)} days missing: {day_list(self.missing)}"


def day_list(days: Iterable[date]) -> str:
    """Days as a reader writes them: '3, 4 and 17 October 2026'."""
    days = sorted(days)
    if not days:
        return ""
    parts = []
    for i, d in enumerate(days):
        last_of_month = i == len(days) - 1 or (days[i + 1].month, days[i + 1].year) != (
            d.month,
            d.year,
        )
        parts.append(f"{d.day} {d:%B %Y}" if last_of_month else str(d.day))
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def coverage(tables: dict[str, pl.DataFrame], start: date, end: date) -> Coverage:
    """The days start..end present in every metric table given (a table missing altogether
    leaves every day missing)."""
    present: set[date] | None = None
    for asset in METRIC_TABLES:
        table = tables.get(asset)
        days = set() if table is None or table.is_empty() else set(table.get_column("date"))
        present = days if present is None else present & days
    inside = sorted(d for d in (present or set()) if start <= d <= end)
    return Coverage(start, end, tuple(inside))


def period_values(
    tables: dict[str, pl.DataFrame], keys: Iterable[str] | None = None
) -> dict[str, float | None]:
    """Every metric (or those in `keys`) rolled up over the daily rows given, by its measure.

    Empty when there is no day at all. Callers decide what an incomplete period means (see
    `coverage`): the roll-up itself never invents a missing day.
    """
    out: dict[str, float | None] = {}
    for key in keys if keys is not None else METRICS:
        m = METRICS[key]
        table = tables.get(m.asset)
        if table is None or table.is_empty():
            continue
        out[key] = m.roll_up(m.rows_of(table))
    return out
