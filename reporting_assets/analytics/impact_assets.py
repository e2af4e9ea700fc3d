"""The month's business-impact metrics (group `step4_analysis_monthly`): thin wiring over
`analytics.impact`, which measures and rates them."""

import dagster as dg
import polars as pl

from reporting_assets.analytics import impact
from reporting_assets.analytics.monthly_common import (
    IMPACT_LOOKBACK_MONTHS,
    PAST_MONTHS,
    month_of,
    outcome,
    report_tz,
)
from reporting_assets.analytics.period_common import analytics_specs
from reporting_assets.metrics.gates import emit_checked
from reporting_assets.metrics.period_assets import MONTHLY_GROUP
from reporting_assets.metrics.windows import stacked
from reporting_assets.partitions import monthly_partitions, period_days, today
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    HISTORY_SEVERITY,
    THRESHOLDS,
)
from reporting_assets.quality.schemas import BusinessImpactMonthly
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import period_in


# Decision speed is read from the acknowledgements in the app database, wherever they were made
# (the web app's buttons, an email notice's Acknowledge link, the command line); the baseline
# months lie before go-live, so their monthly KPIs are declared as far back as they may reach.
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
    code_version="3",
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
    """The seed's business-impact metrics this month, each rated against its target: executive
    decision speed (delivery to first acknowledgement) and revenue protection (share of revenue
    at risk recovered) against the months before go-live, savings realized and initiatives
    finished on plan as rates."""
    s = business.get()
    month, due = month_of(context)
    _, last, _ = period_days(context.partition_time_window)
    if context.partition_key not in kpis:
        raise dg.Failure(f"kpis_monthly has no partition for {month:%B %Y}")
    table, notes = impact.monthly_impact(
        month,
        last,
        due,
        s.impact,
        today(),
        kpis,
        cost_savings.get(due.isoformat()),
        strategic_initiatives.get(due.isoformat()),
        app_db.engine,
        report_tz(),
    )
    earlier = stacked(past)
    past_values = (
        {}
        if earlier is None
        else {m: earlier.filter(pl.col("metric") == m)["value"].to_list() for m in table["metric"]}
    )
    targets = {m.config: getattr(s.impact, m.config) for m in impact.METRICS.values()}
    outcomes = {
        COMPLETE: checks.completeness(
            table,
            BusinessImpactMonthly,
            sources={"days this month": int(kpis[context.partition_key]["days_counted"][0])},
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            BusinessImpactMonthly,
            {"value": (0, None)},
            extra_problems=impact.status_problems(table),
        ),
        HISTORY: checks.consistent_with_periods(
            dict(zip(table["metric"], table["value"], strict=True)),
            past_values,
            period="month",
            z_threshold=s.analytics.history_z_threshold,
            severity=HISTORY_SEVERITY,
        ),
        THRESHOLDS: outcome(
            [f"{k} target {v} outside (0, 1]" for k, v in targets.items() if not 0 < v <= 1],
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
            "go_live": notes["go_live"],
            "baseline": notes["baseline"],
            "baseline_left_out": notes["baseline_left_out"],
            "ratings": dg.MetadataValue.md(
                "\n".join(
                    f"- {r['metric']}: {r['status']} ({r['reason']})"
                    for r in table.iter_rows(named=True)
                )
            ),
        },
    )
