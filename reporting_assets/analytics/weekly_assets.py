"""Weekly analytics assets (group `scorecards_weekly`, Sunday–Saturday weeks in the report time
zone): metric trends, the business scorecard, initiative progress and ROI.

They read the week's KPIs (`kpis_weekly`, the metric layer at the week's grain) and the week's
initiative snapshots, and earlier weeks through declared dependencies. Every asset has the four
families of checks; ERROR ones block what is downstream. Whether the week's days are all there
is judged once, by `kpis_weekly_complete`, under the weekly reports' gap policy.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from reporting_assets.analytics import weekly
from reporting_assets.config import get_settings
from reporting_assets.metrics.gates import emit_checked
from reporting_assets.metrics.period_assets import WEEKLY_GROUP
from reporting_assets.metrics.periods import values_of
from reporting_assets.partitions import period_days, weekly_partitions
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    ANALYTICS_GATES,
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    THRESHOLDS,
    check_specs,
)
from reporting_assets.quality.schemas import (
    BusinessScorecardWeekly,
    InitiativeProgressWeekly,
    MetricTrendsWeekly,
    RoiWeekly,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.storage import period_in

TOL = 0.01
TREND_WEEKS = get_settings().analytics.trend_weeks
SCORE_HISTORY_WEEKS = 8


def analytics_specs(asset: str, *extra: str) -> list[dg.AssetCheckSpec]:
    blocking = get_settings().quality.history_severity == "ERROR"
    return check_specs(asset, [*ANALYTICS_GATES, *extra], history_blocking=blocking)


def week_of(context: dg.AssetExecutionContext) -> tuple[date, date]:
    start, end, _ = period_days(context.partition_time_window)
    return start, end


def snapshot_at(window: dict[str, pl.DataFrame], day: date, name: str) -> pl.DataFrame:
    """A daily snapshot source (initiatives, milestones, ledger) as it stood on `day`."""
    if day.isoformat() not in window:
        raise dg.Failure(f"no {name} snapshot for {day}: run daily_sources_job for {day}")
    return window[day.isoformat()]


def previous(past: dict[str, pl.DataFrame], period: date, step: timedelta) -> pl.DataFrame | None:
    """The stored partition of the period just before `period`, if any."""
    return past.get((period - step).isoformat())


@dg.asset(
    partitions_def=weekly_partitions,
    group_name=WEEKLY_GROUP,
    kinds={"polars", "scipy"},
    ins={"kpis": period_in("kpis_weekly", -(TREND_WEEKS - 1), 0)},
    check_specs=analytics_specs("metric_trends_weekly"),
    code_version="2",
)
def metric_trends_weekly(
    context: dg.AssetExecutionContext, kpis: dict[str, pl.DataFrame], app_db: AppDatabase
):
    """For every headline metric, the week's value, the change from last week, the 4-week
    moving average, the trend over the last weeks (slope per week, and whether it is
    statistically significant) and the current streak ("third week down")."""
    s = get_settings()
    week, _ = week_of(context)
    if context.partition_key not in kpis:
        raise dg.Failure(f"kpis_weekly has no partition for the week of {week}")
    weeks = {date.fromisoformat(k): values_of(t) for k, t in kpis.items()}
    incomplete = {date.fromisoformat(k) for k, t in kpis.items() if not t["complete"][0]}
    table = weekly.metric_trends(
        weeks, week, window=TREND_WEEKS, alpha=s.analytics.trend_significance, incomplete=incomplete
    )
    ordered = [week - timedelta(weeks=k) for k in range(TREND_WEEKS - 1, 0, -1)]
    gaps = [w for w in ordered if w not in weeks or w in incomplete]
    past = {
        m: [weeks[w].get(m) for w in ordered if w in weeks and w not in incomplete]
        for m in weekly.WEEKLY_METRICS
    }
    floors = {m: checks.UNIT_FLOORS[s.metrics[m].unit] for m in weekly.WEEKLY_METRICS}
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            MetricTrendsWeekly,
            sources={"kpis_weekly": len(kpis)},
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            MetricTrendsWeekly,
            {},
            [
                (
                    "change = value − previous",
                    pl.col("value") - pl.col("previous"),
                    pl.col("wow_change"),
                    pl.col("previous").is_not_null() & pl.col("value").is_not_null(),
                )
            ],
            extra_problems=[
                f"{r['metric']} called significant over an incomplete window"
                for r in table.iter_rows(named=True)
                if r["significant"] and not r["window_complete"]
            ],
        ),
        HISTORY: checks.consistent_with_periods(
            dict(zip(table["metric"], table["value"], strict=True)),
            past,
            period="week",
            z_threshold=s.analytics.history_z_threshold,
            severity=s.quality.history_severity,
            floors=floors,
        ),
        THRESHOLDS: checks.problems_outcome(
            []
            if 0 < s.analytics.trend_significance < 0.5
            else [
                f"trend_significance {s.analytics.trend_significance} is not a sensible "
                "significance level (0–0.5)"
            ],
            f"slopes tested at the {s.analytics.trend_significance:.0%} level over "
            f"{TREND_WEEKS} weeks"
            + (f"; not tested: {len(gaps)} of them incomplete or missing" if gaps else ""),
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "metric_trends_weekly",
        table,
        week,
        outcomes,
        {
            "weeks_used": TREND_WEEKS - len(gaps),
            "weeks_missing_or_incomplete": ", ".join(w.isoformat() for w in gaps) or "none",
            "significant_trends": int(table["significant"].sum()),
        },
    )


@dg.asset(
    partitions_def=weekly_partitions,
    group_name=WEEKLY_GROUP,
    kinds={"polars"},
    ins={"past": period_in("business_scorecard_weekly", -SCORE_HISTORY_WEEKS, -1)},
    check_specs=analytics_specs("business_scorecard_weekly"),
    code_version="2",
)
def business_scorecard_weekly(
    context: dg.AssetExecutionContext,
    kpis_weekly: pl.DataFrame,
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """The weekly business scorecard: each weighted KPI against its target for the week,
    On track / Watch / Off track by the metric's one rating rule, its points toward the overall
    score (0–100), and what moved the score since last week."""
    s = get_settings()
    week, _ = week_of(context)
    values = values_of(kpis_weekly)
    table = weekly.scorecard(values, previous(past, week, timedelta(weeks=1)), s, week, days=7)
    rated = dict(zip(kpis_weekly["metric"], kpis_weekly["status"], strict=True))
    kpis = table.filter(pl.col("metric") != "overall")
    disagree = [
        f"{r['metric']}: scorecard says {r['status']}, the week's KPIs say {rated.get(r['metric'])}"
        for r in kpis.iter_rows(named=True)
        if rated.get(r["metric"]) != r["status"]
    ]
    overall = table.filter(pl.col("metric") == "overall")["value"][0]
    unscored = kpis.filter(pl.col("value").is_null())["metric"].to_list()
    past_overall = [
        t.filter(pl.col("metric") == "overall")["value"][0] for _, t in sorted(past.items())
    ]
    labels = {m: s.metrics[m].label for m in s.metrics}
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            BusinessScorecardWeekly,
            sources={"kpis_weekly": kpis_weekly.height},
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            BusinessScorecardWeekly,
            {"attainment": (-1, 2)},
            extra_problems=[]
            if abs(kpis["contribution"].sum() - overall) <= TOL
            else [
                f"contributions add up to {kpis['contribution'].sum():.2f}, the score is "
                f"{overall:.2f}"
            ],
        ),
        HISTORY: checks.consistent_with_periods(
            {"overall_score": overall},
            {"overall_score": past_overall},
            period="week",
            z_threshold=s.analytics.history_z_threshold,
            severity=s.quality.history_severity,
            floors={"overall_score": 10.0},
        ),
        THRESHOLDS: checks.problems_outcome(
            disagree, "each KPI's status is the one the week's KPIs were rated"
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "business_scorecard_weekly",
        table,
        week,
        outcomes,
        {
            "overall_score": round(overall, 1),
            "not_scored": ", ".join(unscored) or "none (every KPI had a value)",
            "moved": dg.MetadataValue.md(
                "\n".join(f"- {x}" for x in weekly.score_movers(table, labels))
                or "first scored week, or nothing moved"
            ),
        },
    )


@dg.asset(
    partitions_def=weekly_partitions,
    group_name=WEEKLY_GROUP,
    kinds={"polars"},
    ins={
        "strategic_initiatives": period_in("strategic_initiatives"),
        "initiative_milestones": period_in("initiative_milestones"),
        "past": period_in("initiative_progress_weekly", -1, -1),
    },
    check_specs=analytics_specs("initiative_progress_weekly"),
    code_version="2",
)
def initiative_progress_weekly(
    context: dg.AssetExecutionContext,
    strategic_initiatives: dict[str, pl.DataFrame],
    initiative_milestones: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """Each strategic initiative at the week's end: milestones done, due and late, percent
    complete, schedule variance in days, status and the reason for it, and its owner."""
    week, end = week_of(context)
    initiatives = snapshot_at(strategic_initiatives, end, "initiative")
    milestones = snapshot_at(initiative_milestones, end, "milestone")
    table = weekly.initiative_progress(initiatives, milestones, week, end)
    before_week = previous(past, week, timedelta(weeks=1))
    went_back = []
    if before_week is not None:
        before = dict(
            zip(before_week["initiative_id"], before_week["percent_complete"], strict=True)
        )
        went_back = [
            f"{r['name']}: {before[r['initiative_id']]:.0%} → {r['percent_complete']:.0%}"
            for r in table.iter_rows(named=True)
            if r["percent_complete"] < before.get(r["initiative_id"], 0) - 1e-9
        ]
    wrong_status = [
        f"{r['name']} is '{r['status']}' with {r['milestones_late']} late milestones"
        for r in table.iter_rows(named=True)
        if (r["status"] == "on track" and r["milestones_late"] > 0)
        or (r["status"] == "at risk" and r["milestones_late"] == 0)
    ]
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            InitiativeProgressWeekly,
            sources={
                "strategic_initiatives": initiatives.height,
                "initiative_milestones": milestones.height,
            },
            extra_problems=[
                f"initiative {i} has no row"
                for i in initiatives["initiative_id"]
                if i not in table["initiative_id"].to_list()
            ],
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            InitiativeProgressWeekly,
            {},
            [
                (
                    "percent = done / total",
                    pl.col("percent_complete"),
                    pl.col("milestones_done") / pl.col("milestones_total"),
                    pl.col("milestones_total") > 0,
                )
            ],
            extra_problems=[
                f"{r['name']}: {r['milestones_done']} done of {r['milestones_total']}"
                for r in table.iter_rows(named=True)
                if r["milestones_done"] > r["milestones_total"]
            ],
        ),
        HISTORY: checks.problems_outcome(
            went_back,
            "no initiative lost progress since last week",
            get_settings().quality.history_severity,
        ),
        THRESHOLDS: checks.problems_outcome(
            wrong_status, "each status follows from the milestones"
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "initiative_progress_weekly",
        table,
        week,
        outcomes,
        {
            "behind": table.filter(pl.col("status") == "behind").height,
            "on_track": table.filter(pl.col("status") == "on track").height,
        },
    )


@dg.asset(
    partitions_def=weekly_partitions,
    group_name=WEEKLY_GROUP,
    kinds={"polars"},
    ins={
        "strategic_initiatives": period_in("strategic_initiatives"),
        "initiative_ledger": period_in("initiative_ledger"),
        "past": period_in("roi_weekly", -1, -1),
    },
    check_specs=analytics_specs("roi_weekly"),
    code_version="2",
)
def roi_weekly(
    context: dg.AssetExecutionContext,
    strategic_initiatives: dict[str, pl.DataFrame],
    initiative_ledger: dict[str, pl.DataFrame],
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """Per initiative and in total: investment to date, realized benefit, ROI, payback period
    and realized against expected benefit, from the initiative ledger."""
    week, end = week_of(context)
    initiatives = snapshot_at(strategic_initiatives, end, "initiative")
    ledger = snapshot_at(initiative_ledger, end, "initiative ledger")
    table = weekly.roi(initiatives, ledger, week, end)
    parts = table.filter(pl.col("initiative_id") != "total")
    total = table.filter(pl.col("initiative_id") == "total").row(0, named=True)
    sums = [
        f"total {c} {total[c]:,.2f} ≠ sum {parts[c].sum():,.2f}"
        for c in ("investment_to_date", "realized_benefit_to_date", "expected_benefit_to_date")
        if abs(total[c] - parts[c].sum()) > TOL
    ]
    before_week = previous(past, week, timedelta(weeks=1))
    shrank = []
    if before_week is not None:
        before = dict(
            zip(before_week["initiative_id"], before_week["investment_to_date"], strict=True)
        )
        shrank = [
            f"{r['name']}: investment to date fell from {before[r['initiative_id']]:,.0f} "
            f"to {r['investment_to_date']:,.0f}"
            for r in table.iter_rows(named=True)
            if r["investment_to_date"] < before.get(r["initiative_id"], 0) - TOL
        ]
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            RoiWeekly,
            sources={
                "strategic_initiatives": initiatives.height,
                "initiative_ledger": ledger.height,
            },
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            RoiWeekly,
            {},
            [
                (
                    "roi = (benefit − investment) / investment",
                    pl.col("roi"),
                    (pl.col("realized_benefit_to_date") - pl.col("investment_to_date"))
                    / pl.col("investment_to_date"),
                    pl.col("investment_to_date") > 0,
                )
            ],
            extra_problems=sums,
        ),
        HISTORY: checks.problems_outcome(
            shrank,
            "money spent to date never decreased since last week",
            get_settings().quality.history_severity,
        ),
        THRESHOLDS: checks.problems_outcome(
            [
                f"{r['name']}: realized {r['realized_vs_expected']:.0%} of expected"
                for r in parts.iter_rows(named=True)
                if r["realized_vs_expected"] is not None and r["realized_vs_expected"] > 3
            ],
            "realized benefit within 3× of what the plans expected",
            "WARN",
        ),
    }
    yield from emit_checked(
        context,
        app_db,
        "roi_weekly",
        table,
        week,
        outcomes,
        {
            "total_roi": round(total["roi"], 4) if total["roi"] is not None else None,
            "investment_to_date": round(total["investment_to_date"], 2),
        },
    )


weekly_analytics_assets = [
    metric_trends_weekly,
    business_scorecard_weekly,
    initiative_progress_weekly,
    roi_weekly,
]
