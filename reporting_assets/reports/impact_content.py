"""The monthly report's business-impact section: each impact metric with its target in words
and its status, with why when it is not rated."""

from __future__ import annotations

import polars as pl

from reporting_assets.lib.formatting import format_value, plural
from reporting_assets.reports.model import STATUS_WORDS, Column, Section

IMPACT_LABELS = {
    "executive_decision_speed_hours": "Executive decision speed (hours)",
    "revenue_protection_share": "At-risk revenue recovered",
    "cost_optimization_realization": "Identified savings realized",
    "initiative_success_rate": "Initiatives finished on plan",
}


def impact_section(impact: pl.DataFrame) -> Section:
    """The business-impact table: each metric's figure, its baseline and change for those
    measured against the months before go-live, its target in words and its status with why."""
    i = impact.with_columns(
        label=pl.col("metric").replace_strict(IMPACT_LABELS, default=pl.col("metric")),
        rating=pl.col("status").replace_strict(STATUS_WORDS, default=pl.col("status")),
    )
    return Section(
        "impact",
        "Business impact",
        "Decision speed and revenue protection are measured "
        "against the months before the system went live; savings realized and initiatives on "
        "plan are rates held against their target directly. On track at or beyond the "
        "target, Watch within its tolerance, Off track further short.",
        i,
        [
            Column("label", "Measure"),
            Column("value", "This month", unit_from="unit"),
            Column("baseline", "Before go-live", unit_from="unit"),
            Column("change_text", "Change"),
            Column("target_text", "Target"),
            Column("rating", "Status"),
            Column("reason", "Why"),
            Column("basis", "How measured"),
        ],
        # A slide leaves out how each is measured (in the workbook and the PDF).
        brief=["label", "value", "baseline", "change_text", "target_text", "rating", "reason"],
    )


def impact_takeaway(impact: pl.DataFrame) -> str:
    """The section's takeaway: how many rated targets are met, those short of theirs with
    their figure, and those not rated with why."""
    rows = list(impact.iter_rows(named=True))
    rated = [r for r in rows if r["status"] != "grey"]
    met = sum(r["status"] == "green" for r in rated)
    words = f"Business impact: {met} of {plural(len(rated), 'rated target')} met"
    short = [r for r in rated if r["status"] in ("amber", "red")]
    if short:
        words += "; " + ", ".join(
            f"{IMPACT_LABELS.get(r['metric'], r['metric'])} "
            f"{r['change_text'] or format_value(r['value'], r['unit'])} against "
            f"{r['target_text']} ({STATUS_WORDS[r['status']]})"
            for r in short
        )
    grey = [r for r in rows if r["status"] == "grey"]
    if grey:
        words += "; not rated: " + ", ".join(
            f"{IMPACT_LABELS.get(r['metric'], r['metric'])} ({r['reason']})" for r in grey
        )
    return words + "."
