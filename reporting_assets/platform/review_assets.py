"""The platform's own monthly performance review as a report asset (group `step5_reports`, with
the other reports):
its content from the web app's records, the ledger and the month's service-level checks
(`reports.performance`), rendered and reviewed like any report."""

from datetime import timedelta

import dagster as dg

from reporting_assets.config import get_settings
from reporting_assets.lib.links import report_url
from reporting_assets.partitions import monthly_partitions, period_days
from reporting_assets.platform.assets import platform_assets
from reporting_assets.records.engagement import service_level_month
from reporting_assets.reports.performance import performance_review
from reporting_assets.reports.rendering import REPORTS_GROUP, freshness, render_report
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStoreResource
from reporting_assets.resources.settings import SettingsResource

# The service-level assets whose checks make the performance review's "Service levels".
SERVICE_LEVEL_ASSETS = tuple(a.key.to_user_string() for a in platform_assets)


def platform_review_asset(key: str) -> dg.AssetsDefinition:
    report_def = get_settings().reports[key]

    @dg.asset(
        name=key,
        partitions_def=monthly_partitions,
        group_name=REPORTS_GROUP,
        kinds={"pdf", "email"},
        freshness_policy=freshness("monthly"),
        description=f"{report_def.title}: the month's review of the reporting itself, for the "
        "data team. Who reads which reports and sections, their ratings and comments, sections "
        "nobody opens, delivery to first open and acknowledgement per channel, the service "
        "levels; opens a review like the board report.",
        code_version="1",
    )
    def _asset(context: dg.AssetExecutionContext, business: SettingsResource, app_db: AppDatabase,
               artifacts: ArtifactStoreResource) -> dg.MaterializeResult:  # fmt: skip
        settings = business.get()
        start, _, end = period_days(
            context.partition_time_window, settings.calendar.report_timezone
        )
        days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        report = performance_review(
            settings, app_db.engine, key, start, end,
            service_levels=service_level_month(app_db.engine, SERVICE_LEVEL_ASSETS, days),
            report_url=report_url(artifacts.report_base_url, key, context.partition_key),
        )  # fmt: skip
        return render_report(report, report_def, [], artifacts, app_db, settings,
                             email_charts=())  # fmt: skip

    return _asset


# One asset per report of kind "platform" in config (the demo has one: performance_review).
review_assets = [platform_review_asset(k) for k, r in get_settings().reports.items()
                 if r.kind == "platform"]  # fmt: skip
