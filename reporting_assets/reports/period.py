"""Weekly and monthly report content, rolled up from the checked daily metric tables.

Until the weekly and monthly analytics exist, a period report says what the days of the period
add up to: MRR at the end against the end of the period before, movements and spend summed,
rates recomputed from their counts, the alerts that fired and the initiatives' progress.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import polars as pl

from reporting_assets.config.models import Settings
from reporting_assets.reports.daily import alert_sentence, data_through, kpi_status, kpis
from reporting_assets.reports.formatting import format_value, in_sentence
from reporting_assets.reports.model import (
    AlertRow,
    Branding,
    CheckRow,
    Column,
    ReportData,
    Section,
)

PERIOD_KPIS = ("mrr", "net_new_mrr", "payment_failure_rate", "total_cost", "budget_variance",
               "incidents_opened", "first_response_sla_rate")  # fmt: skip


def period_values(days: dict[str, pl.DataFrame]) -> dict[str, float | None]:
    """Headline metrics of a period from its days' tables (each a concat over the days);
    empty when the period has no stored days (the first period of the history)."""
    if "revenue_protection_daily" not in days:
        return {}
    rev = days["revenue_protection_daily"].filter(pl.col("plan") == "total").sort("date")
    cost = days["cost_optimization_daily"].filter(pl.col("level") == "total")
    ops = days["operational_efficiency_daily"]
    if rev.is_empty():
        return {}
    attempts = rev["payments_failed"].sum() + rev["payments_succeeded"].sum()
    responses = ops["first_responses"].sum()
    resolved = rev["payments_recovered"].sum() + rev["dunning_cancellations"].sum()
    fixed = ops.filter(pl.col("mttr_hours").is_not_null())
    runs = ops["pipeline_runs"].sum()
    return {
        "payment_recovery_rate": rev["payments_recovered"].sum() / resolved if resolved else None,
        "mttr_hours": (fixed["mttr_hours"] * fixed["incidents_resolved"]).sum()
        / fixed["incidents_resolved"].sum() if fixed["incidents_resolved"].sum() else None,
        "pipeline_success_rate": (ops["pipeline_success_rate"].fill_null(0)
                                  * ops["pipeline_runs"]).sum() / runs if runs else None,
        "revenue_recovered": rev["revenue_recovered"].sum(),
        "failed_payment_amount": rev["failed_payment_amount"].sum(),
        "mrr": rev["closing_mrr"][-1],
        "net_new_mrr": rev["net_new_mrr"].sum(),
        "mrr_at_risk": rev["mrr_at_risk"][-1],
        "payment_failure_rate": rev["payments_failed"].sum() / attempts if attempts else None,
        "total_cost": cost["cost_usd"].sum(),
        "budget_variance": cost["cost_usd"].sum() / cost["daily_budget_usd"].sum() - 1
        if cost.height else None,
        "incidents_opened": float(ops["incidents_opened"].sum()),
        "first_response_sla_rate": (ops["first_response_sla_rate"].fill_null(0)
                                    * ops["first_responses"]).sum() / responses
        if responses else None,
    }  # fmt: skip


# Metrics that add up over days: their daily target scales with the period's length.
ADDITIVE = {"net_new_mrr", "total_cost", "incidents_opened"}


def period_kpis(now: dict, before: dict, settings: Settings, n_days: int) -> list:
    """The period's KPIs. Status comes from targets (scaled for additive metrics): the alert
    rules' thresholds are daily, so the alerts that fired are listed on their own instead."""
    out = []
    for k in kpis(
        now,
        before,
        settings,
        pl.DataFrame(schema={"metric": pl.String, "severity": pl.String}),
        PERIOD_KPIS,
    ):
        if k.key in ADDITIVE and k.target is not None:
            target = k.target * n_days
            m = settings.metrics[k.key]
            scaled = settings.model_copy(
                update={
                    "metrics": {**settings.metrics, k.key: m.model_copy(update={"target": target})}
                }
            )
            k = replace(
                k,
                target=target,
                status=kpi_status(
                    k.key,
                    k.value,
                    scaled,
                    pl.DataFrame(schema={"metric": pl.String, "severity": pl.String}),
                ),
            )
        out.append(k)
    return out


def worst_alerts(alerts: pl.DataFrame) -> pl.DataFrame:
    """Per rule, the worst severity it reached in the period and on how many days it fired."""
    firing = alerts.filter(pl.col("severity") != "info")
    if firing.is_empty():
        return alerts.head(0)
    rank = pl.col("severity").replace_strict({"warning": 1, "critical": 2}, return_dtype=pl.Int8)
    return (
        firing.with_columns(_rank=rank)
        .sort("_rank", "date", descending=[True, True])
        .group_by("rule", maintain_order=True)
        .agg(pl.all().first(), pl.len().alias("days_firing"))
        .drop("_rank")
    )


def initiative_rows(
    initiatives: pl.DataFrame | None, milestones: pl.DataFrame | None, end: date
) -> list[dict]:
    """Each initiative's owner, milestones reached and status at the period's end, judged as
    the weekly initiative-progress asset judges it (so the decks and the weekly table agree)."""
    from reporting_assets.analytics.weekly import initiative_progress

    if initiatives is None or initiatives.is_empty():
        return []
    if milestones is None:
        schema = {"initiative_id": pl.String, "milestone": pl.String, "planned_date": pl.Date,
                  "actual_date": pl.Date}  # fmt: skip
        milestones = pl.DataFrame(schema=schema)
    progress = initiative_progress(initiatives, milestones, end, end)
    return [
        {
            "name": r["name"],
            "owner": r["owner"],
            "milestones": f"{r['milestones_done']} of {r['milestones_total']}"
            if r["milestones_total"]
            else "–",
            "planned end": r["planned_end_date"].isoformat(),
            "status": r["status"],
        }
        for r in progress.iter_rows(named=True)
    ]


