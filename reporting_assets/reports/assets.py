"""Report assets (group `reports`): each report definition in config becomes one asset per
period that renders its PDF, workbook and email body into the artifact store.

The renderers are plain functions; this module reads the checked metric tables, builds the
report's content once, and hands it to each format the report definition asks for. A blocking
check failure upstream means the report asset does not run for that period.
"""

import base64
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from reporting_assets.config import get_settings, resolve
from reporting_assets.metrics.headline import headline_values
from reporting_assets.partitions import daily_partitions, day_window
from reporting_assets.reports import charts as ch
from reporting_assets.reports.daily import build_daily_report
from reporting_assets.reports.email_body import build_message
from reporting_assets.reports.excel import write_workbook
from reporting_assets.reports.model import CheckRow
from reporting_assets.reports.pdf import render_pdf
from reporting_assets.reports.store import ArtifactStore, describe, write_manifest
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.storage import AssetHistory

REPORTS_GROUP = "reports"
DAILY_INPUTS = ("revenue_protection_daily", "cost_optimization_daily",
                "operational_efficiency_daily", "critical_alerts_daily")  # fmt: skip
CHECKED_ASSETS = (
    "posthog_events",
    "account_snapshot",
    "cloud_costs",
    "incidents",
    "support_tickets",
    "deploy_runs",
    "account_activity_daily",
    *DAILY_INPUTS,
)
TREND_DAYS = 28


class ArtifactStoreResource(dg.ConfigurableResource):
    """Where rendered reports are kept (local folder under REPORTING_HOME by default)."""

    root: str = "var/artifacts"
    report_base_url: str = "https://reports.northwind.example"

    def store(self) -> ArtifactStore:
        return ArtifactStore(resolve(self.root))


def daily_charts(
    day: date, tables: dict, history: AssetHistory, primary: str, settings
) -> list[ch.Chart]:
    """The daily report's charts: MRR bridge and trend, spend vs budget, SLA trend."""
    keys = [(day - timedelta(days=k)).isoformat() for k in range(TREND_DAYS - 1, 0, -1)]
    trend = [
        headline_values(a, tables[a])
        for a in ("revenue_protection_daily", "operational_efficiency_daily")
    ]
    for asset in ("revenue_protection_daily", "operational_efficiency_daily"):
        stored = history.read(asset, keys)
        if stored is not None:
            trend.append(headline_values(asset, stored))
    long = pl.concat(trend).sort("date")
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


def _preview(png: bytes) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![chart](data:image/png;base64,{base64.b64encode(png).decode()})")


def _daily_report_asset(key: str) -> dg.AssetsDefinition:
    report_def = get_settings().reports[key]

    @dg.asset(
        name=key,
        partitions_def=daily_partitions,
        group_name=REPORTS_GROUP,
        kinds={"pdf", "excel", "email", "plotly"},
        deps=list(DAILY_INPUTS),
        description=f"{report_def.title}: the day's PDF report, Excel workbook and email body, "
        "built from checked metrics.",
        code_version="1",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        asset_history: AssetHistory,
        app_db: AppDatabase,
        artifacts: ArtifactStoreResource,
    ) -> dg.MaterializeResult:
        settings = get_settings()
        day = day_window(context.partition_key).day
        keys = [day.isoformat()]
        tables = {a: asset_history.read(a, keys) for a in DAILY_INPUTS}
        previous = {a: asset_history.read(a, [(day - timedelta(days=1)).isoformat()])
                    for a in DAILY_INPUTS}  # fmt: skip
        previous = {a: t for a, t in previous.items() if t is not None}
        checks = [
            CheckRow(r["asset"], r["check_name"], r["passed"], r["severity"], r["description"])
            for r in app_db.latest_checks(day.isoformat(), list(CHECKED_ASSETS))
        ]
        now = datetime.now(ZoneInfo(settings.calendar.report_timezone))
        report = build_daily_report(
            key, day, tables, previous, checks, settings, generated_at=now,
            report_url=f"{artifacts.report_base_url}/{key}/{day.isoformat()}")  # fmt: skip
        store = artifacts.store()
        draft = store.draft_dir(key, day.isoformat())
        chart_files = ch.export_charts(
            daily_charts(day, tables, asset_history, settings.branding.primary_color, settings),
            draft / "charts",
        )
        files, counts = {}, {}
        if "pdf" in report_def.formats:
            files["pdf"] = draft / f"{key}_{day.isoformat()}.pdf"
            counts["pdf"] = render_pdf(
                report, {n: p["svg"] for n, p in chart_files.items()}, files["pdf"]
            )
        if "xlsx" in report_def.formats:
            files["xlsx"] = draft / f"{key}_{day.isoformat()}.xlsx"
            counts["xlsx"] = {"sheets": len(write_workbook(report, files["xlsx"])["sheets"])}
        if "email" in report_def.formats:
            email = settings.channels.email
            to = [
                a
                for lst in report_def.distribution_lists
                for a in settings.distribution_lists[lst].to
            ]
            cc = [
                a
                for lst in report_def.distribution_lists
                for a in settings.distribution_lists[lst].cc
                if a not in to
            ]
            pngs = {n: chart_files[n]["png"].read_bytes() for n in ("mrr_waterfall", "budget_bars")}
            message = build_message(report, pngs, sender=email.sender, to=to, cc=cc)
            files["email"] = draft / "email.eml"
            files["email"].write_bytes(bytes(message))
        version = store.publish(key, day.isoformat(), draft)
        files = {k: version / p.name for k, p in files.items()}
        entries = describe(files, counts)
        write_manifest(version, entries)
        preview = (version / "charts" / "mrr_waterfall.png").read_bytes()
        return dg.MaterializeResult(metadata={
            "period": day.isoformat(),
            "version": version.name,
            "folder": dg.MetadataValue.path(str(version)),
            "files": dg.MetadataValue.json(entries),
            "pages": counts.get("pdf", {}).get("pages", 0),
            "alerts": len(report.alerts),
            "summary": dg.MetadataValue.md("\n".join(f"- {s}" for s in report.summary)),
            "preview": _preview(preview),
        })  # fmt: skip

    return _asset


report_assets = [_daily_report_asset(k) for k, r in get_settings().reports.items()
                 if r.cadence == "daily"]  # fmt: skip
