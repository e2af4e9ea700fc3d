"""The daily executive report's content, built from the day's metric tables.

Plain functions: the numbers come from the metric tables, the sentences are written from those
numbers, and each status from the metric layer's rating rule against the target shown beside it
(the alert rules are listed as alerts, on their own).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import polars as pl

from reporting_assets.config.models import Settings
from reporting_assets.lib.formatting import format_delta, format_value, plural
from reporting_assets.metrics.docs import definition
from reporting_assets.metrics.layer import METRICS, day_values, headline_values
from reporting_assets.metrics.rating import rate
from reporting_assets.reports.decisions import (
    alert_asks,
    alerts_takeaway,
    decision_block,
    mrr_day_takeaway,
    stakes_by_rule,
    status_takeaway,
)
from reporting_assets.reports.model import (
    AlertRow,
    Branding,
    CheckRow,
    Column,
    Kpi,
    ReportData,
    Section,
)
from reporting_assets.reports.quality import count_checks, quality_sentence

DAILY_KPIS = ("mrr", "net_new_mrr", "mrr_at_risk", "payment_failure_rate", "total_cost",
              "budget_variance", "incidents_opened", "first_response_sla_rate")  # fmt: skip


def kpis(
    now: dict,
    previous: dict,
    settings: Settings,
    keys: tuple[str, ...] = DAILY_KPIS,
    days: int = 1,
    gap: str = "",
) -> list[Kpi]:
    """The KPI cards: value, previous value, and the status the metric layer's one rating rule
    gives against the (period-scaled) target printed beside it."""
    out = []
    for key in keys:
        m = settings.metrics[key]
        r = rate(key, now.get(key), m, days)
        out.append(Kpi(key, m.label, m.unit, now.get(key), previous.get(key), r.target,
                       m.direction, r.status, definition(key, m),
                       r.reason if r.status == "grey" else "", gap))  # fmt: skip
    return out


def kpi_series(windows: dict[str, dict[str, pl.DataFrame]], through: date) -> dict[str, tuple]:
    """Each metric day by day up to `through` (oldest first), from the daily tables' windows
    ({asset: {day: table}}): what a KPI's sparkline draws."""
    out: dict[str, dict[str, float | None]] = {}
    for asset, window in windows.items():
        for day in sorted(d for d in window if d <= through.isoformat()):
            for row in headline_values(asset, window[day]).iter_rows(named=True):
                out.setdefault(row["metric"], {})[day] = row["value"]
    return {metric: tuple(by_day[d] for d in sorted(by_day)) for metric, by_day in out.items()}


def definitions(settings: Settings, keys) -> list[tuple[str, str, str]]:
    """(label, unit, definition) of the metrics, for a report's appendix and workbook."""
    return [
        (settings.metrics[k].label, settings.metrics[k].unit, definition(k, settings.metrics[k]))
        for k in keys
        if k in settings.metrics
    ]


def _change_phrase(k: Kpi) -> str:
    if k.delta is None or k.delta == 0:
        return f"{k.label} was {format_value(k.value, k.unit)}, unchanged on the day"
    verb = "rose" if k.delta > 0 else "fell"
    return (
        f"{k.label} {verb} {format_delta(k.delta, k.unit).lstrip('+−±')} to "
        f"{format_value(k.value, k.unit)}"
    )


def executive_summary(
    revenue_total: dict,
    kpi_list: list[Kpi],
    checks: list[CheckRow],
) -> list[str]:
    """Plain sentences written from the numbers: MRR, the biggest moves, data quality. The
    alerts are listed on their own, and what they ask of whom is in the decision block."""
    r = revenue_total
    direction = "up" if r["net_new_mrr"] > 0 else "down" if r["net_new_mrr"] < 0 else "flat"
    sentences = [
        f"MRR closed at {format_value(r['closing_mrr'], 'usd')}, {direction} "
        f"{format_value(abs(r['net_new_mrr']), 'usd')} on the day: "
        f"{format_value(r['new_mrr'] + r['reactivation_mrr'], 'usd')} new and won back, "
        f"{format_value(r['expansion_mrr'], 'usd')} expansion, "
        f"{format_value(r['contraction_mrr'], 'usd')} contraction and "
        f"{format_value(r['churned_mrr'], 'usd')} churned."
    ]
    moved = [k for k in kpi_list if k.key not in ("mrr", "net_new_mrr") and k.delta
             and k.previous not in (None, 0)]  # fmt: skip
    moved.sort(key=lambda k: abs(k.delta / k.previous), reverse=True)
    if moved:
        sentences.append(
            "Biggest movements: " + "; ".join(_change_phrase(k) for k in moved[:2]) + "."
        )
    sentences.append(quality_sentence(count_checks(checks)))
    return sentences


