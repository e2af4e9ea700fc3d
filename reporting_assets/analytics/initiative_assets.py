"""The week's initiative progress and ROI (group `step3_scorecards_weekly`)."""

from datetime import timedelta

import dagster as dg
import polars as pl

from reporting_assets.analytics import weekly
from reporting_assets.analytics.period_common import (
    TOL,
    analytics_specs,
    previous,
    snapshot_at,
    week_of,
)
from reporting_assets.metrics.gates import emit_checked
from reporting_assets.metrics.period_assets import WEEKLY_GROUP
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
    InitiativeProgressWeekly,
    RoiWeekly,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.storage import period_in


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
            HISTORY_SEVERITY,
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
            HISTORY_SEVERITY,
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
