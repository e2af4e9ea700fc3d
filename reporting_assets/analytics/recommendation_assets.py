"""The month's strategic recommendations: rules over the findings (group
`step4_analysis_monthly`)."""

import dagster as dg
import polars as pl

from reporting_assets.analytics import recommend
from reporting_assets.analytics.monthly_common import (
    PAST_MONTHS,
    month_of,
    outcome,
)
from reporting_assets.analytics.period_common import analytics_specs
from reporting_assets.config.models import Settings
from reporting_assets.lib.metadata import markdown_preview
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
    StrategicRecommendationsMonthly,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import period_in


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
    business: SettingsResource,
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
    s = business.get()
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
            severity=HISTORY_SEVERITY,
            floors={"recommendations": 2.0},
        ),
        THRESHOLDS: outcome(
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
