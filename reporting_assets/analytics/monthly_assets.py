"""Monthly analytics assets (group `analysis_monthly`, calendar months; the month-end run covers
the month to date): the business history from the warehouse, the business analysis, market
benchmarks, forecasts and churn risk (refitted each month, each against a naive baseline),
strategic recommendations and the business-impact metrics.

The month's operational figures come from `kpis_monthly` (the metric layer at the month's
grain); earlier months and the days a model learns from are declared dependencies. Every asset
has the four families of checks; ERROR ones block what is downstream. The two models add a WARN
check that fails when the model does worse than its naive baseline in backtest.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import polars as pl

from reporting_assets.analytics import models, monthly, recommend
from reporting_assets.analytics.weekly_assets import analytics_specs, snapshot_at
from reporting_assets.config import ConfigError, config_path, get_settings
from reporting_assets.config.models import Settings
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.metrics.assets import emit_checked, stacked
from reporting_assets.metrics.layer import values_of
from reporting_assets.metrics.period_assets import MONTHLY_GROUP
from reporting_assets.partitions import monthly_partitions, period_days
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    BASELINE,
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    THRESHOLDS,
)
from reporting_assets.quality.schemas import (
    BusinessAnalysisMonthly,
    BusinessHistoryMonthly,
    BusinessImpactMonthly,
    ChurnRiskMonthly,
    ForecastsMonthly,
    MarketBenchmarksMonthly,
    StrategicRecommendationsMonthly,
)
from reporting_assets.records.acks import acks
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.sources import WarehouseResource
from reporting_assets.resources.storage import period_in

TOL = 0.01
PAST_MONTHS = 6
# A rule naming a finding the month does not measure would never fire: refuse the config now,
# when Dagster loads the code, not at the month-end run.
if _problems := recommend.rule_problems(get_settings().recommendations):
    raise ConfigError("\n".join(f"{config_path()}: {p}" for p in _problems))
BRIDGE_PARTS = ("new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr")
# How far back the business-impact baseline may lie (months before the one computed).
IMPACT_LOOKBACK_MONTHS = 36


def _ok(problems: list[str], ok: str, severity="ERROR", **meta) -> checks.CheckOutcome:
    return checks.problems_outcome(problems, ok, severity, **meta)


def month_of(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The month's first day and its last day with data due (yesterday while it runs)."""
    start, _, due = period_days(context.partition_time_window)
    if due < start:
        raise dg.Failure(f"{start:%B %Y} has no day due yet")
    return start, due


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().calendar.report_timezone)


