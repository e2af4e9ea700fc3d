"""The month's models (group `step4_analysis_monthly`): the forecasts and the churn risk,
refitted each month and each backtested against a naive baseline."""

from datetime import timedelta

import dagster as dg
import polars as pl

from reporting_assets.analytics import models, monthly
from reporting_assets.analytics.monthly_common import (
    PAST_MONTHS,
    TOL,
    month_of,
    outcome,
    warehouse_history,
)
from reporting_assets.analytics.period_common import analytics_specs
from reporting_assets.lib.pools import WAREHOUSE
from reporting_assets.metrics.gates import emit_checked
from reporting_assets.metrics.period_assets import MONTHLY_GROUP
from reporting_assets.metrics.windows import stacked
from reporting_assets.partitions import monthly_partitions
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    BASELINE,
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    HISTORY_SEVERITY,
    THRESHOLDS,
)
from reporting_assets.quality.schemas import (
    ChurnRiskMonthly,
    ForecastsMonthly,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.sources import WarehouseResource
from reporting_assets.resources.storage import period_in


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=MONTHLY_GROUP,
    kinds={"statsmodels"},
    check_specs=analytics_specs("forecasts_monthly", BASELINE),
    code_version="2",
)
def forecasts_monthly(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    business_history_monthly: pl.DataFrame,
    app_db: AppDatabase,
):
    """MRR at the end of each of the next months and cloud spend in each, with prediction
    intervals, from exponential-smoothing models refitted this month; each with its backtest
    error (MAPE over rolling origins) next to a naive baseline's."""
    s = business.get()
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
        HISTORY: outcome(
            [f"{k} = {v:+.0%}" for k, v in jumps.items() if v is not None and abs(v) > 0.5],
            "next month's forecasts within ±50% of the last month",
            HISTORY_SEVERITY,
            **{k: v for k, v in jumps.items()},
        ),
        THRESHOLDS: outcome(
            []
            if 0.5 <= a.forecast_interval < 1
            else [f"forecast_interval {a.forecast_interval} is too narrow to be useful"],
            f"{a.forecast_interval:.0%} intervals, {a.backtest_origins} origins",
        ),
        BASELINE: outcome(
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
    pool=WAREHOUSE,
)
def churn_risk_monthly(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    warehouse: WarehouseResource,
    account_activity_daily: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """The probability that each paying account stops paying within the horizon, its band,
    the MRR at stake and the strongest driver, from a model refitted this month on the accounts
    of one horizon ago and what became of them."""
    s = business.get()
    a = s.analytics
    month, end = month_of(context)
    accounts, _ = warehouse_history(warehouse, end)
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
    # The accounts' names, as the warehouse's account history has them on the month's last day.
    names = accounts.sort("valid_from").unique("account_id", keep="last", maintain_order=True)
    table = table.join(names.select("account_id", "account_name"), on="account_id", how="left")
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
            severity=HISTORY_SEVERITY,
            floors={"high_risk_mrr_share": 0.05},
        ),
        THRESHOLDS: outcome(
            [] if test.churned >= 5 else [f"only {test.churned} churned accounts to learn from"],
            f"trained on {test.accounts} accounts, {test.churned} churned",
            "WARN",
        ),
        BASELINE: outcome(
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
