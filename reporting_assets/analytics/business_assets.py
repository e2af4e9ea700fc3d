"""The month's business history (from the warehouse), its business analysis and the market
benchmarks (group `step4_analysis_monthly`)."""

import dagster as dg
import polars as pl

from reporting_assets.analytics import monthly
from reporting_assets.analytics.monthly_common import (
    BRIDGE_PARTS,
    PAST_MONTHS,
    TOL,
    month_of,
    outcome,
    warehouse_history,
)
from reporting_assets.analytics.period_common import analytics_specs, snapshot_at
from reporting_assets.lib.pools import WAREHOUSE
from reporting_assets.metrics.gates import emit_checked
from reporting_assets.metrics.period_assets import MONTHLY_GROUP
from reporting_assets.metrics.periods import values_of
from reporting_assets.metrics.windows import stacked
from reporting_assets.partitions import monthly_partitions
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    HISTORY_SEVERITY,
    THRESHOLDS,
)
from reporting_assets.quality.schemas import (
    BusinessAnalysisMonthly,
    BusinessHistoryMonthly,
    MarketBenchmarksMonthly,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.sources import WarehouseResource
from reporting_assets.resources.storage import period_in


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"duckdb", "polars"},
    deps=["account_snapshot", "cloud_costs"],
    ins={"revenue_protection_daily": period_in("revenue_protection_daily")},
    check_specs=analytics_specs("business_history_monthly"),
    code_version="2",
    pool=WAREHOUSE,
)
def business_history_monthly(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    warehouse: WarehouseResource,
    revenue_protection_daily: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """MRR, paying accounts, cloud spend and budget for every day from the start of the history
    to the month's end (or to date), from the warehouse's account history and cost views: the
    long series the monthly analysis and the forecasts work from."""
    s = business.get()
    month, end = month_of(context)
    accounts, costs = warehouse_history(warehouse, end)
    start = s.calendar.history_start
    table = monthly.daily_history(accounts, costs, start, end)
    daily = stacked(revenue_protection_daily)
    mismatch = []
    if daily is not None:
        totals = daily.filter(pl.col("plan") == "total").select("date", "closing_mrr")
        joined = table.join(totals, on="date").filter(
            (pl.col("mrr") - pl.col("closing_mrr")).abs() > TOL
        )
        mismatch = [
            f"{r['date']}: warehouse MRR {r['mrr']:,.2f} ≠ daily metrics {r['closing_mrr']:,.2f}"
            for r in joined.head(5).iter_rows(named=True)
        ]
    expected_days = (end - start).days + 1
    month_ends = (
        table.group_by_dynamic("date", every="1mo")
        .agg(pl.col("mrr").last(), pl.col("cost_usd").sum())
        .sort("date")
    )
    changes = month_ends.with_columns(mrr_change=pl.col("mrr").pct_change())
    full = changes.head(max(0, changes.height - 1))  # the month in progress is partial
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            BusinessHistoryMonthly,
            sources={"v_account_history": accounts.height, "v_daily_cloud_cost": costs.height},
            extra_problems=[]
            if table.height == expected_days
            else [f"{table.height} days of history, expected {expected_days} ({start} – {end})"],
        ),
        BUSINESS_RULES: checks.business_rules(
            table, BusinessHistoryMonthly, {}, extra_problems=mismatch
        ),
        HISTORY: checks.consistent_with_periods(
            {"mrr_change": full["mrr_change"][-1] if full.height else None},
            {"mrr_change": full["mrr_change"].to_list()[:-1]},
            period="month",
            z_threshold=s.analytics.history_z_threshold,
            severity=HISTORY_SEVERITY,
            floors={"mrr_change": 0.02},
        ),
        THRESHOLDS: outcome(
            []
            if table.height >= 60
            else [f"only {table.height} days of history; forecasts need 60 or more"],
            f"{table.height} days of history for the models",
            "WARN",
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "business_history_monthly",
        table,
        month,
        outcomes,
        {
            "first_day": start.isoformat(),
            "last_day": end.isoformat(),
            "checked_against_daily_metrics_days": 0 if daily is None else daily["date"].n_unique(),
        },
    )


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"polars"},
    check_specs=analytics_specs("business_analysis_monthly"),
    code_version="2",
    pool=WAREHOUSE,
)
def business_analysis_monthly(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    business_history_monthly: pl.DataFrame,
    kpis_monthly: pl.DataFrame,
    warehouse: WarehouseResource,
    app_db: AppDatabase,
):
    """Month by month over the trailing months: the MRR bridge (new, expansion, contraction,
    churn, reactivation), month-over-month and year-over-year growth, logo churn, net and gross
    revenue retention, cohort retention at 3, 6 and 12 months, cost against budget, cloud cost
    as a share of revenue and per account."""
    s = business.get()
    month, end = month_of(context)
    accounts, _ = warehouse_history(warehouse, end)
    table = monthly.business_analysis(
        accounts, business_history_monthly, month, end, s.analytics.history_months
    )
    # The 13 months come from the warehouse's account history, day by day; where the month's
    # checked days are all there, its bridge must be the metric layer's to the cent.
    kpis = values_of(kpis_monthly)
    now = table.row(-1, named=True)
    bridge_differs = [
        f"{c}: {now[c]:,.2f} from the account history, {kpis[c]:,.2f} from the daily metrics"
        for c in BRIDGE_PARTS
        if kpis_monthly["complete"][0] and kpis.get(c) is not None and abs(now[c] - kpis[c]) > TOL
    ]
    chain = bridge_differs + [
        f"{b['month']} opens at {b['opening_mrr']:,.2f}, {a['month']} closed at "
        f"{a['closing_mrr']:,.2f}"
        for a, b in zip(
            table.head(-1).iter_rows(named=True), table.slice(1).iter_rows(named=True), strict=True
        )
        if abs(a["closing_mrr"] - b["opening_mrr"]) > TOL
    ]
    first = max(
        monthly.add_months(month, -(s.analytics.history_months - 1)),
        s.calendar.history_start.replace(day=1),
    )
    expected = 0
    m = first
    while m <= month:
        expected, m = expected + 1, monthly.add_months(m, 1)
    watched = ("logo_churn_rate", "net_revenue_retention", "infra_cost_share", "arpa")
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            BusinessAnalysisMonthly,
            sources={"business_history_monthly": business_history_monthly.height},
            extra_problems=[]
            if table.height == expected
            else [f"{table.height} months analysed, expected {expected}"],
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            BusinessAnalysisMonthly,
            {"net_revenue_retention": (0, 2), "infra_cost_share": (0, 1)},
            [
                (
                    "opening + new + reactivation + expansion − contraction − churned = closing",
                    pl.col("opening_mrr")
                    + pl.col("new_mrr")
                    + pl.col("reactivation_mrr")
                    + pl.col("expansion_mrr")
                    - pl.col("contraction_mrr")
                    - pl.col("churned_mrr"),
                    pl.col("closing_mrr"),
                )
            ],
            tolerance=TOL,
            extra_problems=chain,
        ),
        HISTORY: checks.consistent_with_periods(
            {k: now[k] for k in watched},
            {k: table[k].to_list()[:-1] for k in watched},
            period="month",
            z_threshold=s.analytics.history_z_threshold,
            severity=HISTORY_SEVERITY,
            floors={
                "logo_churn_rate": 0.01,
                "net_revenue_retention": 0.02,
                "infra_cost_share": 0.02,
                "arpa": 50.0,
            },
        ),
        THRESHOLDS: outcome(
            [] if s.analytics.history_months >= 2 else ["history_months < 2"],
            f"{table.height} months analysed (history_months {s.analytics.history_months})",
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "business_analysis_monthly",
        table,
        month,
        outcomes,
        {
            "closing_mrr": now["closing_mrr"],
            "mom_growth": now["mom_growth"],
            "yoy_growth": now["yoy_growth"],
        },
    )


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"polars"},
    ins={
        "industry_benchmarks": period_in("industry_benchmarks"),
        "past": period_in("market_benchmarks_monthly", -PAST_MONTHS, -1),
    },
    check_specs=analytics_specs("market_benchmarks_monthly"),
    code_version="2",
)
def market_benchmarks_monthly(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    business_analysis_monthly: pl.DataFrame,
    kpis_monthly: pl.DataFrame,
    industry_benchmarks: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """Where the company stands against the industry benchmark table: our value, the industry's
    25th–90th percentiles and our percentile for growth, retention, margin, churn, payment
    recovery, support and incident response."""
    s = business.get()
    month, end = month_of(context)
    bench = snapshot_at(industry_benchmarks, end, "industry benchmark")
    ops = values_of(kpis_monthly)
    values = monthly.our_benchmark_values(business_analysis_monthly, ops)
    table = monthly.market_benchmarks(month, values, bench)
    not_monotonic = [
        f"{r['kpi']}: percentiles {r['p25']}, {r['p50']}, {r['p75']}, {r['p90']} are not in order"
        for r in bench.iter_rows(named=True)
        if not (
            r["p25"] < r["p50"] < r["p75"] < r["p90"] or r["p25"] > r["p50"] > r["p75"] > r["p90"]
        )
    ]
    wrong_position = [
        f"{r['kpi']}: percentile {r['percentile']:.0f} but '{r['position']}'"
        for r in table.iter_rows(named=True)
        if r["percentile"] is not None and monthly.position(r["percentile"]) != r["position"]
    ]
    past = stacked(past)
    past_p = (
        {}
        if past is None
        else {k: past.filter(pl.col("kpi") == k)["percentile"].to_list() for k in table["kpi"]}
    )
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            MarketBenchmarksMonthly,
            sources={"industry_benchmarks": bench.height},
            extra_problems=[
                f"{r['kpi']} has no value and no reason"
                for r in table.iter_rows(named=True)
                if r["value"] is None and "not measured" not in r["basis"]
            ],
        ),
        BUSINESS_RULES: checks.business_rules(
            table, MarketBenchmarksMonthly, {}, extra_problems=wrong_position
        ),
        HISTORY: checks.consistent_with_periods(
            dict(zip(table["kpi"], table["percentile"], strict=True)),
            past_p,
            period="month",
            z_threshold=s.analytics.history_z_threshold,
            severity=HISTORY_SEVERITY,
            floors=dict.fromkeys(table["kpi"], 10.0),
        ),
        THRESHOLDS: outcome(not_monotonic, "every benchmark's percentiles run in one direction"),
    }
    yield from emit_checked(
        context,
        app_db,
        "market_benchmarks_monthly",
        table,
        month,
        outcomes,
        {
            "measured": table.filter(pl.col("value").is_not_null()).height,
        },
    )
