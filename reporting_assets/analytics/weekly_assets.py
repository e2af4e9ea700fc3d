"""Weekly analytics assets (group `step3_scorecards_weekly`, Sunday–Saturday weeks in the report
time zone): metric trends, the business scorecard, initiative progress and ROI.

They read the week's KPIs (`kpis_weekly`, the metric layer at the week's grain) and the week's
initiative snapshots, and earlier weeks through declared dependencies. Every asset has the four
families of checks; ERROR ones block what is downstream. Whether the week's days are all there
is judged once, by `kpis_weekly:complete`, under the weekly reports' gap policy.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from reporting_assets.analytics import weekly
from reporting_assets.analytics.initiative_assets import initiative_progress_weekly, roi_weekly
from reporting_assets.analytics.period_common import (
    SCORE_HISTORY_WEEKS,
    TOL,
    TREND_WEEKS,
    analytics_specs,
    previous,
    week_of,
)
from reporting_assets.metrics.gates import emit_checked
from reporting_assets.metrics.period_assets import WEEKLY_GROUP
from reporting_assets.metrics.periods import values_of
from reporting_assets.partitions import weekly_partitions
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    HISTORY_SEVERITY,
    THRESHOLDS,
)
from reporting_assets.quality.schemas import (
    BusinessScorecardWeekly,
    MetricTrendsWeekly,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import period_in


@dg.asset(
    partitions_def=weekly_partitions,
    group_name=WEEKLY_GROUP,
    kinds={"polars", "scipy"},
    ins={"kpis": period_in("kpis_weekly", -(TREND_WEEKS - 1), 0)},
    check_specs=analytics_specs("metric_trends_weekly"),
    code_version="2",
)
def metric_trends_weekly(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    kpis: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """For every headline metric, the week's value, the change from last week, the 4-week
    moving average, the trend over the last weeks (slope per week, and whether it is
    statistically significant) and the current streak ("third week down")."""
    s = business.get()
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
            severity=HISTORY_SEVERITY,
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
    business: SettingsResource,
    kpis_weekly: pl.DataFrame,
    past: dict[str, pl.DataFrame],
    app_db: AppDatabase,
):
    """The weekly business scorecard: each weighted KPI against its target for the week,
    On track / Watch / Off track by the metric's one rating rule, its points toward the overall
    score (0–100), and what moved the score since last week."""
    s = business.get()
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
            severity=HISTORY_SEVERITY,
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


weekly_analytics_assets = [
    metric_trends_weekly,
    business_scorecard_weekly,
    initiative_progress_weekly,
    roi_weekly,
]