COMPARISON_WORDS = {"above": "above", "below": "below",
                    "change_vs_previous": "a change beyond", "deviation_from_baseline":
                    "a deviation from its usual level beyond"}  # fmt: skip


def alert_sentence(alert: dict, settings: Settings, fired: str = "") -> str:
    """An alert as a reader says it: 'Payment failure rate is 54.5%, above the critical
    threshold of 25.0%, in breach since 26 November (1 day in a row).' `fired` says on how many
    days of a week or month the alert fired ('on 2 days this month'), the count the summary
    gives: a rule that needs 2 days in breach fires on the second."""
    m = settings.metrics[alert["metric"]]
    if alert["comparison"] in ("above", "below"):
        threshold = format_value(alert["threshold"], m.unit)
    elif alert["comparison"] == "change_vs_previous":
        threshold = f"{alert['threshold']:.0%}"
    else:
        threshold = f"{alert['threshold']:g} robust standard deviations"
    days = alert["consecutive_days"]
    since = alert["breaching_since"]
    return (
        f"{m.label} is {format_value(alert['value'], m.unit)}, "
        f"{COMPARISON_WORDS[alert['comparison']]} the {alert['severity']} threshold of "
        f"{threshold}, in breach since {since.day} {since:%B} ({days} day"
        f"{'s' if days != 1 else ''} in a row)" + (f"; the alert fired {fired}." if fired else ".")
    )


def period_label(day: date) -> str:
    return f"{day:%A}, {day.day} {day:%B %Y}"


def data_through(day: date, tz: str) -> str:
    zone = {"America/New_York": "ET"}.get(tz, tz)
    return f"Data through 11:59 pm {zone}, {day:%A} {day.day} {day:%B %Y}"


CHART_TITLES = {
    "mrr_waterfall": "MRR bridge for the day",
    "mrr_trend": "MRR over the last 28 days",
    "budget_bars": "Spend vs budget by service",
    "sla_trend": "First response within SLA, last 28 days",
}

REVENUE_COLUMNS = [
    Column("plan", "Plan", "name"), Column("opening_mrr", "Opening MRR", "usd"),
    Column("new_mrr", "New", "usd"), Column("expansion_mrr", "Expansion", "usd"),
    Column("contraction_mrr", "Contraction", "usd"), Column("churned_mrr", "Churned", "usd"),
    Column("closing_mrr", "Closing MRR", "usd"), Column("mrr_at_risk", "MRR at risk", "usd"),
    Column("payment_failure_rate", "Payment failures", "ratio"),
    Column("failed_payment_amount", "Failed payments", "usd"),
]  # fmt: skip
COST_COLUMNS = [
    Column("service", "Service", "name"), Column("vendor", "Vendor"),
    Column("team", "Team", "name"),
    Column("cost_usd", "Spend", "usd"), Column("daily_budget_usd", "Budget", "usd"),
    Column("budget_variance", "vs budget", "ratio"),
    Column("trailing_median_usd", "Usual (28-day median)", "usd"),
    Column("anomalous", "Anomalous", "bool"), Column("idle_candidate", "Idle", "bool"),
]  # fmt: skip
OPERATIONS_COLUMNS = [Column("measure", "Measure"), Column("value", "Value", unit_from="unit")]
OPERATIONS_ROWS = [
    ("incidents_opened", "Incidents opened", "count"), ("sev1_opened", "Sev1 opened", "count"),
    ("mttr_hours", "MTTR (sev1–2)", "hours"), ("open_incidents", "Open incidents", "count"),
    ("tickets_opened", "Tickets opened", "count"), ("ticket_backlog", "Backlog", "count"),
    ("first_response_sla_rate", "First response within SLA", "ratio"),
    ("resolution_sla_rate", "Resolution within SLA", "ratio"),
    ("deploys", "Deploys", "count"), ("pipeline_success_rate", "Pipeline success", "ratio"),
    ("tickets_per_100_accounts", "Tickets per 100 accounts", "per_100_accounts"),
]  # fmt: skip


