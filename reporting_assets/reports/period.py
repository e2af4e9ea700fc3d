"""Weekly and monthly report content, rolled up from the checked daily metric tables.

Every figure comes from the metric layer (`metrics.layer`): MRR at the period's end, flows summed,
rates recomputed from their summed counts, each rated against its period target. A period with a
day missing is reported only when its report allows it, and then every figure says which days
are missing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import polars as pl

from reporting_assets.analytics.weekly import initiative_progress, roi
from reporting_assets.config.models import Settings
from reporting_assets.lib.formatting import display_name, format_value, plural
from reporting_assets.metrics.docs import definition
from reporting_assets.metrics.layer import Coverage, day_list
from reporting_assets.metrics.periods import values_of
from reporting_assets.reports.daily import alert_sentence, data_through, kpis
from reporting_assets.reports.decisions import (
    alert_asks,
    alerts_takeaway,
    decision_block,
    mrr_period_takeaway,
    recommendation_asks,
    stakes_by_rule,
    status_takeaway,
)
from reporting_assets.reports.model import (
    AlertRow,
    Branding,
    CheckRow,
    Column,
    ReportData,
    Section,
)
from reporting_assets.reports.quality import count_checks, quality_sentence

PERIOD_KPIS = ("mrr", "net_new_mrr", "payment_failure_rate", "total_cost", "budget_variance",
               "incidents_opened", "first_response_sla_rate")  # fmt: skip


def fired_on(days: int, cadence: str) -> str:
    """How often an alert fired over the period: 'on 2 days this month'."""
    period = "week" if cadence == "weekly" else "month"
    return f"on {days} day{'s' if days != 1 else ''} this {period}"


def mrr_bridge_sentence(v: dict, opening: float, gap: str = "") -> str:
    """The period's one MRR bridge in words: opening + new + won back + expansion − contraction
    − churned = closing. Every part is printed, so the sentence adds up."""
    usd = lambda x: format_value(x, "usd")  # noqa: E731
    return (
        f"MRR moved from {usd(opening)} to {usd(v['mrr'])} ({usd(v['net_new_mrr'])} net new): "
        f"{usd(v['new_mrr'])} new, {usd(v['reactivation_mrr'])} won back, "
        f"{usd(v['expansion_mrr'])} expansion, {usd(v['contraction_mrr'])} contraction and "
        f"{usd(v['churned_mrr'])} churned" + (f" ({gap})." if gap else ".")
    )


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
    initiatives: pl.DataFrame | None,
    milestones: pl.DataFrame | None,
    end: date,
    person: Callable[[str], str] = str,
) -> list[dict]:
    """Each initiative's owner, milestones reached and status at the period's end, judged as
    the weekly initiative-progress asset judges it (so the decks and the weekly table agree)."""
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
            "owner": person(r["owner"]),
            "milestones": f"{r['milestones_done']} of {r['milestones_total']}"
            if r["milestones_total"]
            else "–",
            "planned end": r["planned_end_date"].isoformat(),
            "status": display_name(r["status"]),  # "Done late", as the table shows it
        }
        for r in progress.iter_rows(named=True)
    ]


def build_period_report(
    key: str,
    start: date,
    end: date,
    days: dict[str, pl.DataFrame],
    kpis_now: pl.DataFrame,
    kpis_before: pl.DataFrame | None,
    checks: list[CheckRow],
    settings: Settings,
    *,
    period_key: str,
    generated_at: datetime,
    report_url: str = "",
    analytics=None,
    coverage: Coverage | None = None,
) -> ReportData:
    """A weekly or monthly report for start..end (inclusive): its figures from the period's KPIs
    (`kpis_weekly` / `kpis_monthly`) against the period before, its day-by-day table from the
    days' metric tables, and the period's analytics (`analytics_content.AnalyticsContent`) when
    they exist. `coverage` says which days count; a missing day is named next to every figure.
    A previous period with days missing is not compared with."""
    report = settings.reports[key]
    alerts = worst_alerts(days["critical_alerts_daily"])
    now = values_of(kpis_now)
    before_whole = kpis_before is not None and bool(kpis_before["complete"][0])
    before = values_of(kpis_before) if before_whole else {}
    n_days = (end - start).days + 1
    gap = coverage.missing_words() if coverage is not None else ""
    kpi_list = kpis(now, before, settings, PERIOD_KPIS, n_days, gap)
    rev = days["revenue_protection_daily"].filter(pl.col("plan") == "total").sort("date")
    summary = []
    if gap:
        summary.append(f"Incomplete period: {gap}. Every figure below covers the other days "
                       "only; sums and the score are understated.")  # fmt: skip
    if kpis_before is not None and not before_whole:
        missing = day_list(
            date.fromisoformat(d) for d in kpis_before["missing_days"][0].split(", ")
        )
        summary.append(f"The {'week' if report.cadence == 'weekly' else 'month'} before had "
                       f"days missing ({missing}), so no change against it is shown.")  # fmt: skip
    bridge = getattr(analytics, "bridge", None)
    if bridge is not None:
        summary.append(mrr_bridge_sentence(bridge, bridge["opening_mrr"], gap))
    else:
        summary.append(mrr_bridge_sentence(now, rev["opening_mrr"][0], gap))
    after_bridge = len(summary)
    if now.get("total_cost") is not None:
        summary.append(
            f"Spend was {format_value(now['total_cost'], 'usd')}, "
            f"{format_value(now['budget_variance'], 'ratio')} against budget"
            + (f" ({gap})." if gap else ".")
        )
    if analytics is not None:
        summary[after_bridge:after_bridge] = analytics.summary
    summary.append(quality_sentence(count_checks(checks)))
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
    # An alert's stake: on the days it fired at the severity it reached (the critical days of a
    # critical rule, as its ask quotes them).
    fired = days["critical_alerts_daily"].join(alerts.select("rule", "severity"),
                                               on=["rule", "severity"])  # fmt: skip
    stakes = stakes_by_rule(fired, rev, days["cost_optimization_daily"].filter(
        pl.col("level") == "total"), settings)  # fmt: skip
    alert_rows = [
        AlertRow(
            a["rule"],
            a["metric"],
            a["severity"],
            a["value"],
            a["threshold"],
            a["breaching_since"].isoformat() if a["breaching_since"] else None,
            alert_sentence(a, settings, fired_on(a["days_firing"], report.cadence)),
            stakes.get(a["rule"]),
        )
        for a in alerts.iter_rows(named=True)
    ]
    cost_days = days["cost_optimization_daily"].filter(pl.col("level") == "total")
    critical = days["critical_alerts_daily"].filter(pl.col("severity") == "critical")
    # The MRR takeaway says what the summary's bridge sentence says.
    moved, opening = (bridge, bridge["opening_mrr"]) if bridge is not None else (
        now, rev["opening_mrr"][0])  # fmt: skip
    decisions = decision_block(
        [mrr_period_takeaway(opening, moved["mrr"], moved["net_new_mrr"], report.cadence),
         alerts_takeaway(alerts, settings, {a["rule"]: fired_on(a["days_firing"], report.cadence)
                                            for a in alerts.iter_rows(named=True)}),
         getattr(analytics, "takeaway", "") or status_takeaway(kpi_list)],
        alert_asks(critical, rev, cost_days, end + timedelta(days=1), settings)
        + recommendation_asks(getattr(analytics, "recommendation_rows", None), end, settings),
    )  # fmt: skip
    said = {
        **chart_takeaways(rev, days["operational_efficiency_daily"], kpi_list, report.cadence,
                          getattr(analytics, "forecast", "")),
        **getattr(analytics, "charts", {}),
    }  # fmt: skip
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
                  *([bridge_section(now, rev["opening_mrr"][0], gap)] if bridge is None else []),
                  Section("days", "Day by day", "Each day of the period as its morning's "
                          "checks left it: MRR, net new and churned MRR, payment failures, "
                          "spend, incidents, backlog and first response.",
                          daily, columns, ["mrr_trend", "sla_trend"],
                          takeaway=said.get("mrr_trend", "")),
                  *([operations_section(days), costs_section(days)]
                    if "operations" in report.sections else []),
                  coverage_section(kpis_now, kpis_before, report.cadence)],
        quality=checks,
        definitions=[(settings.metrics[m].label, settings.metrics[m].unit,
                      definition(m, settings.metrics[m])) for m in PERIOD_KPIS],
        report_url=report_url, decisions=decisions,
        chart_takeaways=said,
        chart_titles={
            "mrr_trend": f"MRR, {suffix}",
            "sla_trend": f"First response within SLA, {suffix}",
            "mrr_forecast": "MRR: the last months and the forecast",
            "mrr_movements": "MRR movements, month by month",
        },
    )  # fmt: skip


def _on(d: date) -> str:
    return f"{d:%A} {d.day} {d:%B}"


def chart_takeaways(
    revenue: pl.DataFrame, ops: pl.DataFrame, kpi_list: list, cadence: str, forecast: str = ""
) -> dict[str, str]:
    """What each of the period's charts shows, in a sentence whose figures are the day-by-day
    table's and the KPI cards': the MRR's highest and lowest day, first response against its
    target with its worst day, and the forecast's headline."""
    period = "week" if cadence == "weekly" else "month"
    out = {}
    mrr = revenue.drop_nulls("closing_mrr").sort("date")
    if mrr.height:
        hi, lo = mrr.row(mrr["closing_mrr"].arg_max(), named=True), mrr.row(
            mrr["closing_mrr"].arg_min(), named=True)  # fmt: skip
        out["mrr_trend"] = (
            f"MRR was highest on {_on(hi['date'])}, at {format_value(hi['closing_mrr'], 'usd')}, "
            f"and lowest on {_on(lo['date'])}, at {format_value(lo['closing_mrr'], 'usd')}."
        )
    sla = next((k for k in kpi_list if k.key == "first_response_sla_rate"), None)
    days = ops.drop_nulls("first_response_sla_rate").sort("date")
    if sla is not None and sla.value is not None and days.height:
        worst = days.row(days["first_response_sla_rate"].arg_min(), named=True)
        target = (f" against its {format_value(sla.target, 'ratio')} target"
                  if sla.target is not None else "")  # fmt: skip
        out["sla_trend"] = (
            f"First response within SLA was {format_value(sla.value, 'ratio')} over the "
            f"{period}{target}; its lowest day, {_on(worst['date'])}, was at "
            f"{format_value(worst['first_response_sla_rate'], 'ratio')}."
        )
    if forecast:
        out["mrr_forecast"] = forecast
    return out


