"""Weekly and monthly analytics assets and their quality gates.

Group `scorecards_weekly` (Sunday–Saturday weeks in the report time zone): metric trends, the
business scorecard, initiative progress and ROI, from the week's checked daily tables.

Group `analysis_monthly` (calendar months; the month-end run covers the month to date): the
business history from the warehouse, the business analysis, market benchmarks, forecasts and
churn risk (refitted each month, each against a naive baseline), strategic recommendations and
the business-impact metrics.

Every asset has the four families of checks (completeness, business rules, consistency with
history, thresholds); ERROR ones block what is downstream. The two models add a WARN check that
fails when the model does worse than its naive baseline in backtest.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import polars as pl

from reporting_assets.analytics import models, monthly, recommend, weekly
from reporting_assets.config import get_settings
from reporting_assets.config.models import Settings
from reporting_assets.distribution.acks import acks
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.metrics.assets import _emit
from reporting_assets.partitions import monthly_partitions, weekly_partitions
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    ANALYTICS_GATES,
    BASELINE,
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    THRESHOLDS,
    check_specs,
)
from reporting_assets.quality.schemas import (
    BusinessAnalysisMonthly,
    BusinessHistoryMonthly,
    BusinessImpactMonthly,
    BusinessScorecardWeekly,
    ChurnRiskMonthly,
    ForecastsMonthly,
    InitiativeProgressWeekly,
    MarketBenchmarksMonthly,
    MetricTrendsWeekly,
    RoiWeekly,
    StrategicRecommendationsMonthly,
)
from reporting_assets.reports.period import period_days, period_values
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.sources import WarehouseResource
from reporting_assets.resources.storage import AssetHistory

WEEKLY_GROUP = "scorecards_weekly"
MONTHLY_GROUP = "analysis_monthly"
DAILY_TABLES = ("revenue_protection_daily", "cost_optimization_daily",
                "operational_efficiency_daily", "critical_alerts_daily")  # fmt: skip
TOL = 0.01


def _history_blocking() -> bool:
    return get_settings().quality.history_severity == "ERROR"


def _specs(asset: str, *extra: str) -> list[dg.AssetCheckSpec]:
    return check_specs(asset, [*ANALYTICS_GATES, *extra], history_blocking=_history_blocking())


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().calendar.report_timezone)


def _yesterday() -> date:
    return datetime.now(_tz()).date() - timedelta(days=1)


def read_days(history: AssetHistory, start: date, end: date) -> dict[str, pl.DataFrame]:
    """The checked daily tables stored for start..end (a table absent when no day is)."""
    keys = period_days(start, end)
    tables = {a: history.read(a, keys) for a in DAILY_TABLES}
    return {a: t for a, t in tables.items() if t is not None}


def stored_days(tables: dict[str, pl.DataFrame]) -> int:
    rev = tables.get("revenue_protection_daily")
    return 0 if rev is None else rev["date"].n_unique()


def _ok(problems: list[str], ok: str, severity="ERROR", **meta) -> checks.CheckOutcome:
    return checks.problems_outcome(problems, ok, severity, **meta)


def _past(history: AssetHistory, asset: str, keys: list[str]) -> pl.DataFrame | None:
    return history.read(asset, keys)


# -- weekly ------------------------------------------------------------------------------------


def _week(context: dg.AssetExecutionContext) -> tuple[date, date]:
    start = context.partition_time_window.start.astimezone(_tz()).date()
    return start, start + timedelta(days=6)


def _earlier_weeks(week: date, n: int) -> list[str]:
    return [(week - timedelta(weeks=k)).isoformat() for k in range(1, n + 1)]


def _week_completeness(tables: dict, extra: list[str] | None = None) -> list[str]:
    n = stored_days(tables)
    problems = list(extra or [])
    if n < 7:
        problems.append(f"only {n} of the week's 7 days have checked daily metrics")
    return problems


@dg.asset(
    partitions_def=weekly_partitions, group_name=WEEKLY_GROUP, kinds={"polars", "scipy"},
    deps=list(DAILY_TABLES[:3]), check_specs=_specs("metric_trends_weekly"), code_version="1",
)  # fmt: skip
def metric_trends_weekly(
    context: dg.AssetExecutionContext, asset_history: AssetHistory, app_db: AppDatabase
):
    """For every headline metric, the week's value, the change from last week, the 4-week
    moving average, the trend over the last weeks (slope per week, and whether it is
    statistically significant) and the current streak ("third week down")."""
    s = get_settings()
    week, end = _week(context)
    n = s.analytics.trend_weeks
    weeks = {}
    for k in range(n):
        ws = week - timedelta(weeks=k)
        tables = read_days(asset_history, ws, ws + timedelta(days=6))
        if len(tables) >= 3:
            weeks[ws] = period_values(tables)
    this_week = read_days(asset_history, week, end)
    table = weekly.metric_trends(weeks, week, window=n, alpha=s.analytics.trend_significance)
    ranges = {m: s.metrics[m].valid_range for m in weekly.WEEKLY_METRICS if m in s.metrics}
    out_of_range = [
        f"{r['metric']} = {r['value']:,.4g} outside its valid range {ranges[r['metric']]}"
        for r in table.iter_rows(named=True)
        if r["value"] is not None and r["metric"] in ranges and (
            (ranges[r["metric"]][0] is not None and r["value"] < ranges[r["metric"]][0])
            or (ranges[r["metric"]][1] is not None and r["value"] > ranges[r["metric"]][1]))
    ]  # fmt: skip
    past = {m: [weeks[w].get(m) for w in sorted(weeks) if w < week] for m in weekly.WEEKLY_METRICS}
    outcomes = {
        COMPLETE: checks.completeness(
            table, MetricTrendsWeekly, sources={"days this week": stored_days(this_week)},
            extra_problems=_week_completeness(this_week)),
        BUSINESS_RULES: checks.business_rules(
            table, MetricTrendsWeekly, {}, [
                ("change = value − previous", pl.col("value") - pl.col("previous"),
                 pl.col("wow_change"), pl.col("previous").is_not_null()
                 & pl.col("value").is_not_null())],
            extra_problems=out_of_range),
        HISTORY: checks.consistent_with_periods(
            dict(zip(table["metric"], table["value"], strict=True)), past, period="week",
            z_threshold=s.analytics.history_z_threshold, severity=s.quality.history_severity,
            floors={m: checks.UNIT_FLOORS[s.metrics[m].unit] * (7 if m in weekly.ADDITIVE else 1)
                    for m in weekly.WEEKLY_METRICS}),
        THRESHOLDS: _ok([] if 0 < s.analytics.trend_significance < 0.5 else
                        [f"trend_significance {s.analytics.trend_significance} is not a sensible "
                         "significance level (0–0.5)"],
                        f"slopes tested at the {s.analytics.trend_significance:.0%} level over "
                        f"{len(weeks)} stored weeks"),
    }  # fmt: skip
    yield from _emit(context, app_db, "metric_trends_weekly", table, week, outcomes, {
        "weeks_used": len(weeks),
        "significant_trends": int(table["significant"].sum()),
    })  # fmt: skip


@dg.asset(
    partitions_def=weekly_partitions, group_name=WEEKLY_GROUP, kinds={"polars"},
    deps=list(DAILY_TABLES[:3]), check_specs=_specs("business_scorecard_weekly"),
    code_version="1",
)  # fmt: skip
def business_scorecard_weekly(
    context: dg.AssetExecutionContext, asset_history: AssetHistory, app_db: AppDatabase
):
    """The weekly business scorecard: each weighted KPI against its target for the week,
    red / amber / green by the configured bands, its points toward the overall score (0–100),
    and what moved the score since last week."""
    s = get_settings()
    week, end = _week(context)
    tables = read_days(asset_history, week, end)
    values = period_values(tables) if len(tables) >= 3 else {}
    previous = _past(asset_history, "business_scorecard_weekly", _earlier_weeks(week, 1))
    table = weekly.scorecard(values, previous, s, week, days=7)
    sc = s.scorecard
    mismatched = [
        f"{r['metric']}: status {r['status']} does not match attainment {r['attainment']:.3f}"
        for r in table.filter(pl.col("metric") != "overall").iter_rows(named=True)
        if r["attainment"] is not None and weekly.rag(r["attainment"], sc.green_at,
                                                      sc.amber_at) != r["status"]
    ]  # fmt: skip
    kpis = table.filter(pl.col("metric") != "overall")
    overall = table.filter(pl.col("metric") == "overall")["value"][0]
    unscored = kpis.filter(pl.col("value").is_null())["metric"].to_list()
    past_scores = _past(asset_history, "business_scorecard_weekly", _earlier_weeks(week, 8))
    past_overall = []
    if past_scores is not None:
        past_overall = past_scores.filter(pl.col("metric") == "overall")["value"].to_list()
    labels = {m: s.metrics[m].label for m in s.metrics}
    outcomes = {
        COMPLETE: checks.completeness(
            table, BusinessScorecardWeekly, sources={"days this week": stored_days(tables)},
            extra_problems=_week_completeness(tables)),
        BUSINESS_RULES: checks.business_rules(
            table, BusinessScorecardWeekly, {"attainment": (-1, 2)},
            extra_problems=[] if abs(kpis["contribution"].sum() - overall) <= TOL else
            [f"contributions add up to {kpis['contribution'].sum():.2f}, the score is "
             f"{overall:.2f}"]),
        HISTORY: checks.consistent_with_periods(
            {"overall_score": overall}, {"overall_score": past_overall}, period="week",
            z_threshold=s.analytics.history_z_threshold, severity=s.quality.history_severity,
            floors={"overall_score": 10.0}),
        THRESHOLDS: _ok(mismatched, f"status bands applied as configured (green at "
                        f"{sc.green_at:.0%}, amber at {sc.amber_at:.0%} of target)"),
    }  # fmt: skip
    yield from _emit(context, app_db, "business_scorecard_weekly", table, week, outcomes, {
        "overall_score": round(overall, 1),
        "not_scored": ", ".join(unscored) or "none (every KPI had a value)",
        "moved": dg.MetadataValue.md("\n".join(f"- {x}" for x in weekly.score_movers(table, labels))
                                     or "first scored week, or nothing moved"),
    })  # fmt: skip


def _initiative_sources(history: AssetHistory, end: date):
    key = [end.isoformat()]
    return (history.read("strategic_initiatives", key), history.read("initiative_milestones", key),
            history.read("initiative_ledger", key))  # fmt: skip


@dg.asset(
    partitions_def=weekly_partitions, group_name=WEEKLY_GROUP, kinds={"polars"},
    deps=["strategic_initiatives", "initiative_milestones"],
    check_specs=_specs("initiative_progress_weekly"), code_version="1",
)  # fmt: skip
def initiative_progress_weekly(
    context: dg.AssetExecutionContext, asset_history: AssetHistory, app_db: AppDatabase
):
    """Each strategic initiative at the week's end: milestones done, due and late, percent
    complete, schedule variance in days, status and the reason for it, and its owner."""
    week, end = _week(context)
    initiatives, milestones, _ = _initiative_sources(asset_history, end)
    if initiatives is None or milestones is None:
        raise dg.Failure(f"no initiative snapshot for {end}: run daily_sources_job for {end}")
    table = weekly.initiative_progress(initiatives, milestones, week, end)
    previous = _past(asset_history, "initiative_progress_weekly", _earlier_weeks(week, 1))
    went_back = []
    if previous is not None:
        before = dict(zip(previous["initiative_id"], previous["percent_complete"], strict=True))
        went_back = [
            f"{r['name']}: {before[r['initiative_id']]:.0%} → {r['percent_complete']:.0%}"
            for r in table.iter_rows(named=True)
            if r["percent_complete"] < before.get(r["initiative_id"], 0) - 1e-9
        ]
    wrong_status = [f"{r['name']} is '{r['status']}' with {r['milestones_late']} late milestones"
                    for r in table.iter_rows(named=True)
                    if (r["status"] == "on track" and r["milestones_late"] > 0)
                    or (r["status"] == "at risk" and r["milestones_late"] == 0)]  # fmt: skip
    outcomes = {
        COMPLETE: checks.completeness(
            table, InitiativeProgressWeekly, sources={"strategic_initiatives": initiatives.height,
                                                      "initiative_milestones": milestones.height},
            extra_problems=[f"initiative {i} has no row" for i in initiatives["initiative_id"]
                            if i not in table["initiative_id"].to_list()]),
        BUSINESS_RULES: checks.business_rules(
            table, InitiativeProgressWeekly, {}, [
                ("percent = done / total", pl.col("percent_complete"),
                 pl.col("milestones_done") / pl.col("milestones_total"),
                 pl.col("milestones_total") > 0)],
            extra_problems=[f"{r['name']}: {r['milestones_done']} done of "
                            f"{r['milestones_total']}" for r in table.iter_rows(named=True)
                            if r["milestones_done"] > r["milestones_total"]]),
        HISTORY: _ok(went_back, "no initiative lost progress since last week",
                     get_settings().quality.history_severity),
        THRESHOLDS: _ok(wrong_status, "each status follows from the milestones"),
    }  # fmt: skip
    yield from _emit(context, app_db, "initiative_progress_weekly", table, week, outcomes, {
        "behind": table.filter(pl.col("status") == "behind").height,
        "on_track": table.filter(pl.col("status") == "on track").height,
    })  # fmt: skip


@dg.asset(
    partitions_def=weekly_partitions, group_name=WEEKLY_GROUP, kinds={"polars"},
    deps=["strategic_initiatives", "initiative_ledger"], check_specs=_specs("roi_weekly"),
    code_version="1",
)  # fmt: skip
def roi_weekly(context: dg.AssetExecutionContext, asset_history: AssetHistory, app_db: AppDatabase):
    """Per initiative and in total: investment to date, realized benefit, ROI, payback period
    and realized against expected benefit, from the initiative ledger."""
    week, end = _week(context)
    initiatives, _, ledger = _initiative_sources(asset_history, end)
    if initiatives is None or ledger is None:
        raise dg.Failure(f"no initiative snapshot for {end}: run daily_sources_job for {end}")
    table = weekly.roi(initiatives, ledger, week, end)
    parts = table.filter(pl.col("initiative_id") != "total")
    total = table.filter(pl.col("initiative_id") == "total").row(0, named=True)
    sums = [f"total {c} {total[c]:,.2f} ≠ sum {parts[c].sum():,.2f}"
            for c in ("investment_to_date", "realized_benefit_to_date", "expected_benefit_to_date")
            if abs(total[c] - parts[c].sum()) > TOL]  # fmt: skip
    previous = _past(asset_history, "roi_weekly", _earlier_weeks(week, 1))
    shrank = []
    if previous is not None:
        before = dict(zip(previous["initiative_id"], previous["investment_to_date"], strict=True))
        shrank = [f"{r['name']}: investment to date fell from {before[r['initiative_id']]:,.0f} "
                  f"to {r['investment_to_date']:,.0f}" for r in table.iter_rows(named=True)
                  if r["investment_to_date"] < before.get(r["initiative_id"], 0) - TOL]  # fmt: skip
    outcomes = {
        COMPLETE: checks.completeness(
            table, RoiWeekly, sources={"strategic_initiatives": initiatives.height,
                                       "initiative_ledger": ledger.height}),
        BUSINESS_RULES: checks.business_rules(
            table, RoiWeekly, {}, [
                ("roi = (benefit − investment) / investment", pl.col("roi"),
                 (pl.col("realized_benefit_to_date") - pl.col("investment_to_date"))
                 / pl.col("investment_to_date"), pl.col("investment_to_date") > 0)],
            extra_problems=sums),
        HISTORY: _ok(shrank, "money spent to date never decreased since last week",
                     get_settings().quality.history_severity),
        THRESHOLDS: _ok([f"{r['name']}: realized {r['realized_vs_expected']:.0%} of expected"
                         for r in parts.iter_rows(named=True)
                         if r["realized_vs_expected"] is not None
                         and r["realized_vs_expected"] > 3],
                        "realized benefit within 3× of what the plans expected", "WARN"),
    }  # fmt: skip
    yield from _emit(context, app_db, "roi_weekly", table, week, outcomes, {
        "total_roi": round(total["roi"], 4) if total["roi"] is not None else None,
        "investment_to_date": round(total["investment_to_date"], 2),
    })  # fmt: skip


weekly_analytics_assets = [metric_trends_weekly, business_scorecard_weekly,
                           initiative_progress_weekly, roi_weekly]  # fmt: skip


# -- monthly -----------------------------------------------------------------------------------


def _month(context: dg.AssetExecutionContext, history: AssetHistory) -> tuple[date, date]:
    """The month's first day and its last day with checked daily metrics (the month to date
    while it is in progress, as the monthly report covers it)."""
    window = context.partition_time_window
    start = window.start.astimezone(_tz()).date()
    last = min(window.end.astimezone(_tz()).date() - timedelta(days=1), _yesterday())
    days = [k for k in history.stored_keys("revenue_protection_daily")
            if start.isoformat() <= k <= last.isoformat()]  # fmt: skip
    if not days:
        raise dg.Failure(f"no checked daily metrics between {start} and {last}: materialize the "
                         "days first (reporting backfill daily_metrics_job …)")  # fmt: skip
    return start, date.fromisoformat(days[-1])


def _earlier_months(month: date, n: int) -> list[str]:
    return [monthly.add_months(month, -k).isoformat() for k in range(1, n + 1)]


def _warehouse_history(warehouse: WarehouseResource, end: date):
    client = warehouse.client()
    accounts = client.read("v_account_history", "valid_from <= :day", {"day": end})
    costs = client.read("v_daily_cloud_cost", "cost_date <= :day", {"day": end})
    return accounts, costs


@dg.asset(
    partitions_def=monthly_partitions, group_name=MONTHLY_GROUP, kinds={"duckdb", "polars"},
    deps=["account_snapshot", "cloud_costs", "revenue_protection_daily"],
    check_specs=_specs("business_history_monthly"), code_version="1",
)  # fmt: skip
def business_history_monthly(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """MRR, paying accounts, cloud spend and budget for every day from the start of the history
    to the month's end (or to date), from the warehouse's account history and cost views: the
    long series the monthly analysis and the forecasts work from."""
    s = get_settings()
    month, end = _month(context, asset_history)
    accounts, costs = _warehouse_history(warehouse, end)
    start = s.calendar.history_start
    table = monthly.daily_history(accounts, costs, start, end)
    daily = read_days(asset_history, month, end).get("revenue_protection_daily")
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
    month_ends = table.group_by_dynamic("date", every="1mo").agg(
        pl.col("mrr").last(), pl.col("cost_usd").sum()).sort("date")  # fmt: skip
    changes = month_ends.with_columns(mrr_change=pl.col("mrr").pct_change())
    full = changes.head(max(0, changes.height - 1))  # the month in progress is partial
    outcomes = {
        COMPLETE: checks.completeness(
            table, BusinessHistoryMonthly, sources={"v_account_history": accounts.height,
                                                    "v_daily_cloud_cost": costs.height},
            extra_problems=[] if table.height == expected_days else
            [f"{table.height} days of history, expected {expected_days} ({start} – {end})"]),
        BUSINESS_RULES: checks.business_rules(table, BusinessHistoryMonthly, {},
                                              extra_problems=mismatch),
        HISTORY: checks.consistent_with_periods(
            {"mrr_change": full["mrr_change"][-1] if full.height else None},
            {"mrr_change": full["mrr_change"].to_list()[:-1]}, period="month",
            z_threshold=s.analytics.history_z_threshold, severity=s.quality.history_severity,
            floors={"mrr_change": 0.02}),
        THRESHOLDS: _ok([] if table.height >= 60 else
                        [f"only {table.height} days of history; forecasts need 60 or more"],
                        f"{table.height} days of history for the models", "WARN"),
    }  # fmt: skip
    yield from _emit(context, app_db, "business_history_monthly", table, month, outcomes, {
        "first_day": start.isoformat(), "last_day": end.isoformat(),
        "checked_against_daily_metrics_days": 0 if daily is None else daily["date"].n_unique(),
    })  # fmt: skip


@dg.asset(
    partitions_def=monthly_partitions, group_name=MONTHLY_GROUP, kinds={"polars"},
    check_specs=_specs("business_analysis_monthly"), code_version="1",
)  # fmt: skip
def business_analysis_monthly(
    context: dg.AssetExecutionContext,
    business_history_monthly: pl.DataFrame,
    warehouse: WarehouseResource,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """Month by month over the trailing months: the MRR bridge (new, expansion, contraction,
    churn, reactivation), month-over-month and year-over-year growth, logo churn, net and gross
    revenue retention, cohort retention at 3, 6 and 12 months, cost against budget, cloud cost
    as a share of revenue and per account."""
    s = get_settings()
    month, end = _month(context, asset_history)
    accounts, _ = _warehouse_history(warehouse, end)
    table = monthly.business_analysis(accounts, business_history_monthly, month, end,
                                      s.analytics.history_months)  # fmt: skip
    chain = [f"{b['month']} opens at {b['opening_mrr']:,.2f}, {a['month']} closed at "
             f"{a['closing_mrr']:,.2f}" for a, b in zip(table.head(-1).iter_rows(named=True),
                                                       table.slice(1).iter_rows(named=True),
                                                       strict=True)
             if abs(a["closing_mrr"] - b["opening_mrr"]) > TOL]  # fmt: skip
    first = max(monthly.add_months(month, -(s.analytics.history_months - 1)),
                s.calendar.history_start.replace(day=1))  # fmt: skip
    expected = 0
    m = first
    while m <= month:
        expected, m = expected + 1, monthly.add_months(m, 1)
    now = table.row(-1, named=True)
    watched = ("logo_churn_rate", "net_revenue_retention", "infra_cost_share", "arpa")
    outcomes = {
        COMPLETE: checks.completeness(
            table, BusinessAnalysisMonthly, sources={"business_history_monthly":
                                                     business_history_monthly.height},
            extra_problems=[] if table.height == expected else
            [f"{table.height} months analysed, expected {expected}"]),
        BUSINESS_RULES: checks.business_rules(
            table, BusinessAnalysisMonthly,
            {"net_revenue_retention": (0, 2), "infra_cost_share": (0, 1)}, [
                ("opening + new + reactivation + expansion − contraction − churned = closing",
                 pl.col("opening_mrr") + pl.col("new_mrr") + pl.col("reactivation_mrr")
                 + pl.col("expansion_mrr") - pl.col("contraction_mrr") - pl.col("churned_mrr"),
                 pl.col("closing_mrr"))],
            tolerance=TOL, extra_problems=chain),
        HISTORY: checks.consistent_with_periods(
            {k: now[k] for k in watched},
            {k: table[k].to_list()[:-1] for k in watched}, period="month",
            z_threshold=s.analytics.history_z_threshold, severity=s.quality.history_severity,
            floors={"logo_churn_rate": 0.01, "net_revenue_retention": 0.02,
                    "infra_cost_share": 0.02, "arpa": 50.0}),
        THRESHOLDS: _ok([] if s.analytics.history_months >= 2 else ["history_months < 2"],
                        f"{table.height} months analysed (history_months "
                        f"{s.analytics.history_months})"),
    }  # fmt: skip
    yield from _emit(context, app_db, "business_analysis_monthly", table, month, outcomes, {
        "closing_mrr": now["closing_mrr"], "mom_growth": now["mom_growth"],
        "yoy_growth": now["yoy_growth"],
    })  # fmt: skip


def month_operations(history: AssetHistory, month: date, end: date) -> dict:
    """The month's operational figures from its checked daily tables."""
    values = period_values(read_days(history, month, end)) if end >= month else {}
    return values