def _warehouse_history(warehouse: WarehouseResource, end: date):
    client = warehouse.client()
    accounts = client.read("v_account_history", "valid_from <= :day", {"day": end})
    costs = client.read("v_daily_cloud_cost", "cost_date <= :day", {"day": end})
    return accounts, costs


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"duckdb", "polars"},
    deps=["account_snapshot", "cloud_costs"],
    ins={"revenue_protection_daily": period_in("revenue_protection_daily")},
    check_specs=analytics_specs("business_history_monthly"),
    code_version="2",
)
def business_history_monthly(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    revenue_protection_daily: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """MRR, paying accounts, cloud spend and budget for every day from the start of the history
    to the month's end (or to date), from the warehouse's account history and cost views: the
    long series the monthly analysis and the forecasts work from."""
    s = get_settings()
    month, end = month_of(context)
    accounts, costs = _warehouse_history(warehouse, end)
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
            severity=s.quality.history_severity,
            floors={"mrr_change": 0.02},
        ),
        THRESHOLDS: _ok(
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
)
def business_analysis_monthly(
    context: dg.AssetExecutionContext,
    business_history_monthly: pl.DataFrame,
    kpis_monthly: pl.DataFrame,
    warehouse: WarehouseResource,
    app_db: AppDatabase,
):
    """Month by month over the trailing months: the MRR bridge (new, expansion, contraction,
    churn, reactivation), month-over-month and year-over-year growth, logo churn, net and gross
    revenue retention, cohort retention at 3, 6 and 12 months, cost against budget, cloud cost
    as a share of revenue and per account."""
    s = get_settings()
    month, end = month_of(context)
    accounts, _ = _warehouse_history(warehouse, end)
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
            severity=s.quality.history_severity,
            floors={
                "logo_churn_rate": 0.01,
                "net_revenue_retention": 0.02,
                "infra_cost_share": 0.02,
                "arpa": 50.0,
            },
        ),
        THRESHOLDS: _ok(
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
    business_analysis_monthly: pl.DataFrame,
    kpis_monthly: pl.DataFrame,
    industry_benchmarks: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """Where the company stands against the industry benchmark table: our value, the industry's
    25th–90th percentiles and our percentile for growth, retention, margin, churn, payment
    recovery, support and incident response."""
    s = get_settings()
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
            severity=s.quality.history_severity,
            floors=dict.fromkeys(table["kpi"], 10.0),
        ),
        THRESHOLDS: _ok(not_monotonic, "every benchmark's percentiles run in one direction"),
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


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"statsmodels"},
    check_specs=analytics_specs("forecasts_monthly", BASELINE),
    code_version="2",
)
def forecasts_monthly(
    context: dg.AssetExecutionContext,
    business_history_monthly: pl.DataFrame,
    app_db: AppDatabase,
):
    """MRR at the end of each of the next months and cloud spend in each, with prediction
    intervals, from exponential-smoothing models refitted this month; each with its backtest
    error (MAPE over rolling origins) next to a naive baseline's."""
    s = get_settings()
    a = s.analytics
    month, _ = month_of(context)
    h = business_history_monthly.sort("date")
    dates = h["date"].to_list()
    frames, meta = [], {}
    for name, column, level in (("mrr", "mrr", True), ("cost", "cost_usd", False)):
        frame, info = models.forecast_series(
            name,
            dates,
            h[column].to_numpy(),
            level=level,
            months=a.forecast_months,
            interval=a.forecast_interval,
            origins=a.backtest_origins,
        )
        frames.append(frame)
        meta[name] = info
    table = pl.concat(frames)
    last_mrr = float(h["mrr"][-1])
    last_month_cost = float(
        h.filter(pl.col("date") > dates[-1] - timedelta(days=30))["cost_usd"].sum()
    )
    worse = [
        f"{r['series']}: model MAPE {r['backtest_mape']:.2%} > naive {r['baseline_mape']:.2%}"
        for r in table.unique("series", keep="first").iter_rows(named=True)
        if not r["beats_baseline"]
    ]
    first = table.filter(pl.col("month") == table["month"].min())
    jumps = {
        "mrr_next_month_change": float(first.filter(pl.col("series") == "mrr")["forecast"][0])
        / last_mrr
        - 1
        if last_mrr
        else None,
        "cost_next_month_change": float(first.filter(pl.col("series") == "cost")["forecast"][0])
        / last_month_cost
        - 1
        if last_month_cost
        else None,
    }
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            ForecastsMonthly,
            sources={"business_history_monthly": h.height},
            extra_problems=[
                f"{sname}: {n} months forecast, expected {a.forecast_months}"
                for sname, n in table.group_by("series").len().iter_rows()
                if n != a.forecast_months
            ],
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            ForecastsMonthly,
            {},
            extra_problems=[
                f"{r['series']} {r['month']}: {r['lower']:,.0f} ≤ {r['forecast']:,.0f} ≤ "
                f"{r['upper']:,.0f} does not hold"
                for r in table.iter_rows(named=True)
                if not r["lower"] - TOL <= r["forecast"] <= r["upper"] + TOL
            ],
        ),
        HISTORY: _ok(
            [f"{k} = {v:+.0%}" for k, v in jumps.items() if v is not None and abs(v) > 0.5],
            "next month's forecasts within ±50% of the last month",
            s.quality.history_severity,
            **{k: v for k, v in jumps.items()},
        ),
        THRESHOLDS: _ok(
            []
            if 0.5 <= a.forecast_interval < 1
            else [f"forecast_interval {a.forecast_interval} is too narrow to be useful"],
            f"{a.forecast_interval:.0%} intervals, {a.backtest_origins} origins",
        ),
        BASELINE: _ok(
            worse,
            "both models beat the naive baseline in backtest",
            "WARN",
            **{f"{k}_backtest": v["model_errors"] for k, v in meta.items()},
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "forecasts_monthly",
        table,
        month,
        outcomes,
        {
            "mrr_model": dg.MetadataValue.json(meta["mrr"]),
            "cost_model": dg.MetadataValue.json(meta["cost"]),
            "mrr_backtest_mape": table.filter(pl.col("series") == "mrr")["backtest_mape"][0],
            "mrr_baseline_mape": table.filter(pl.col("series") == "mrr")["baseline_mape"][0],
            "cost_backtest_mape": table.filter(pl.col("series") == "cost")["backtest_mape"][0],
            "cost_baseline_mape": table.filter(pl.col("series") == "cost")["baseline_mape"][0],
        },
    )


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"scikitlearn"},
    ins={
        "account_activity_daily": period_in("account_activity_daily", -2, 0),
        "past": period_in("churn_risk_monthly", -PAST_MONTHS, -1),
    },
    check_specs=analytics_specs("churn_risk_monthly", BASELINE),
    code_version="2",
)
def churn_risk_monthly(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    account_activity_daily: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """The probability that each paying account stops paying within the horizon, its band,
    the MRR at stake and the strongest driver, from a model refitted this month on the accounts
    of one horizon ago and what became of them."""
    s = get_settings()
    a = s.analytics
    month, end = month_of(context)
    accounts, _ = _warehouse_history(warehouse, end)
    t0 = end - timedelta(days=a.churn_horizon_days)
    first = (t0 - timedelta(days=a.churn_window_days)).isoformat()
    activity = stacked(
        {k: f for k, f in account_activity_daily.items() if first <= k <= end.isoformat()}
    )
    train = models.churn_features(accounts, activity, t0, a.churn_window_days)
    labels = models.churn_labels(accounts, train, end)
    test = models.churn_backtest(train, labels)
    current = models.churn_features(accounts, activity, end, a.churn_window_days)
    table, fit = models.churn_scores(train, labels, current, month)
    paying = monthly.states_at(accounts, end).filter(pl.col("status").is_in(monthly.PAYING))
    high_share = table.filter(pl.col("risk_band") == "high")["mrr"].sum() / max(
        table["mrr"].sum(), 1.0
    )
    past = stacked(past)
    past_share = (
        []
        if past is None
        else [
            g.filter(pl.col("risk_band") == "high")["mrr"].sum() / max(g["mrr"].sum(), 1.0)
            for _, g in past.group_by("month")
        ]
    )
    usage_note = (
        "with product usage"
        if "log_events_per_seat" in test.features
        else "without product usage (no stored account activity for the window)"
    )
    baseline_ok = test.beats_baseline is not False
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            ChurnRiskMonthly,
            sources={"v_account_history": accounts.height},
            extra_problems=[]
            if table.height == paying.height
            else [f"{table.height} accounts scored, {paying.height} paying"],
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            ChurnRiskMonthly,
            {},
            [
                (
                    "mrr at stake = mrr × probability",
                    pl.col("mrr_at_stake"),
                    pl.col("mrr") * pl.col("churn_probability"),
                )
            ],
        ),
        HISTORY: checks.consistent_with_periods(
            {"high_risk_mrr_share": high_share},
            {"high_risk_mrr_share": past_share},
            period="month",
            z_threshold=a.history_z_threshold,
            severity=s.quality.history_severity,
            floors={"high_risk_mrr_share": 0.05},
        ),
        THRESHOLDS: _ok(
            [] if test.churned >= 5 else [f"only {test.churned} churned accounts to learn from"],
            f"trained on {test.accounts} accounts, {test.churned} churned",
            "WARN",
        ),
        BASELINE: _ok(
            []
            if baseline_ok
            else [f"AUC {test.auc:.3f} < plan-rate baseline {test.baseline_auc:.3f}"],
            f"AUC {test.auc:.3f} vs baseline {test.baseline_auc:.3f} ({usage_note})"
            if test.auc is not None
            else "too few churned accounts to measure AUC",
            "WARN",
            auc=test.auc,
            baseline_auc=test.baseline_auc,
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "churn_risk_monthly",
        table,
        month,
        outcomes,
        {
            "auc": test.auc,
            "baseline_auc": test.baseline_auc,
            "trained_on": test.accounts,
            "churned_in_training": test.churned,
            "features": ", ".join(fit["features"]),
            "coefficients": dg.MetadataValue.json(fit["coefficients"]),
            "high_risk_accounts": table.filter(pl.col("risk_band") == "high").height,
        },
    )


