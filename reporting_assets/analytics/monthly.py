"""Monthly business analysis as plain functions: the MRR bridge, growth, retention, cohorts,
cost structure, unit economics and where the company stands against industry benchmarks.

Everything comes from the warehouse's account history (one row per account version, valid from a
day until the day before the next version) and its daily cloud costs, so a month can be compared
with the same month a year earlier even when only the last weeks of daily metrics are stored.
MRR here equals the daily metrics' closing MRR on every day (the quality gate compares them).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl

PAYING = ("active", "past_due")

HISTORY_SCHEMA = {"date": pl.Date, "mrr": pl.Float64, "paying_accounts": pl.Int64,
                  "cost_usd": pl.Float64, "budget_usd": pl.Float64}  # fmt: skip


def month_start(d: date) -> date:
    return d.replace(day=1)


def month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def daily_history(
    accounts: pl.DataFrame, costs: pl.DataFrame, start: date, end: date
) -> pl.DataFrame:
    """One row per day from `start` to `end`: MRR and paying accounts at the end of the day
    (account versions valid that day), and the day's cloud spend against its budget."""
    con = duckdb.connect()
    try:
        con.register("accounts", accounts.select("account_id", "status", "mrr", "valid_from",
                                                 "valid_to"))  # fmt: skip
        con.register("costs", costs.select("cost_date", "cost_usd", "daily_budget_usd"))
        frame = con.sql(
            """
            WITH days AS (
                SELECT CAST(d AS DATE) AS date
                FROM range(CAST($start AS TIMESTAMP), CAST($end AS TIMESTAMP) + INTERVAL 1 DAY,
                           INTERVAL 1 DAY) t(d)),
            paying AS (SELECT * FROM accounts WHERE status IN ('active', 'past_due')),
            level AS (
                SELECT days.date, COALESCE(SUM(p.mrr), 0) AS mrr, COUNT(p.account_id) AS paying
                FROM days LEFT JOIN paying p
                  ON p.valid_from <= days.date AND (p.valid_to IS NULL OR p.valid_to > days.date)
                GROUP BY days.date),
            spend AS (
                SELECT cost_date AS date, SUM(cost_usd) AS cost_usd,
                       SUM(daily_budget_usd) AS budget_usd
                FROM costs GROUP BY cost_date)
            SELECT level.date, level.mrr, level.paying AS paying_accounts,
                   COALESCE(spend.cost_usd, 0) AS cost_usd,
                   COALESCE(spend.budget_usd, 0) AS budget_usd
            FROM level LEFT JOIN spend USING (date)
            ORDER BY level.date
            """,
            params={"start": start, "end": end},
        ).pl()
    finally:
        con.close()
    return frame.cast(HISTORY_SCHEMA)


def states_at(accounts: pl.DataFrame, day: date) -> pl.DataFrame:
    """Each account's status and MRR at the end of `day` (accounts that existed by then)."""
    return accounts.filter(
        (pl.col("valid_from") <= day) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > day))
    ).select("account_id", "status", "mrr")


def first_paying_month(accounts: pl.DataFrame) -> pl.DataFrame:
    """The month each account first paid (its cohort)."""
    return (
        accounts.filter(pl.col("status").is_in(PAYING))
        .group_by("account_id")
        .agg(pl.col("valid_from").min().alias("first_paid"))
        .with_columns(cohort=pl.col("first_paid").dt.truncate("1mo"))
    )


def day_transitions(accounts: pl.DataFrame) -> pl.DataFrame:
    """Every change of an account's state, on the day it happened: its status and MRR at the end
    of the day before and at the end of that day, and whether it had paid before."""
    ordered = accounts.sort("account_id", "valid_from").with_columns(
        paid=pl.col("status").is_in(PAYING)
    )
    return ordered.with_columns(
        status_0=pl.col("status").shift(1).over("account_id"),
        mrr_0=pl.col("mrr").shift(1).over("account_id").fill_null(0.0),
        paid_0=pl.col("paid").shift(1).over("account_id").fill_null(False),
        paid_before=pl.col("paid").cum_max().shift(1).over("account_id").fill_null(False),
    ).select(
        "account_id", pl.col("valid_from").alias("date"), "paid_0", "mrr_0",
        pl.col("paid").alias("paid_1"), pl.col("mrr").alias("mrr_1"), "paid_before",
    )  # fmt: skip