BRIDGE_COLUMNS = [
    Column("opening_mrr", "Opening", "usd"), Column("new_mrr", "New", "usd"),
    Column("reactivation_mrr", "Won back", "usd"), Column("expansion_mrr", "Expansion", "usd"),
    Column("contraction_mrr", "Contraction", "usd"), Column("churned_mrr", "Churned", "usd"),
    Column("net_new_mrr", "Net new", "usd"), Column("mrr", "Closing", "usd"),
]  # fmt: skip


def bridge_section(now: dict, opening: float, gap: str = "") -> Section:
    """The period's MRR bridge as a table: the numbers of the summary's bridge sentence."""
    row = {c.name: now.get(c.name) for c in BRIDGE_COLUMNS} | {"opening_mrr": opening}
    intro = "Opening + new + won back + expansion − contraction − churned = closing MRR."
    return Section("mrr_bridge", "MRR bridge", intro + (f" {gap}." if gap else ""),
                   pl.DataFrame([row]), BRIDGE_COLUMNS)  # fmt: skip


def initiative_roi_section(
    initiatives: pl.DataFrame, milestones: pl.DataFrame, ledger: pl.DataFrame, end: date,
    person: Callable[[str], str] = str,
) -> Section:  # fmt: skip
    """Each initiative's progress and return at the period's end, judged and computed as the
    weekly initiative-progress and ROI assets do: owner, milestones, status, money in, benefit
    out and ROI."""
    progress = initiative_progress(initiatives, milestones, end, end)
    returns = roi(initiatives, ledger, end, end)
    table = progress.join(returns.select("initiative_id", "investment_to_date",
                                         "realized_benefit_to_date", "roi"),
                          on="initiative_id", how="left").with_columns(
        owner=pl.col("owner").map_elements(person, return_dtype=pl.String),
        milestones=pl.format("{} of {}", "milestones_done", "milestones_total"))  # fmt: skip
    total = returns.filter(pl.col("initiative_id") == "total")
    said = "" if total.is_empty() else (
        f"Initiatives have returned {format_value(total['realized_benefit_to_date'][0], 'usd')} "
        f"on {format_value(total['investment_to_date'][0], 'usd')} invested, an ROI of "
        f"{format_value(total['roi'][0], 'ratio')}.")  # fmt: skip
    return Section(
        "initiative_roi", "Initiatives and their returns", "Each strategic initiative at the "
        "period's end: its owner, milestones reached, status, the money invested and the benefit "
        "realized to date, and its return on investment.",
        pl.concat([table, returns.filter(pl.col("initiative_id") == "total")],
                  how="diagonal_relaxed"),
        [Column("name", "Initiative"), Column("owner", "Owner"),
         Column("milestones", "Milestones"), Column("status", "Status", "name"),
         Column("investment_to_date", "Invested", "usd"),
         Column("realized_benefit_to_date", "Realized", "usd"), Column("roi", "ROI", "ratio")],
        takeaway=said,
    )  # fmt: skip


