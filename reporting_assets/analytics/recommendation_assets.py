"""The month's strategic recommendations (rules over the findings) and the business-impact
metrics (group `step4_analysis_monthly`)."""

from datetime import date, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl

from reporting_assets.analytics import monthly, recommend
from reporting_assets.analytics.monthly_common import (
    IMPACT_LOOKBACK_MONTHS,
    PAST_MONTHS,
    month_of,
    outcome,
    report_tz,
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
    BusinessImpactMonthly,
    StrategicRecommendationsMonthly,
)
from reporting_assets.records.acks import acks
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
    business: SettingsResource,
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
    s = business.get()
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

    tz = report_tz()
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
            severity=HISTORY_SEVERITY,
        ),
        THRESHOLDS: outcome(
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
