"""A period's KPI table: every metric at the week's or month's grain, with its parts, target,
status and the days it covers (what `kpis_weekly` and `kpis_monthly` store)."""

from __future__ import annotations

from datetime import date

import polars as pl

from reporting_assets.metrics.layer import METRICS, Coverage, coverage, period_values
from reporting_assets.metrics.rating import rate

PERIOD_SCHEMA = {
    "period_start": pl.Date,
    "period_end": pl.Date,
    "metric": pl.String,
    "value": pl.Float64,
    "numerator": pl.Float64,
    "denominator": pl.Float64,
    "target": pl.Float64,
    "status": pl.String,
    "status_reason": pl.String,
    "days_due": pl.Int64,
    "days_counted": pl.Int64,
    "missing_days": pl.String,
    "complete": pl.Boolean,
}


def period_table(
    tables: dict[str, pl.DataFrame | None], start: date, end: date, configs: dict
) -> tuple[pl.DataFrame, Coverage]:
    """Every metric over start..end from the daily tables given (the days to count, already
    without blocked ones), rated against its period target: one row per metric, with its
    numerator and denominator for ratios and the days counted.

    `configs` are the config's metric entries (targets, tolerances, directions); metrics
    without one are rolled up but not rated.
    """
    present = {a: t for a, t in tables.items() if t is not None}
    cover = coverage(present, start, end)
    counted = {a: t.filter(pl.col("date").is_in(list(cover.present))) for a, t in present.items()}
    values = period_values(counted)
    days = len(cover.expected)
    rows = []
    for key, m in METRICS.items():
        table = counted.get(m.asset)
        part = m.rows_of(table) if table is not None else None
        num = den = None
        if m.measure == "ratio" and part is not None and not part.is_empty():
            num, den = m.parts_over(part)
        r = rate(key, values.get(key), configs[key], days) if key in configs else None
        rows.append(
            {
                "period_start": start,
                "period_end": end,
                "metric": key,
                "value": values.get(key),
                "numerator": num,
                "denominator": den,
                "target": r.target if r else None,
                "status": r.status if r else "grey",
                "status_reason": r.reason if r else "not a configured KPI",
                "days_due": days,
                "days_counted": len(cover.present),
                "missing_days": ", ".join(d.isoformat() for d in cover.missing),
                "complete": cover.complete,
            }
        )
    return pl.DataFrame(rows, schema=PERIOD_SCHEMA, orient="row"), cover


def values_of(period: pl.DataFrame) -> dict[str, float | None]:
    """{metric: value} of a period table (`kpis_weekly` / `kpis_monthly`)."""
    return dict(zip(period["metric"], period["value"], strict=True))