def mrr_bridge(accounts: pl.DataFrame, start: date, end: date) -> dict[str, float]:
    """The period's MRR movements as the sum of its days' bridges (the daily metrics' one
    definition): each day, an account that starts paying is new (or won back, if it paid
    before), one that stops has churned, one that pays more or less has expanded or contracted.
    opening + new + reactivation + expansion − contraction − churned = closing, exactly."""
    moves = day_transitions(accounts).filter(pl.col("date").is_between(start, end))
    came = moves.filter(~pl.col("paid_0") & pl.col("paid_1"))
    stayed = moves.filter(pl.col("paid_0") & pl.col("paid_1"))
    left = moves.filter(pl.col("paid_0") & ~pl.col("paid_1"))
    change = stayed["mrr_1"] - stayed["mrr_0"]
    opening = states_at(accounts, start - timedelta(days=1)).filter(pl.col("status").is_in(PAYING))
    closing = states_at(accounts, end).filter(pl.col("status").is_in(PAYING))
    return {
        "opening_mrr": float(opening["mrr"].sum()),
        "new_mrr": float(came.filter(~pl.col("paid_before"))["mrr_1"].sum()),
        "reactivation_mrr": float(came.filter(pl.col("paid_before"))["mrr_1"].sum()),
        "expansion_mrr": float(change.clip(lower_bound=0).sum()),
        "contraction_mrr": float((-change).clip(lower_bound=0).sum()),
        "churned_mrr": float(left["mrr_0"].sum()),
        "closing_mrr": float(closing["mrr"].sum()),
        "paying_accounts_open": opening.height,
        "paying_accounts": closing.height,
        "churned_accounts": left["account_id"].n_unique(),
    }


def revenue_retention(accounts: pl.DataFrame, start: date, end: date) -> tuple[float, float]:
    """Net and gross revenue retention of the accounts paying when the period opened: their MRR
    at its end over their opening MRR (net), and the same with each account capped at its
    opening MRR (gross). Accounts won during the period do not count, whatever they did next."""
    before = states_at(accounts, start - timedelta(days=1)).filter(pl.col("status").is_in(PAYING))
    after = states_at(accounts, end).with_columns(
        mrr_1=pl.when(pl.col("status").is_in(PAYING)).then(pl.col("mrr")).otherwise(0.0)
    )
    cohort = before.join(after.select("account_id", "mrr_1"), on="account_id", how="left")
    cohort = cohort.with_columns(pl.col("mrr_1").fill_null(0.0))
    opening = float(cohort["mrr"].sum())
    if not opening:
        return None, None
    kept = cohort.select(pl.min_horizontal("mrr", "mrr_1")).to_series().sum()
    return float(cohort["mrr_1"].sum()) / opening, float(kept) / opening


def cohort_retention(accounts: pl.DataFrame, cohort: date, at: date) -> float | None:
    """Share of the accounts that first paid in `cohort`'s month still paying at `at`."""
    members = first_paying_month(accounts).filter(pl.col("cohort") == cohort)["account_id"]
    if members.len() == 0:
        return None
    now = states_at(accounts, at).filter(pl.col("account_id").is_in(members.to_list()))
    return now.filter(pl.col("status").is_in(PAYING)).height / members.len()


