"""Strategic recommendations, from the month's numbers.

*Findings* are the month's measured values (one number each, with where it came from). A
recommendation rule in config fires when a finding is below or above its threshold; its estimated
impact is another finding in dollars, scaled by how far off the threshold the value is (``gap``)
or taken whole (``full``). Every recommendation carries the numbers that triggered it, so nothing
is said without a number behind it; the list is ranked by estimated impact.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from reporting_assets.config.models import RecommendationRule
from reporting_assets.lib.formatting import format_value

RECOMMENDATION_SCHEMA = {
    "month": pl.Date, "rank": pl.Int64, "rule": pl.String, "metric": pl.String,
    "value": pl.Float64, "unit": pl.String, "threshold": pl.Float64, "comparison": pl.String,
    "gap": pl.Float64, "impact_basis": pl.String, "impact_basis_value": pl.Float64,
    "estimated_impact_usd": pl.Float64, "recommendation": pl.String, "source": pl.String,
}  # fmt: skip


# Every finding the month measures (`monthly_assets.findings`), by unit: what a rule in config
# may name as its metric, and in dollars, as its impact basis.
FINDINGS = {
    "payment_recovery_rate": "ratio", "failed_payment_amount": "usd",
    "monthly_logo_churn": "ratio", "churned_mrr": "usd", "high_risk_mrr": "usd",
    "high_risk_share": "ratio", "cost_vs_budget": "ratio", "overspend_usd": "usd",
    "savings_realization_rate": "ratio", "unrealized_savings_usd": "usd",
    "first_response_sla_rate": "ratio", "support_exposed_mrr": "usd",
    "net_revenue_retention": "ratio", "infra_cost_share": "ratio",
}  # fmt: skip


def rule_problems(rules: list[RecommendationRule]) -> list[str]:
    """What is wrong with the recommendation rules in config: unknown findings, an impact basis
    that is not in dollars, a ratio threshold outside 0–1 (one line each, with its key)."""
    problems = []
    for i, r in enumerate(rules):
        where = f"recommendations[{i}] ('{r.name}')"
        if r.metric not in FINDINGS:
            problems.append(f"{where}.metric: unknown finding '{r.metric}' (known: "
                            f"{', '.join(sorted(FINDINGS))})")  # fmt: skip
        elif FINDINGS[r.metric] == "ratio" and not 0 <= r.threshold <= 1:
            problems.append(f"{where}.threshold: {r.threshold:g} is not a share between 0 and 1 "
                            f"for {r.metric}")  # fmt: skip
        if FINDINGS.get(r.impact_basis) != "usd":
            dollars = sorted(k for k, u in FINDINGS.items() if u == "usd")
            problems.append(f"{where}.impact_basis: '{r.impact_basis}' is not a dollar finding "
                            f"(known: {', '.join(dollars)})")  # fmt: skip
    return problems


def fires(rule: RecommendationRule, value: float | None) -> bool:
    if value is None:
        return False
    return value < rule.threshold if rule.comparison == "below" else value > rule.threshold


def recommendations(
    month: date,
    findings: dict[str, tuple[float | None, str, str]],
    rules: list[RecommendationRule],
) -> pl.DataFrame:
    """The rules that fire on this month's findings ({name: (value, unit, source)}), ranked by
    estimated impact, each with its sentence."""
    rows = []
    for rule in rules:
        value, unit, source = findings.get(rule.metric, (None, "", ""))
        if not fires(rule, value):
            continue
        basis, _, _ = findings.get(rule.impact_basis, (None, "usd", ""))
        gap = abs(value - rule.threshold)
        share = min(1.0, gap / abs(rule.threshold)) if rule.impact_scale == "gap" and \
            rule.threshold else 1.0  # fmt: skip
        impact = (basis or 0.0) * share
        side = "under" if rule.comparison == "below" else "over"
        gap_text = f"{gap * 100:.1f} points" if unit == "ratio" else format_value(gap, unit)
        sentence = (f"{rule.label} {format_value(value, unit)} is {gap_text} {side} the "
                    f"{format_value(rule.threshold, unit)} threshold: {rule.action}; estimated "
                    f"{rule.impact_label} {format_value(impact, 'usd')}.")  # fmt: skip
        rows.append({
            "month": month, "rank": 0, "rule": rule.name, "metric": rule.metric, "value": value,
            "unit": unit, "threshold": rule.threshold, "comparison": rule.comparison, "gap": gap,
            "impact_basis": rule.impact_basis, "impact_basis_value": basis,
            "estimated_impact_usd": impact, "recommendation": sentence, "source": source,
        })  # fmt: skip
    rows.sort(key=lambda r: r["estimated_impact_usd"], reverse=True)
    for i, r in enumerate(rows, start=1):
        r["rank"] = i
    return pl.DataFrame(rows, schema=RECOMMENDATION_SCHEMA, orient="row")