def build_period_report(
    key: str,
    start: date,
    end: date,
    days: dict[str, pl.DataFrame],
    previous_days: dict[str, pl.DataFrame],
    checks: list[CheckRow],
    settings: Settings,
    *,
    period_key: str,
    generated_at: datetime,
    report_url: str = "",
    analytics=None,
) -> ReportData:
    """A weekly or monthly report for start..end (inclusive) from the days' metric tables, with
    the period's analytics (`analytics_content.AnalyticsContent`) when they exist."""
    report = settings.reports[key]
    alerts = worst_alerts(days["critical_alerts_daily"])
    now, before = period_values(days), period_values(previous_days)
    n_days = (end - start).days + 1
    kpi_list = period_kpis(now, before, settings, n_days)
    rev = days["revenue_protection_daily"].filter(pl.col("plan") == "total").sort("date")
    summary = [
        f"Over the {n_days} days to {end.day} {end:%B}, MRR moved from "
        f"{format_value(rev['opening_mrr'][0], 'usd')} to "
        f"{format_value(rev['closing_mrr'][-1], 'usd')} "
        f"({format_value(rev['net_new_mrr'].sum(), 'usd')} net new): "
        f"{format_value(rev['new_mrr'].sum() + rev['reactivation_mrr'].sum(), 'usd')} new and "
        f"won back, {format_value(rev['churned_mrr'].sum(), 'usd')} churned.",
    ]
    if now.get("total_cost") is not None:
        summary.append(
            f"Spend was {format_value(now['total_cost'], 'usd')}, "
            f"{format_value(now['budget_variance'], 'ratio')} against budget."
        )
    if alerts.is_empty():
        summary.append("No alert rule fired during the period.")
    else:
        summary.append(
            f"{alerts.height} alert rule(s) fired: "
            + "; ".join(
                f"{in_sentence(settings.metrics[a['metric']].label)} ({a['severity']}, "
                f"{a['days_firing']} day{'s' if a['days_firing'] != 1 else ''})"
                for a in alerts.iter_rows(named=True)
            )
            + "."
        )
    if analytics is not None:
        summary[1:1] = analytics.summary
    failed = [c for c in checks if not c.passed]
    summary.append(
        f"{len(checks) - len(failed)} of {len(checks)} data quality checks passed"
        + (f"; {len(failed)} did not (see the appendix)." if failed else ".")
    )
    daily = rev.select("date", "closing_mrr", "net_new_mrr", "churned_mrr",
                       "payment_failure_rate").join(
        days["cost_optimization_daily"].filter(pl.col("level") == "total")
        .select("date", "cost_usd", "budget_variance"), on="date", how="left").join(
        days["operational_efficiency_daily"].select("date", "incidents_opened", "ticket_backlog",
                                                    "first_response_sla_rate"),
        on="date", how="left")  # fmt: skip
    columns = [
        Column("date", "Day", "date"), Column("closing_mrr", "MRR", "usd"),
        Column("net_new_mrr", "Net new", "usd"), Column("churned_mrr", "Churned", "usd"),
        Column("payment_failure_rate", "Payment failures", "ratio"),
        Column("cost_usd", "Spend", "usd"), Column("budget_variance", "vs budget", "ratio"),
        Column("incidents_opened", "Incidents", "count"),
        Column("ticket_backlog", "Backlog", "count"),
        Column("first_response_sla_rate", "First response SLA", "ratio"),
    ]  # fmt: skip
    alert_rows = [
        AlertRow(
            a["rule"],
            a["metric"],
            a["severity"],
            a["value"],
            a["threshold"],
            a["breaching_since"].isoformat() if a["breaching_since"] else None,
            alert_sentence(a, settings),
        )
        for a in alerts.iter_rows(named=True)
    ]
    suffix = "this week" if report.cadence == "weekly" else f"{end:%B} to date"
    label = (f"Week of {start.day} {start:%B} – {end.day} {end:%B %Y}" if report.cadence ==
             "weekly" else f"{end:%B %Y}, to {end.day} {end:%B}")  # fmt: skip
    b = settings.branding
    return ReportData(
        report_key=key, title=report.title, cadence=report.cadence, period_key=period_key,
        period_label=label, data_through=data_through(end, settings.calendar.report_timezone),
        generated_at=f"{generated_at:%Y-%m-%d %H:%M} ET",
        branding=Branding(b.company_name, b.primary_color, b.accent_color, b.logo_path),
        kpis=kpi_list, summary=summary, alerts=alert_rows,
        sections=[*(analytics.sections if analytics is not None else []),
                  Section("days", "Day by day", "The period's days, as checked each morning.",
                          daily, columns, ["scorecard", "mrr_trend", "sla_trend"])],
        quality=checks,
        definitions=[(settings.metrics[m].label, settings.metrics[m].unit,
                      settings.metrics[m].description) for m in PERIOD_KPIS],
        report_url=report_url, chart_titles={
            "scorecard": f"Scorecard, {suffix}",
            "mrr_trend": f"MRR, {suffix}",
            "sla_trend": f"First response within SLA, {suffix}",
            "mrr_forecast": "MRR: the last months and the forecast",
        },
    )  # fmt: skip


def period_days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