ANALYSIS_SCHEMA = {
    "month": pl.Date, "through": pl.Date, "days": pl.Int64, "opening_mrr": pl.Float64,
    "new_mrr": pl.Float64, "reactivation_mrr": pl.Float64, "expansion_mrr": pl.Float64,
    "contraction_mrr": pl.Float64, "churned_mrr": pl.Float64, "closing_mrr": pl.Float64,
    "mom_growth": pl.Float64, "yoy_growth": pl.Float64, "paying_accounts_open": pl.Int64,
    "paying_accounts": pl.Int64, "churned_accounts": pl.Int64, "logo_churn_rate": pl.Float64,
    "net_revenue_retention": pl.Float64, "gross_revenue_retention": pl.Float64,
    "arpa": pl.Float64, "cost_usd": pl.Float64, "budget_usd": pl.Float64,
    "cost_vs_budget": pl.Float64, "infra_cost_share": pl.Float64,
    "gross_margin_infra": pl.Float64, "cost_per_account": pl.Float64,
    "cohort_retention_3m": pl.Float64, "cohort_retention_6m": pl.Float64,
    "cohort_retention_12m": pl.Float64,
}  # fmt: skip


def business_analysis(
    accounts: pl.DataFrame, history: pl.DataFrame, month: date, through: date, months: int = 13
) -> pl.DataFrame:
    """One row per month for the `months` months ending with `month` (to `through`): the MRR
    bridge, month-over-month and year-over-year growth, logo churn, net and gross revenue
    retention, ARPA, spend against budget, infrastructure cost as a share of revenue, cost per
    account, and the retention of the cohorts that started 3, 6 and 12 months earlier."""
    first = max(add_months(month, -(months - 1)), month_start(history["date"].min()))
    rows, m = [], first
    while m <= month:
        end = min(month_end(m), through)
        b = mrr_bridge(accounts, m, end)
        days = history.filter(pl.col("date").is_between(m, end))
        n_days = (end - m).days + 1
        revenue = b["closing_mrr"] * n_days / calendar.monthrange(m.year, m.month)[1]
        cost, budget = float(days["cost_usd"].sum()), float(days["budget_usd"].sum())
        nrr, grr = revenue_retention(accounts, m, end)
        rows.append({
            "month": m, "through": end, "days": n_days, **b,
            "logo_churn_rate": b["churned_accounts"] / b["paying_accounts_open"]
            if b["paying_accounts_open"] else None,
            "net_revenue_retention": nrr, "gross_revenue_retention": grr,
            "arpa": b["closing_mrr"] / b["paying_accounts"] if b["paying_accounts"] else None,
            "cost_usd": cost, "budget_usd": budget,
            "cost_vs_budget": cost / budget - 1 if budget else None,
            "infra_cost_share": cost / revenue if revenue else None,
            "gross_margin_infra": 1 - cost / revenue if revenue else None,
            "cost_per_account": cost / b["paying_accounts"] if b["paying_accounts"] else None,
            **{f"cohort_retention_{k}m": cohort_retention(accounts, add_months(m, -k), end)
               for k in (3, 6, 12)},
        })  # fmt: skip
        m = add_months(m, 1)
    frame = pl.DataFrame(rows, schema={k: v for k, v in ANALYSIS_SCHEMA.items()
                                       if k not in ("mom_growth", "yoy_growth")},
                         orient="row")  # fmt: skip
    by_month = dict(zip(frame["month"], frame["closing_mrr"], strict=True))
    growth = [
        (
            (r["closing_mrr"] / by_month[add_months(r["month"], -1)] - 1)
            if by_month.get(add_months(r["month"], -1)) else None,
            (r["closing_mrr"] / by_month[add_months(r["month"], -12)] - 1)
            if by_month.get(add_months(r["month"], -12)) else None,
        )
        for r in frame.iter_rows(named=True)
    ]  # fmt: skip
    frame = frame.with_columns(
        mom_growth=pl.Series([g[0] for g in growth], dtype=pl.Float64),
        yoy_growth=pl.Series([g[1] for g in growth], dtype=pl.Float64),
    )
    return frame.select(list(ANALYSIS_SCHEMA))


# -- benchmarks --------------------------------------------------------------------------------

BENCHMARK_SCHEMA = {
    "month": pl.Date, "kpi": pl.String, "unit": pl.String, "value": pl.Float64,
    "p25": pl.Float64, "p50": pl.Float64, "p75": pl.Float64, "p90": pl.Float64,
    "percentile": pl.Float64, "position": pl.String, "basis": pl.String,
}  # fmt: skip