def operations_section(days: dict[str, pl.DataFrame]) -> Section:
    """The operational review, day by day: incidents and how fast they were resolved, the
    support backlog and first response, deploys and the pipelines' success."""
    ops = days["operational_efficiency_daily"].sort("date")
    opened = int(ops["incidents_opened"].sum())
    backlog = ops.drop_nulls("ticket_backlog")
    ended = (f"; the support backlog ended at {int(backlog['ticket_backlog'][-1])}"
             if backlog.height else "")  # fmt: skip
    return Section(
        "operations_days", "Operations by day", "Incidents opened and the mean time to resolve "
        "them, the support backlog and first responses within SLA, deploys and the share of "
        "pipeline runs that succeeded.", ops,
        [Column("date", "Day", "date"), Column("incidents_opened", "Incidents", "count"),
         Column("mttr_hours", "MTTR", "hours"), Column("ticket_backlog", "Backlog", "count"),
         Column("first_response_sla_rate", "First response SLA", "ratio"),
         Column("deploys", "Deploys", "count"),
         Column("pipeline_success_rate", "Pipeline success", "ratio")],
        takeaway=f"{plural(opened, 'incident')} opened{ended}.",
    )  # fmt: skip


def costs_section(days: dict[str, pl.DataFrame]) -> Section:
    """Spend by team against its budget over the period, the largest first, with each team's
    costliest service."""
    lines = days["cost_optimization_daily"].filter(pl.col("level") == "line")
    by_service = lines.group_by("team", "service").agg(pl.col("cost_usd").sum())
    top = by_service.sort("cost_usd", descending=True).group_by("team", maintain_order=True).first()
    teams = (
        lines.group_by("team")
        .agg(pl.col("cost_usd").sum(), pl.col("daily_budget_usd").sum())
        .with_columns(budget_variance=pl.col("cost_usd") / pl.col("daily_budget_usd") - 1)
        .join(top.select("team", top_service="service"), on="team", how="left")
        .sort("cost_usd", descending=True)
    )
    return Section(
        "costs_by_team", "Spend by team", "Each team's cloud and vendor spend over the period "
        "against its budget, the largest first, and the service that cost it most.", teams,
        [Column("team", "Team", "name"), Column("cost_usd", "Spend", "usd"),
         Column("daily_budget_usd", "Budget", "usd"),
         Column("budget_variance", "vs budget", "ratio"),
         Column("top_service", "Costliest service", "name")],
        takeaway="" if teams.is_empty() else (
            f"{display_name(teams['team'][0])} spent the most, "
            f"{format_value(teams['cost_usd'][0], 'usd')}, "
            f"{format_value(teams['budget_variance'][0], 'ratio')} against its budget."),
    )  # fmt: skip


def coverage_section(now: pl.DataFrame, before: pl.DataFrame | None, cadence: str) -> Section:
    """Which days the period's figures (and the period they are compared with) count."""
    unit = "Week" if cadence == "weekly" else "Month"
    rows = []
    for name, table in ((f"This {unit.lower()}", now), (f"The {unit.lower()} before", before)):
        if table is None:
            continue
        first = table.row(0, named=True)
        missing = [date.fromisoformat(d) for d in first["missing_days"].split(", ") if d]
        rows.append({"period": f"{name} ({first['period_start']:%-d %B %Y} – "
                               f"{first['period_end']:%-d %B %Y})",
                     "days_due": first["days_due"], "days_counted": first["days_counted"],
                     "missing": day_list(missing) or "none"})  # fmt: skip
    return Section(
        "coverage", "Data coverage", "The days each figure counts: a day missing was never "
        "computed or was blocked by its quality gate.", pl.DataFrame(rows),
        [Column("period", unit), Column("days_due", "Days due", "count"),
         Column("days_counted", "Days counted", "count"), Column("missing", "Days missing")],
    )  # fmt: skip


def period_days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
