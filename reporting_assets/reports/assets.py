"""Report assets (group `step5_reports`): each report definition in config becomes one asset per
period that renders its PDF, workbook and email body into the artifact store.

The renderers are plain functions; this module reads the checked metric tables, builds the
report's content once, and hands it to each format the report definition asks for. A blocking
check failure upstream means the report asset does not run for that period.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from reporting_assets.config import get_settings
from reporting_assets.lib.links import report_url
from reporting_assets.metrics.layer import Coverage, headline_values
from reporting_assets.metrics.windows import GATED_DAILY, stacked
from reporting_assets.partitions import (
    daily_partitions,
    day_window,
    monthly_partitions,
    period_days,
    weekly_partitions,
)
from reporting_assets.reports import charts as ch
from reporting_assets.reports.analytics_content import monthly_content, weekly_content
from reporting_assets.reports.daily import build_daily_report, kpi_series
from reporting_assets.reports.model import CheckRow
from reporting_assets.reports.period import (
    build_period_report,
    initiative_roi_section,
    initiative_rows,
)
from reporting_assets.reports.rendering import REPORTS_GROUP, freshness, render_report
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStoreResource
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import period_in, window_in

WEEKLY_ANALYTICS = ("metric_trends_weekly", "business_scorecard_weekly",
                    "initiative_progress_weekly", "roi_weekly")  # fmt: skip
MONTHLY_ANALYTICS = ("business_history_monthly", "business_analysis_monthly",
                     "market_benchmarks_monthly", "forecasts_monthly", "churn_risk_monthly",
                     "strategic_recommendations_monthly", "business_impact_monthly")  # fmt: skip
DAILY_INPUTS = ("revenue_protection_daily", "cost_optimization_daily",
                "operational_efficiency_daily", "critical_alerts_daily")  # fmt: skip
# The checks a daily report's quality appendix lists: every gate a day passes, and the alerts'.
CHECKED_ASSETS = (*GATED_DAILY, "critical_alerts_daily")
TREND_DAYS = 28


def daily_charts(
    tables: dict, windows: dict[str, dict[str, pl.DataFrame]], primary: str, settings
) -> list[ch.Chart]:
    """The daily report's charts: MRR bridge and trend, spend vs budget, SLA trend (the trends
    over the declared 28-day windows; a day missing from a window is a gap in its line)."""
    long = pl.concat(
        [headline_values(a, stacked(windows[a]))
         for a in ("revenue_protection_daily", "operational_efficiency_daily")]
    ).sort("date")  # fmt: skip
    total = tables["revenue_protection_daily"].filter(pl.col("plan") == "total").row(0, named=True)
    sla_target = settings.metrics["first_response_sla_rate"].target
    return [
        ch.Chart("mrr_waterfall", ch.mrr_waterfall(total, "MRR bridge for the day", primary)),
        ch.Chart("mrr_trend", ch.trend_chart(long, "mrr", f"MRR, last {TREND_DAYS} days",
                                             money=True, primary=primary)),
        ch.Chart("budget_bars", ch.budget_bars(tables["cost_optimization_daily"],
                                               "Spend vs budget by service", primary)),
        ch.Chart("sla_trend", ch.trend_chart(long, "first_response_sla_rate",
                                             "First response within SLA", target=sla_target,
                                             percent=True, primary=primary)),
    ]  # fmt: skip


def _checks(
    app_db: AppDatabase, days: list[str], assets: list[str] | None = None
) -> list[CheckRow]:
    rows = [r for d in days for r in app_db.latest_checks(d, assets or list(CHECKED_ASSETS))]
    return [CheckRow(r["asset"], r["check_name"], r["passed"], r["severity"],
                     f"{r['partition_key']}: {r['description']}" if len(days) > 1
                     else r["description"]) for r in rows]  # fmt: skip


# The daily report reads the day of every metric table, the day before (for the changes), and
# 28 days of MRR and support for its trend charts: each a declared window.
DAILY_WINDOWS = {
    "revenue_protection_daily": -(TREND_DAYS - 1),
    "cost_optimization_daily": -1,
    "operational_efficiency_daily": -(TREND_DAYS - 1),
    "critical_alerts_daily": 0,
}


def _daily_report_asset(key: str) -> dg.AssetsDefinition:
    report_def = get_settings().reports[key]

    @dg.asset(
        name=key,
        partitions_def=daily_partitions,
        group_name=REPORTS_GROUP,
        kinds={"pdf", "excel", "email", "plotly"},
        ins={f"{a}_window": window_in(a, offset, 0) for a, offset in DAILY_WINDOWS.items()},
        freshness_policy=freshness("daily"),
        description=f"{report_def.title}: the day's PDF report, Excel workbook and email body, "
        "built from checked metrics.",
        code_version="2",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        business: SettingsResource,
        revenue_protection_daily_window: dict[str, pl.DataFrame],
        cost_optimization_daily_window: dict[str, pl.DataFrame],
        operational_efficiency_daily_window: dict[str, pl.DataFrame],
        critical_alerts_daily_window: dict[str, pl.DataFrame],
        app_db: AppDatabase,
        artifacts: ArtifactStoreResource,
    ) -> dg.MaterializeResult:
        settings = business.get()
        day = day_window(context.partition_key).day
        key_today, key_before = day.isoformat(), (day - timedelta(days=1)).isoformat()
        windows = {"revenue_protection_daily": revenue_protection_daily_window,
                   "cost_optimization_daily": cost_optimization_daily_window,
                   "operational_efficiency_daily": operational_efficiency_daily_window,
                   "critical_alerts_daily": critical_alerts_daily_window}  # fmt: skip
        absent = [a for a, w in windows.items() if key_today not in w]
        if absent:
            raise dg.Failure(f"no checked {', '.join(absent)} for {day}")
        tables = {a: w[key_today] for a, w in windows.items()}
        previous = {a: w[key_before] for a, w in windows.items() if key_before in w}
        now = datetime.now(ZoneInfo(settings.calendar.report_timezone))
        report = build_daily_report(
            key, day, tables, previous, _checks(app_db, [key_today]), settings, generated_at=now,
            report_url=report_url(artifacts.report_base_url, key, key_today),
            series=kpi_series(windows, day))  # fmt: skip
        charts = daily_charts(tables, windows, settings.branding.primary_color, settings)
        return render_report(
            report,
            report_def,
            charts,
            artifacts,
            app_db,
            settings,
            email_charts=("mrr_waterfall", "budget_bars"),
        )

    return _asset


def forecast_figure(frames: dict, primary: str) -> ch.Chart:
    """MRR over the last six months and the forecast with its interval."""
    history = frames["business_analysis_monthly"].sort("month").tail(6)
    forecast = frames["forecasts_monthly"].filter(pl.col("series") == "mrr")
    return ch.Chart("mrr_forecast", ch.forecast_chart(
        history["month"].to_list(), history["closing_mrr"].to_list(), forecast,
        "MRR: the last six months and the forecast", primary=primary))  # fmt: skip


def period_charts(days: dict, title_suffix: str, primary: str, settings) -> list[ch.Chart]:
    long = pl.concat(
        [
            headline_values(a, days[a])
            for a in ("revenue_protection_daily", "operational_efficiency_daily")
        ]
    ).sort("date")
    sla_target = settings.metrics["first_response_sla_rate"].target
    return [
        ch.Chart("mrr_trend", ch.trend_chart(long, "mrr", f"MRR, {title_suffix}", money=True,
                                             primary=primary)),
        ch.Chart("sla_trend", ch.trend_chart(long, "first_response_sla_rate",
                                             f"First response within SLA, {title_suffix}",
                                             target=sla_target, percent=True, primary=primary)),
    ]  # fmt: skip


def _period_report_asset(key: str) -> dg.AssetsDefinition:
    report_def = get_settings().reports[key]
    cadence = report_def.cadence
    partitions = weekly_partitions if cadence == "weekly" else monthly_partitions
    names = WEEKLY_ANALYTICS if cadence == "weekly" else MONTHLY_ANALYTICS
    kpis_asset = f"kpis_{cadence}"

    @dg.asset(
        name=key,
        partitions_def=partitions,
        group_name=REPORTS_GROUP,
        kinds={"pdf", "excel", "email", "pptx"},
        ins={
            **{a: period_in(a) for a in DAILY_INPUTS},
            "kpis": period_in(kpis_asset, -1, 0),
            "strategic_initiatives": period_in("strategic_initiatives"),
            "initiative_milestones": period_in("initiative_milestones"),
            "initiative_ledger": period_in("initiative_ledger"),
            **{n: dg.AssetIn(n) for n in names},
        },
        freshness_policy=freshness(cadence),
        description=f"{report_def.title}: the {cadence} PDF report, workbook, email body and "
        "audience decks, from the period's KPIs and checked daily metrics.",
        code_version="2",
    )
    def _asset(context: dg.AssetExecutionContext, business: SettingsResource, app_db: AppDatabase,
               artifacts: ArtifactStoreResource, **inputs) -> dg.MaterializeResult:  # fmt: skip
        settings = business.get()
        tz = ZoneInfo(settings.calendar.report_timezone)
        start, _, end = period_days(
            context.partition_time_window, settings.calendar.report_timezone
        )
        kpis = inputs["kpis"]
        if context.partition_key not in kpis:
            raise dg.Failure(f"{kpis_asset} has no partition {context.partition_key}")
        now_kpis = kpis[context.partition_key]
        cover = Coverage(start, end, tuple(
            d for d in (start + timedelta(days=i) for i in range((end - start).days + 1))
            if d.isoformat() not in set(now_kpis["missing_days"][0].split(", "))))  # fmt: skip
        counted = {d.isoformat() for d in cover.present}
        days = {a: stacked({k: f for k, f in inputs[a].items() if k in counted})
                for a in DAILY_INPUTS}  # fmt: skip
        earlier = [k for k in kpis if k != context.partition_key]
        before_kpis = kpis[earlier[0]] if earlier else None
        frames = {n: inputs[n] for n in names}
        content = (weekly_content if cadence == "weekly" else monthly_content)(
            frames, report_def.sections, settings
        )
        sources = ("strategic_initiatives", "initiative_milestones", "initiative_ledger")
        at_end = {n: inputs[n].get(end.isoformat()) for n in sources}
        if "initiative_roi" in report_def.sections and all(f is not None for f in at_end.values()):
            content.sections.append(initiative_roi_section(
                *at_end.values(), end, settings.person))  # fmt: skip
        report = build_period_report(
            key, start, end, days, now_kpis, before_kpis,
            _checks(app_db, sorted(counted)) + _checks(app_db, [context.partition_key],
                                                       [kpis_asset, *names]),
            settings, period_key=context.partition_key, analytics=content,
            generated_at=datetime.now(tz), coverage=cover,
            report_url=report_url(artifacts.report_base_url, key,
                                  context.partition_key))  # fmt: skip
        initiatives = initiative_rows(inputs["strategic_initiatives"].get(end.isoformat()),
                                      inputs["initiative_milestones"].get(end.isoformat()),
                                      end, settings.person)  # fmt: skip
        suffix = "this week" if cadence == "weekly" else f"{end:%B} to date"
        charts = period_charts(days, suffix, settings.branding.primary_color, settings)
        if "forecasts_monthly" in frames and "business_analysis_monthly" in frames:
            charts.append(forecast_figure(frames, settings.branding.primary_color))
        if "business_analysis_monthly" in frames:
            charts.append(ch.Chart("mrr_movements", ch.mrr_movements(
                frames["business_analysis_monthly"], "MRR movements, month by month",
                settings.branding.primary_color)))  # fmt: skip
        return render_report(
            report,
            report_def,
            charts,
            artifacts,
            app_db,
            settings,
            email_charts=("mrr_trend", "sla_trend"),
            decks={"initiatives": initiatives, "recommendations": content.recommendations},
        )

    return _asset


report_assets = [
    _daily_report_asset(k) if r.cadence == "daily" else _period_report_asset(k)
    for k, r in get_settings().reports.items()
    if r.kind == "business"  # the platform's own review: `platform.review_assets`
]