def build_daily_report(
    key: str,
    day: date,
    tables: dict[str, pl.DataFrame],
    previous_tables: dict[str, pl.DataFrame],
    checks: list[CheckRow],
    settings: Settings,
    *,
    generated_at: datetime,
    report_url: str = "",
    series: dict[str, tuple] | None = None,
) -> ReportData:
    """The daily executive report for `day` from the day's (and the day before's) tables;
    `series` (`kpi_series`) gives each KPI its days before."""
    report = settings.reports[key]
    alerts = tables["critical_alerts_daily"]
    cards = kpis(day_values(tables), day_values(previous_tables), settings)
    kpi_list = [replace(k, series=(series or {}).get(k.key, ())) for k in cards]
    revenue = tables["revenue_protection_daily"]
    revenue_total = revenue.filter(pl.col("plan") == "total").row(0, named=True)
    costs = tables["cost_optimization_daily"]
    ops = tables["operational_efficiency_daily"].row(0, named=True)
    ops_table = pl.DataFrame({  # typed values, each row with its unit (a workbook number)
        "measure": [label for _, label, _ in OPERATIONS_ROWS],
        "value": [None if ops[c] is None else float(ops[c]) for c, _, _ in OPERATIONS_ROWS],
        "unit": [unit for _, _, unit in OPERATIONS_ROWS],
    })  # fmt: skip
    flagged = costs.filter(pl.col("anomalous") | pl.col("idle_candidate"))
    total_spend = costs.filter(pl.col("level") == "total").get_column("cost_usd")[0]
    sections = {
        "revenue_protection": Section(
            "revenue_protection", "Revenue protection",
            "MRR movements by plan. "
            f"{plural(revenue_total['usage_drop_accounts'], 'paying account')} "
            "used the product sharply less in the last 7 days than in the 3 weeks before "
            f"({format_value(revenue_total['usage_drop_mrr'], 'usd')} MRR).",
            revenue, REVENUE_COLUMNS, ["mrr_waterfall", "mrr_trend"]),
        "cost_optimization": Section(
            "cost_optimization", "Cost optimization",
            f"Spend of {format_value(total_spend, 'usd')}"
            f" across {costs.filter(pl.col('level') == 'line').height} cost lines; "
            f"{flagged.height} flagged as anomalous or idle.",
            costs.filter(pl.col("level") == "line").sort("cost_usd", descending=True),
            COST_COLUMNS, ["budget_bars"]),
        "operational_efficiency": Section(
            "operational_efficiency", "Operational efficiency",
            "Incidents, support and delivery for the day.", ops_table, OPERATIONS_COLUMNS,
            ["sla_trend"]),
    }  # fmt: skip
    firing = alerts.filter(pl.col("severity") != "info")
    stakes = stakes_by_rule(firing, revenue.filter(pl.col("plan") == "total"),
                            costs.filter(pl.col("level") == "total"), settings)  # fmt: skip
    alert_rows = [
        AlertRow(a["rule"], a["metric"], a["severity"], a["value"], a["threshold"],
                 a["breaching_since"].isoformat() if a["breaching_since"] else None,
                 alert_sentence(a, settings), stakes.get(a["rule"]))
        for a in firing.iter_rows(named=True)
    ]  # fmt: skip
    decisions = decision_block(
        [mrr_day_takeaway(revenue_total["closing_mrr"], revenue_total["net_new_mrr"]),
         alerts_takeaway(alerts.filter(pl.col("severity") != "info"), settings, {}),
         status_takeaway(kpi_list)],
        alert_asks(alerts.filter(pl.col("severity") == "critical"),
                   revenue.filter(pl.col("plan") == "total"),
                   costs.filter(pl.col("level") == "total"), day + timedelta(days=1), settings),
    )  # fmt: skip
    b = settings.branding
    return ReportData(
        report_key=key,
        title=report.title,
        cadence=report.cadence,
        period_key=day.isoformat(),
        period_label=period_label(day),
        data_through=data_through(day, settings.calendar.report_timezone),
        generated_at=f"{generated_at:%Y-%m-%d %H:%M} "
        f"{ {'America/New_York': 'ET'}.get(settings.calendar.report_timezone, '') }".strip(),
        branding=Branding(b.company_name, b.primary_color, b.accent_color, b.logo_path),
        kpis=kpi_list,
        summary=executive_summary(revenue_total, kpi_list, checks),
        alerts=alert_rows,
        sections=[sections[s] for s in report.sections if s in sections],
        quality=checks,
        definitions=definitions(settings, METRICS),
        report_url=report_url,
        chart_titles=CHART_TITLES,
        decisions=decisions,
    )