def percentile_of(value: float, p25: float, p50: float, p75: float, p90: float) -> float:
    """Where `value` sits among the industry's percentiles (0–100, piecewise linear; the table
    runs from the 25th to the 90th, lower is better when p25 > p90)."""
    xs, ys = [p25, p50, p75, p90], [25.0, 50.0, 75.0, 90.0]
    if p25 > p90:  # lower is better: flip so the x values increase
        xs, ys = xs[::-1], ys[::-1]
    step = (xs[1] - xs[0]) or 1.0
    slope_low = (ys[1] - ys[0]) / step
    step_hi = (xs[-1] - xs[-2]) or 1.0
    slope_high = (ys[-1] - ys[-2]) / step_hi
    if value < xs[0]:
        p = ys[0] + (value - xs[0]) * slope_low
    elif value > xs[-1]:
        p = ys[-1] + (value - xs[-1]) * slope_high
    else:
        p = float(np.interp(value, xs, ys))
    return max(0.0, min(100.0, p))


def position(p: float | None) -> str:
    if p is None:
        return "not measured"
    for floor, label in ((90, "top decile"), (75, "top quartile"), (50, "above median"),
                         (25, "below median")):  # fmt: skip
        if p >= floor:
            return label
    return "bottom quartile"


def annualized(monthly: list[float | None]) -> float | None:
    """A yearly retention from the last (up to 12) monthly retentions: their product, scaled to
    12 months when fewer are known."""
    known = [v for v in monthly[-12:] if v is not None]
    if not known:
        return None
    return float(np.prod(known)) ** (12 / len(known))


def our_benchmark_values(analysis: pl.DataFrame, operations: dict[str, float | None]) -> dict:
    """Our value and how it was measured for each benchmark KPI (None: not measured here)."""
    now = analysis.row(-1, named=True)
    return {
        "arr_growth_yoy": (now["yoy_growth"], "MRR now vs the same month last year"
                           if now["yoy_growth"] is not None else
                           "not measured: less than a year of history"),
        "net_revenue_retention": (annualized(analysis["net_revenue_retention"].to_list()),
                                  "monthly NRR of the last 12 months, compounded"),
        "gross_revenue_retention": (annualized(analysis["gross_revenue_retention"].to_list()),
                                    "monthly GRR of the last 12 months, compounded"),
        "monthly_logo_churn": (now["logo_churn_rate"], "paying accounts lost this month"),
        "gross_margin": (now["gross_margin_infra"], "revenue less cloud spend only"),
        "infra_cost_share_of_revenue": (now["infra_cost_share"], "cloud spend / revenue"),
        "payment_recovery_rate": (operations.get("payment_recovery_rate"),
                                  "failed payments recovered this month"),
        "first_response_sla_rate": (operations.get("first_response_sla_rate"),
                                    "tickets answered within SLA this month"),
        "mttr_hours": (operations.get("mttr_hours"), "mean time to resolve incidents"),
        "cac_payback_months": (None, "not measured: no sales and marketing spend source"),
    }  # fmt: skip


def market_benchmarks(
    month: date, values: dict[str, tuple[float | None, str]], table: pl.DataFrame
) -> pl.DataFrame:
    """Each benchmark KPI: our value, the industry percentiles and where we stand."""
    rows = []
    for b in table.sort("kpi").iter_rows(named=True):
        value, basis = values.get(b["kpi"], (None, "no measure of ours for this KPI"))
        p = None if value is None else percentile_of(value, b["p25"], b["p50"], b["p75"], b["p90"])
        rows.append({"month": month, "kpi": b["kpi"], "unit": b["unit"], "value": value,
                     "p25": b["p25"], "p50": b["p50"], "p75": b["p75"], "p90": b["p90"],
                     "percentile": p, "position": position(p), "basis": basis})  # fmt: skip
    return pl.DataFrame(rows, schema=BENCHMARK_SCHEMA, orient="row")