@dg.asset(
    partitions_def=monthly_partitions, group_name=MONTHLY_GROUP, kinds={"polars"},
    deps=["industry_benchmarks", *DAILY_TABLES[:3]],
    check_specs=_specs("market_benchmarks_monthly"), code_version="1",
)  # fmt: skip
def market_benchmarks_monthly(
    context: dg.AssetExecutionContext,
    business_analysis_monthly: pl.DataFrame,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """Where the company stands against the industry benchmark table: our value, the industry's
    25th–90th percentiles and our percentile for growth, retention, margin, churn, payment
    recovery, support and incident response."""
    s = get_settings()
    month, end = _month(context, asset_history)
    bench = asset_history.read("industry_benchmarks", [end.isoformat()])
    if bench is None:
        raise dg.Failure(f"no industry benchmark snapshot for {end}: run daily_sources_job")
    ops = month_operations(asset_history, month, end)
    values = monthly.our_benchmark_values(business_analysis_monthly, ops)
    table = monthly.market_benchmarks(month, values, bench)
    not_monotonic = [f"{r['kpi']}: percentiles {r['p25']}, {r['p50']}, {r['p75']}, {r['p90']} "
                     "are not in order" for r in bench.iter_rows(named=True)
                     if not (r["p25"] < r["p50"] < r["p75"] < r["p90"]
                             or r["p25"] > r["p50"] > r["p75"] > r["p90"])]  # fmt: skip
    wrong_position = [f"{r['kpi']}: percentile {r['percentile']:.0f} but '{r['position']}'"
                      for r in table.iter_rows(named=True)
                      if r["percentile"] is not None
                      and monthly.position(r["percentile"]) != r["position"]]  # fmt: skip
    past = _past(asset_history, "market_benchmarks_monthly", _earlier_months(month, 6))
    past_p = {} if past is None else {k: past.filter(pl.col("kpi") == k)["percentile"].to_list()
                                      for k in table["kpi"]}  # fmt: skip
    outcomes = {
        COMPLETE: checks.completeness(
            table, MarketBenchmarksMonthly, sources={"industry_benchmarks": bench.height},
            extra_problems=[f"{r['kpi']} has no value and no reason"
                            for r in table.iter_rows(named=True)
                            if r["value"] is None and "not measured" not in r["basis"]]),
        BUSINESS_RULES: checks.business_rules(table, MarketBenchmarksMonthly, {},
                                              extra_problems=wrong_position),
        HISTORY: checks.consistent_with_periods(
            dict(zip(table["kpi"], table["percentile"], strict=True)), past_p, period="month",
            z_threshold=s.analytics.history_z_threshold, severity=s.quality.history_severity,
            floors=dict.fromkeys(table["kpi"], 10.0)),
        THRESHOLDS: _ok(not_monotonic, "every benchmark's percentiles run in one direction"),
    }  # fmt: skip
    yield from _emit(context, app_db, "market_benchmarks_monthly", table, month, outcomes, {
        "measured": table.filter(pl.col("value").is_not_null()).height,
    })  # fmt: skip


@dg.asset(
    partitions_def=monthly_partitions, group_name=MONTHLY_GROUP, kinds={"statsmodels"},
    check_specs=_specs("forecasts_monthly", BASELINE), code_version="1",
)  # fmt: skip
def forecasts_monthly(
    context: dg.AssetExecutionContext,
    business_history_monthly: pl.DataFrame,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """MRR at the end of each of the next months and cloud spend in each, with prediction
    intervals, from exponential-smoothing models refitted this month; each with its backtest
    error (MAPE over rolling origins) next to a naive baseline's."""
    s = get_settings()
    a = s.analytics
    month, _ = _month(context, asset_history)
    h = business_history_monthly.sort("date")
    dates = h["date"].to_list()
    frames, meta = [], {}
    for name, column, level in (("mrr", "mrr", True), ("cost", "cost_usd", False)):
        frame, info = models.forecast_series(
            name, dates, h[column].to_numpy(), level=level, months=a.forecast_months,
            interval=a.forecast_interval, origins=a.backtest_origins)  # fmt: skip
        frames.append(frame)
        meta[name] = info
    table = pl.concat(frames)
    last_mrr = float(h["mrr"][-1])
    last_month_cost = float(h.filter(pl.col("date") > dates[-1] - timedelta(days=30))
                            ["cost_usd"].sum())  # fmt: skip
    worse = [f"{r['series']}: model MAPE {r['backtest_mape']:.2%} > naive {r['baseline_mape']:.2%}"
             for r in table.unique("series", keep="first").iter_rows(named=True)
             if not r["beats_baseline"]]  # fmt: skip
    first = table.filter(pl.col("month") == table["month"].min())
    jumps = {"mrr_next_month_change": float(first.filter(pl.col("series") == "mrr")
                                            ["forecast"][0]) / last_mrr - 1 if last_mrr else None,
             "cost_next_month_change": float(first.filter(pl.col("series") == "cost")
                                             ["forecast"][0]) / last_month_cost - 1
             if last_month_cost else None}  # fmt: skip
    outcomes = {
        COMPLETE: checks.completeness(
            table, ForecastsMonthly, sources={"business_history_monthly": h.height},
            extra_problems=[f"{sname}: {n} months forecast, expected {a.forecast_months}"
                            for sname, n in table.group_by("series").len().iter_rows()
                            if n != a.forecast_months]),
        BUSINESS_RULES: checks.business_rules(
            table, ForecastsMonthly, {}, extra_problems=[
                f"{r['series']} {r['month']}: {r['lower']:,.0f} ≤ {r['forecast']:,.0f} ≤ "
                f"{r['upper']:,.0f} does not hold" for r in table.iter_rows(named=True)
                if not r["lower"] - TOL <= r["forecast"] <= r["upper"] + TOL]),
        HISTORY: _ok([f"{k} = {v:+.0%}" for k, v in jumps.items()
                      if v is not None and abs(v) > 0.5],
                     "next month's forecasts within ±50% of the last month",
                     s.quality.history_severity, **{k: v for k, v in jumps.items()}),
        THRESHOLDS: _ok([] if 0.5 <= a.forecast_interval < 1 else
                        [f"forecast_interval {a.forecast_interval} is too narrow to be useful"],
                        f"{a.forecast_interval:.0%} intervals, {a.backtest_origins} origins"),
        BASELINE: _ok(worse, "both models beat the naive baseline in backtest", "WARN",
                      **{f"{k}_backtest": v["model_errors"] for k, v in meta.items()}),
    }  # fmt: skip
    yield from _emit(context, app_db, "forecasts_monthly", table, month, outcomes, {
        "mrr_model": dg.MetadataValue.json(meta["mrr"]),
        "cost_model": dg.MetadataValue.json(meta["cost"]),
        "mrr_backtest_mape": table.filter(pl.col("series") == "mrr")["backtest_mape"][0],
        "mrr_baseline_mape": table.filter(pl.col("series") == "mrr")["baseline_mape"][0],
        "cost_backtest_mape": table.filter(pl.col("series") == "cost")["backtest_mape"][0],
        "cost_baseline_mape": table.filter(pl.col("series") == "cost")["baseline_mape"][0],
    })  # fmt: skip


@dg.asset(
    partitions_def=monthly_partitions, group_name=MONTHLY_GROUP, kinds={"scikitlearn"},
    deps=["account_activity_daily"], check_specs=_specs("churn_risk_monthly", BASELINE),
    code_version="1",
)  # fmt: skip
def churn_risk_monthly(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """The probability that each paying account stops paying within the horizon, its band,
    the MRR at stake and the strongest driver, from a model refitted this month on the accounts
    of one horizon ago and what became of them."""
    s = get_settings()
    a = s.analytics
    month, end = _month(context, asset_history)
    accounts, _ = _warehouse_history(warehouse, end)
    t0 = end - timedelta(days=a.churn_horizon_days)
    span = period_days(t0 - timedelta(days=a.churn_window_days), end)
    activity = asset_history.read("account_activity_daily", span)
    train = models.churn_features(accounts, activity, t0, a.churn_window_days)
    labels = models.churn_labels(accounts, train, end)
    test = models.churn_backtest(train, labels)
    current = models.churn_features(accounts, activity, end, a.churn_window_days)
    table, fit = models.churn_scores(train, labels, current, month)
    paying = monthly.states_at(accounts, end).filter(pl.col("status").is_in(monthly.PAYING))
    high_share = (table.filter(pl.col("risk_band") == "high")["mrr"].sum()
                  / max(table["mrr"].sum(), 1.0))  # fmt: skip
    past = _past(asset_history, "churn_risk_monthly", _earlier_months(month, 6))
    past_share = [] if past is None else [
        g.filter(pl.col("risk_band") == "high")["mrr"].sum() / max(g["mrr"].sum(), 1.0)
        for _, g in past.group_by("month")]  # fmt: skip
    usage_note = (
        "with product usage"
        if "log_events_per_seat" in test.features
        else "without product usage (no stored account activity for the window)"
    )
    baseline_ok = test.beats_baseline is not False
    outcomes = {
        COMPLETE: checks.completeness(
            table, ChurnRiskMonthly, sources={"v_account_history": accounts.height},
            extra_problems=[] if table.height == paying.height else
            [f"{table.height} accounts scored, {paying.height} paying"]),
        BUSINESS_RULES: checks.business_rules(
            table, ChurnRiskMonthly, {}, [("mrr at stake = mrr × probability",
                                           pl.col("mrr_at_stake"),
                                           pl.col("mrr") * pl.col("churn_probability"))]),
        HISTORY: checks.consistent_with_periods(
            {"high_risk_mrr_share": high_share}, {"high_risk_mrr_share": past_share},
            period="month", z_threshold=a.history_z_threshold,
            severity=s.quality.history_severity, floors={"high_risk_mrr_share": 0.05}),
        THRESHOLDS: _ok([] if test.churned >= 5 else
                        [f"only {test.churned} churned accounts to learn from"],
                        f"trained on {test.accounts} accounts, {test.churned} churned", "WARN"),
        BASELINE: _ok([] if baseline_ok else
                      [f"AUC {test.auc:.3f} < plan-rate baseline {test.baseline_auc:.3f}"],
                      f"AUC {test.auc:.3f} vs baseline {test.baseline_auc:.3f} ({usage_note})"
                      if test.auc is not None else "too few churned accounts to measure AUC",
                      "WARN", auc=test.auc, baseline_auc=test.baseline_auc),
    }  # fmt: skip
    yield from _emit(context, app_db, "churn_risk_monthly", table, month, outcomes, {
        "auc": test.auc, "baseline_auc": test.baseline_auc, "trained_on": test.accounts,
        "churned_in_training": test.churned, "features": ", ".join(fit["features"]),
        "coefficients": dg.MetadataValue.json(fit["coefficients"]),
        "high_risk_accounts": table.filter(pl.col("risk_band") == "high").height,
    })  # fmt: skip


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
        "high_risk_share": (float(high["mrr"].sum()) / max(float(churn["mrr"].sum()), 1.0),
                            "ratio", "churn risk model"),
        "cost_vs_budget": (now["cost_vs_budget"], "ratio", "business analysis"),
        "overspend_usd": (max(overspend, 0.0) if overspend is not None else None, "usd",
                          "business analysis"),
        "savings_realization_rate": (realized / identified if identified else None, "ratio",
                                     "cost savings register"),
        "unrealized_savings_usd": (identified - realized, "usd", "cost savings register"),
        "first_response_sla_rate": (sla, "ratio", "daily metrics"),
        "support_exposed_mrr": ((1 - sla) * now["closing_mrr"] if sla is not None else None,
                                "usd", "daily metrics × MRR"),
        "net_revenue_retention": (bench.get("net_revenue_retention"), "ratio", "benchmarks"),
        "infra_cost_share": (now["infra_cost_share"], "ratio", "business analysis"),
    }  # fmt: skip


@dg.asset(
    partitions_def=monthly_partitions, group_name=MONTHLY_GROUP, kinds={"polars"},
    deps=["cost_savings", *DAILY_TABLES[:3]],
    check_specs=_specs("strategic_recommendations_monthly"), code_version="1",
)  # fmt: skip
def strategic_recommendations_monthly(
    context: dg.AssetExecutionContext,
    business_analysis_monthly: pl.DataFrame,
    market_benchmarks_monthly: pl.DataFrame,
    churn_risk_monthly: pl.DataFrame,
    asset_history: AssetHistory,
    app_db: AppDatabase,
):
    """Recommendations from the rules in config, each traced to the metric and value that
    triggered it and ranked by the dollars it puts at stake."""
    s = get_settings()
    month, end = _month(context, asset_history)
    ops = month_operations(asset_history, month, end)
    savings = asset_history.read("cost_savings", [end.isoformat()])
    found = findings(s, business_analysis_monthly, market_benchmarks_monthly, churn_risk_monthly,
                     ops, savings)  # fmt: skip
    table = recommend.recommendations(month, found, s.recommendations)
    unknown = [f"rule '{r.name}' uses unknown finding '{x}'" for r in s.recommendations
               for x in (r.metric, r.impact_basis) if x not in found]  # fmt: skip
    unmeasured = [f"rule '{r.name}': {r.metric} not measured this month" for r in s.recommendations
                  if r.metric in found and found[r.metric][0] is None]  # fmt: skip
    fired = set(table["rule"].to_list())
    wrong = [f"rule '{r.name}' {'fired' if r.name in fired else 'did not fire'} with "
             f"{r.metric} = {found[r.metric][0]}" for r in s.recommendations
             if r.metric in found
             and recommend.fires(r, found[r.metric][0]) != (r.name in fired)]  # fmt: skip
    ranked = table["estimated_impact_usd"].to_list()
    past = _past(asset_history, "strategic_recommendations_monthly", _earlier_months(month, 6))
    past_counts = [] if past is None else [g.height for _, g in past.group_by("month")]
    outcomes = {
        COMPLETE: checks.completeness(
            table, StrategicRecommendationsMonthly,
            sources={"business_analysis_monthly": business_analysis_monthly.height},
            extra_problems=unknown),
        BUSINESS_RULES: checks.business_rules(
            table, StrategicRecommendationsMonthly, {}, extra_problems=(
                [] if ranked == sorted(ranked, reverse=True) else ["not ranked by impact"])
            + [f"{r['rule']}: sentence has no number" for r in table.iter_rows(named=True)
               if not any(ch.isdigit() for ch in r["recommendation"])]),
        HISTORY: checks.consistent_with_periods(
            {"recommendations": float(table.height)},
            {"recommendations": [float(c) for c in past_counts]}, period="month",
            z_threshold=s.analytics.history_z_threshold, severity=s.quality.history_severity,
            floors={"recommendations": 2.0}),
        THRESHOLDS: _ok(wrong + unmeasured, f"{len(s.recommendations)} rules evaluated, "
                        f"{table.height} fired", "ERROR" if wrong else "WARN"),
    }  # fmt: skip
    yield from _emit(context, app_db, "strategic_recommendations_monthly", table, month, outcomes, {
        "findings": dg.MetadataValue.md(markdown_preview(pl.DataFrame(
            [{"finding": k, "value": v[0], "unit": v[1], "source": v[2]}
             for k, v in found.items()]), rows=30)),
        "total_impact_usd": float(table["estimated_impact_usd"].sum()),
    })  # fmt: skip


def _month_values(history: AssetHistory, first: date, months: int, before: date) -> dict:
    """Period values over the first `months` months from `first` that end before `before`."""
    end = min(monthly.add_months(first, months) - timedelta(days=1), before - timedelta(days=1))
    return period_values(read_days(history, first, end)) if end >= first else {}


@dg.asset(
    partitions_def=monthly_partitions, group_name=MONTHLY_GROUP, kinds={"polars"},
    deps=["strategic_initiatives", "cost_savings", *DAILY_TABLES[:3]],
    check_specs=_specs("business_impact_monthly"), code_version="1",
)  # fmt: skip
def business_impact_monthly(
    context: dg.AssetExecutionContext, asset_history: AssetHistory, app_db: AppDatabase
):
    """The seed's business-impact metrics this month against the baseline months: executive
    decision speed (delivery to acknowledgement), revenue protection (share of revenue at risk
    recovered), cost optimization realization (realized of identified savings) and strategic
    initiative success rate, each with its target."""
    s = get_settings()
    imp = s.impact
    month, end = _month(context, asset_history)
    stored = asset_history.stored_keys("revenue_protection_daily")
    first_stored = date.fromisoformat(stored[0]).replace(day=1) if stored else month
    base_start = imp.baseline_start.replace(day=1) if imp.baseline_start else first_stored
    now = month_operations(asset_history, month, end)
    base = _month_values(asset_history, base_start, imp.baseline_months, month)
    base_end = min(monthly.add_months(base_start, imp.baseline_months), month) - timedelta(days=1)
    tz = _tz()

    def share(v: dict):
        risk, rec = v.get("mrr_at_risk_total"), v.get("revenue_recovered")
        return rec / risk if risk and rec is not None else None

    for values, start, stop in ((now, month, end), (base, base_start, base_end)):
        tables = read_days(asset_history, start, stop)
        rev = tables.get("revenue_protection_daily")
        if rev is not None:
            total = rev.filter(pl.col("plan") == "total")
            values["mrr_at_risk_total"] = float(total["mrr_at_risk"].sum())
    engine = app_db.engine

    def speed(start: date, stop: date):
        since = datetime.combine(start, datetime.min.time(), tz)
        until = datetime.combine(stop + timedelta(days=1), datetime.min.time(), tz)
        hours = [a.hours_to_decision for a in acks(engine, since, until)
                 if a.hours_to_decision is not None]  # fmt: skip
        return float(np.median(hours)) if hours else None

    savings = asset_history.read("cost_savings", [end.isoformat()])
    identified = float(savings["monthly_savings_usd"].sum()) if savings is not None else 0.0
    realized = (float(savings["realized_monthly_savings_usd"].fill_null(0).sum())
                if savings is not None else 0.0)  # fmt: skip
    initiatives = asset_history.read("strategic_initiatives", [end.isoformat()])
    success, due = (recommend.initiative_success_rate(initiatives, end)
                    if initiatives is not None else (None, 0))  # fmt: skip
    in_baseline = base_start < month
    rows = [
        recommend.impact_row(month, "executive_decision_speed_hours", speed(month, end),
                             speed(base_start, base_end) if in_baseline else None,
                             imp.decision_speed, "median hours from delivery to the first "
                             "acknowledgement, vs the baseline months", lower_is_better=True),
        recommend.impact_row(month, "revenue_protection_share", share(now),
                             share(base) if in_baseline else None, imp.revenue_protection,
                             "revenue recovered / revenue at risk, vs the baseline months"),
        recommend.impact_row(month, "cost_optimization_realization",
                             realized / identified if identified else None, None,
                             imp.cost_realization, "realized / identified monthly savings",
                             direct=True),
        recommend.impact_row(month, "initiative_success_rate", success, None,
                             imp.initiative_success, f"initiatives finished on plan, of the "
                             f"{due} due by now", direct=True),
    ]  # fmt: skip
    table = pl.DataFrame(rows, schema=recommend.IMPACT_SCHEMA, orient="row")
    past = _past(asset_history, "business_impact_monthly", _earlier_months(month, 6))
    past_values = {} if past is None else {m: past.filter(pl.col("metric") == m)["value"]
                                           .to_list() for m in table["metric"]}  # fmt: skip
    outcomes = {
        COMPLETE: checks.completeness(
            table, BusinessImpactMonthly, sources={"days this month": len(
                [k for k in stored if k >= month.isoformat() and k <= end.isoformat()])}),
        BUSINESS_RULES: checks.business_rules(
            table, BusinessImpactMonthly, {"value": (0, None)}, extra_problems=[
                f"{r['metric']}: status {r['status']} does not follow from "
                f"{r['improvement']} vs {r['target']}" for r in table.iter_rows(named=True)
                if r["improvement"] is not None and r["status"] != (
                    "green" if r["improvement"] >= r["target"] else
                    "amber" if r["improvement"] >= 0 else "red")]),
        HISTORY: checks.consistent_with_periods(
            dict(zip(table["metric"], table["value"], strict=True)), past_values,
            period="month", z_threshold=s.analytics.history_z_threshold,
            severity=s.quality.history_severity),
        THRESHOLDS: _ok([f"{k} target {v} outside (0, 1]" for k, v in (
            ("decision_speed", imp.decision_speed), ("revenue_protection", imp.revenue_protection),
            ("cost_realization", imp.cost_realization),
            ("initiative_success", imp.initiative_success)) if not 0 < v <= 1],
            "the impact targets are sane"),
    }  # fmt: skip
    yield from _emit(context, app_db, "business_impact_monthly", table, month, outcomes, {
        "baseline": f"{base_start} – {base_end}" if in_baseline else "none before this month",
    })  # fmt: skip


monthly_analytics_assets = [business_history_monthly, business_analysis_monthly,
                            market_benchmarks_monthly, forecasts_monthly, churn_risk_monthly,
                            strategic_recommendations_monthly, business_impact_monthly]  # fmt: skip
analytics_assets = [*weekly_analytics_assets, *monthly_analytics_assets]