def findings(
    settings: Settings,
    analysis: pl.DataFrame,
    benchmarks: pl.DataFrame,
    churn: pl.DataFrame,
    ops: dict,
    savings: pl.DataFrame | None,
) -> dict[str, tuple[float | None, str, str]]:
    """The month's numbers recommendation rules may use: {name: (value, unit, where from)}."""
    now = analysis.row(-1, named=True)
    bench = dict(zip(benchmarks["kpi"], benchmarks["value"], strict=True))
    high = churn.filter(pl.col("risk_band") == "high")
    identified = realized = 0.0
    if savings is not None and not savings.is_empty():
        identified = float(savings["monthly_savings_usd"].sum())
        realized = float(savings["realized_monthly_savings_usd"].fill_null(0).sum())
    overspend = (now["cost_usd"] - now["budget_usd"]) if now["budget_usd"] else None
    sla = ops.get("first_response_sla_rate")
    return {
        "payment_recovery_rate": (ops.get("payment_recovery_rate"), "ratio", "daily metrics"),
        "failed_payment_amount": (ops.get("failed_payment_amount"), "usd", "daily metrics"),
        "monthly_logo_churn": (now["logo_churn_rate"], "ratio", "business analysis"),
        "churned_mrr": (now["churned_mrr"], "usd", "business analysis"),
        "high_risk_mrr": (float(high["mrr"].sum()), "usd", "churn risk model"),
        "high_risk_share": (
            float(high["mrr"].sum()) / max(float(churn["mrr"].sum()), 1.0),
            "ratio",
            "churn risk model",
        ),
        "cost_vs_budget": (now["cost_vs_budget"], "ratio", "business analysis"),
        "overspend_usd": (
            max(overspend, 0.0) if overspend is not None else None,
            "usd",
            "business analysis",
        ),
        "savings_realization_rate": (
            realized / identified if identified else None,
            "ratio",
            "cost savings register",
        ),
        "unrealized_savings_usd": (identified - realized, "usd", "cost savings register"),
        "first_response_sla_rate": (sla, "ratio", "daily metrics"),
        "support_exposed_mrr": (
            (1 - sla) * now["closing_mrr"] if sla is not None else None,
            "usd",
            "daily metrics × MRR",
        ),
        "net_revenue_retention": (bench.get("net_revenue_retention"), "ratio", "benchmarks"),
        "infra_cost_share": (now["infra_cost_share"], "ratio", "business analysis"),
    }


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"polars"},
    ins={
        "cost_savings": period_in("cost_savings"),
        "past": period_in("strategic_recommendations_monthly", -PAST_MONTHS, -1),
    },
    check_specs=analytics_specs("strategic_recommendations_monthly"),
    code_version="2",
)
def strategic_recommendations_monthly(
    context: dg.AssetExecutionContext,
    business_analysis_monthly: pl.DataFrame,
    market_benchmarks_monthly: pl.DataFrame,
    churn_risk_monthly: pl.DataFrame,
    kpis_monthly: pl.DataFrame,
    cost_savings: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """Recommendations from the rules in config, each traced to the metric and value that
    triggered it and ranked by the dollars it puts at stake."""
    s = get_settings()
    month, end = month_of(context)
    ops = values_of(kpis_monthly)
    savings = cost_savings.get(end.isoformat())
    found = findings(
        s, business_analysis_monthly, market_benchmarks_monthly, churn_risk_monthly, ops, savings
    )
    table = recommend.recommendations(month, found, s.recommendations)
    unknown = [
        f"rule '{r.name}' uses unknown finding '{x}'"
        for r in s.recommendations
        for x in (r.metric, r.impact_basis)
        if x not in found
    ]
    unmeasured = [
        f"rule '{r.name}': {r.metric} not measured this month"
        for r in s.recommendations
        if r.metric in found and found[r.metric][0] is None
    ]
    fired = set(table["rule"].to_list())
    wrong = [
        f"rule '{r.name}' {'fired' if r.name in fired else 'did not fire'} with "
        f"{r.metric} = {found[r.metric][0]}"
        for r in s.recommendations
        if r.metric in found and recommend.fires(r, found[r.metric][0]) != (r.name in fired)
    ]
    ranked = table["estimated_impact_usd"].to_list()
    past = stacked(past)
    past_counts = [] if past is None else [g.height for _, g in past.group_by("month")]
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            StrategicRecommendationsMonthly,
            sources={"business_analysis_monthly": business_analysis_monthly.height},
            extra_problems=unknown,
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            StrategicRecommendationsMonthly,
            {},
            extra_problems=(
                [] if ranked == sorted(ranked, reverse=True) else ["not ranked by impact"]
            )
            + [
                f"{r['rule']}: sentence has no number"
                for r in table.iter_rows(named=True)
                if not any(ch.isdigit() for ch in r["recommendation"])
            ],
        ),
        HISTORY: checks.consistent_with_periods(
            {"recommendations": float(table.height)},
            {"recommendations": [float(c) for c in past_counts]},
            period="month",
            z_threshold=s.analytics.history_z_threshold,
            severity=s.quality.history_severity,
            floors={"recommendations": 2.0},
        ),
        THRESHOLDS: _ok(
            wrong + unmeasured,
            f"{len(s.recommendations)} rules evaluated, {table.height} fired",
            "ERROR" if wrong else "WARN",
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "strategic_recommendations_monthly",
        table,
        month,
        outcomes,
        {
            "findings": dg.MetadataValue.md(
                markdown_preview(
                    pl.DataFrame(
                        [
                            {"finding": k, "value": v[0], "unit": v[1], "source": v[2]}
                            for k, v in found.items()
                        ]
                    ),
                    rows=30,
                )
            ),
            "total_impact_usd": float(table["estimated_impact_usd"].sum()),
        },
    )


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"polars"},
    ins={
        "kpis": period_in("kpis_monthly", -IMPACT_LOOKBACK_MONTHS, 0),
        "strategic_initiatives": period_in("strategic_initiatives"),
        "cost_savings": period_in("cost_savings"),
        "past": period_in("business_impact_monthly", -PAST_MONTHS, -1),
    },
    check_specs=analytics_specs("business_impact_monthly"),
    code_version="2",
)
def business_impact_monthly(
    context: dg.AssetExecutionContext,
    kpis: dict[str, pl.DataFrame],
    strategic_initiatives: dict[str, pl.DataFrame],
    cost_savings: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """The seed's business-impact metrics this month against the baseline months: executive
    decision speed (delivery to acknowledgement), revenue protection (share of revenue at risk
    recovered), cost optimization realization (realized of identified savings) and strategic
    initiative success rate, each with its target."""
    s = get_settings()
    imp = s.impact
    month, end = month_of(context)
    if context.partition_key not in kpis:
        raise dg.Failure(f"kpis_monthly has no partition for {month:%B %Y}")
    months = sorted(date.fromisoformat(k) for k in kpis)
    base_start = imp.baseline_start.replace(day=1) if imp.baseline_start else months[0]
    base_months = [
        m
        for m in months
        if base_start <= m < min(monthly.add_months(base_start, imp.baseline_months), month)
    ]
    base_end = min(monthly.add_months(base_start, imp.baseline_months), month) - timedelta(days=1)
    # A baseline month with days missing would understate it: it is left out, and said to be.
    left_out = [m for m in base_months if not kpis[m.isoformat()]["complete"][0]]
    base_months = [m for m in base_months if m not in left_out]
    in_baseline = bool(base_months)

    def share(tables: list[pl.DataFrame]):
        values = [values_of(t) for t in tables]
        risk = sum(v.get("mrr_at_risk_flagged") or 0.0 for v in values)
        recovered = sum(v.get("revenue_recovered") or 0.0 for v in values)
        return recovered / risk if risk else None

    tz = _tz()
    engine = app_db.engine

    def speed(start: date, stop: date):
        since = datetime.combine(start, datetime.min.time(), tz)
        until = datetime.combine(stop + timedelta(days=1), datetime.min.time(), tz)
        hours = [
            a.hours_to_decision
            for a in acks(engine, since, until)
            if a.hours_to_decision is not None
        ]
        return float(np.median(hours)) if hours else None

    savings = cost_savings.get(end.isoformat())
    identified = float(savings["monthly_savings_usd"].sum()) if savings is not None else 0.0
    realized = (
        float(savings["realized_monthly_savings_usd"].fill_null(0).sum())
        if savings is not None
        else 0.0
    )
    initiatives = strategic_initiatives.get(end.isoformat())
    success, due = (
        recommend.initiative_success_rate(initiatives, end)
        if initiatives is not None
        else (None, 0)
    )
    now = kpis[context.partition_key]
    base_tables = [kpis[m.isoformat()] for m in base_months]
    rows = [
        recommend.impact_row(
            month,
            "executive_decision_speed_hours",
            speed(month, end),
            speed(base_start, base_end) if in_baseline else None,
            imp.decision_speed,
            "median hours from delivery to the first acknowledgement, vs the baseline months",
            lower_is_better=True,
        ),
        recommend.impact_row(
            month,
            "revenue_protection_share",
            share([now]),
            share(base_tables) if in_baseline else None,
            imp.revenue_protection,
            "revenue recovered / revenue at risk, vs the baseline months",
        ),
        recommend.impact_row(
            month,
            "cost_optimization_realization",
            realized / identified if identified else None,
            None,
            imp.cost_realization,
            "realized / identified monthly savings",
            direct=True,
        ),
        recommend.impact_row(
            month,
            "initiative_success_rate",
            success,
            None,
            imp.initiative_success,
            f"initiatives finished on plan, of the {due} due by now",
            direct=True,
        ),
    ]
    table = pl.DataFrame(rows, schema=recommend.IMPACT_SCHEMA, orient="row")
    earlier = stacked(past)
    past_values = (
        {}
        if earlier is None
        else {m: earlier.filter(pl.col("metric") == m)["value"].to_list() for m in table["metric"]}
    )
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            BusinessImpactMonthly,
            sources={"days this month": int(now["days_counted"][0])},
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            BusinessImpactMonthly,
            {"value": (0, None)},
            extra_problems=[
                f"{r['metric']}: status {r['status']} does not follow from "
                f"{r['improvement']} vs {r['target']}"
                for r in table.iter_rows(named=True)
                if r["improvement"] is not None
                and r["status"]
                != (
                    "green"
                    if r["improvement"] >= r["target"]
                    else "amber"
                    if r["improvement"] >= 0
                    else "red"
                )
            ],
        ),
        HISTORY: checks.consistent_with_periods(
            dict(zip(table["metric"], table["value"], strict=True)),
            past_values,
            period="month",
            z_threshold=s.analytics.history_z_threshold,
            severity=s.quality.history_severity,
        ),
        THRESHOLDS: _ok(
            [
                f"{k} target {v} outside (0, 1]"
                for k, v in (
                    ("decision_speed", imp.decision_speed),
                    ("revenue_protection", imp.revenue_protection),
                    ("cost_realization", imp.cost_realization),
                    ("initiative_success", imp.initiative_success),
                )
                if not 0 < v <= 1
            ],
            "the impact targets are sane",
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "business_impact_monthly",
        table,
        month,
        outcomes,
        {
            "baseline": ", ".join(f"{m:%B %Y}" for m in base_months) or "none before this month",
            "baseline_left_out": ", ".join(f"{m:%B %Y} (days missing)" for m in left_out) or "none",
        },
    )


monthly_analytics_assets = [
    business_history_monthly,
    business_analysis_monthly,
    market_benchmarks_monthly,
    forecasts_monthly,
    churn_risk_monthly,
    strategic_recommendations_monthly,
    business_impact_monthly,
]
