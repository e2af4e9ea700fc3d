"""The one Dagster code location of the reporting platform."""

import dagster as dg

from reporting_assets.analytics.monthly_assets import monthly_analytics_assets
from reporting_assets.analytics.weekly_assets import weekly_analytics_assets
from reporting_assets.config import get_settings
from reporting_assets.config.audience import data_team
from reporting_assets.distribution.assets import delivery_assets
from reporting_assets.jobs import (
    daily_history_job,
    daily_metrics_job,
    daily_report_job,
    daily_sources_job,
    delivery_jobs,
    enhancement_planning_job,
    monthly_kpis_job,
    monthly_report_job,
    platform_slo_job,
    strategic_review_job,
    weekly_analytics_job,
    weekly_report_job,
)
from reporting_assets.metrics.assets import metric_assets
from reporting_assets.metrics.period_assets import period_kpi_assets
from reporting_assets.platform.assets import platform_assets
from reporting_assets.platform.planning_assets import planning_assets
from reporting_assets.platform.review_assets import review_assets
from reporting_assets.reports.assets import report_assets
from reporting_assets.resources import build_resources
from reporting_assets.schedules import schedules
from reporting_assets.sensors import sensors
from reporting_assets.sources.assets import source_assets


def owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Who answers for an asset, from the config: a report and its deliveries belong to the
    report's owner; the data underneath to the data team. Report assets are tagged with their
    report and cadence."""
    settings = get_settings()
    name = spec.key.to_user_string()
    report = next((r for r in settings.reports if name == r or name.startswith(f"{r}_")), None)
    if report is None:
        return spec.replace_attributes(owners=data_team(settings))
    cadence = settings.reports[report].cadence
    return spec.replace_attributes(owners=[settings.reports[report].owner]).merge_attributes(
        tags={"report": report, "cadence": cadence}
    )


defs = dg.Definitions(
    assets=dg.map_asset_specs(
        owned,
        [
            *source_assets,
            *metric_assets,
            *period_kpi_assets,
            *weekly_analytics_assets,
            *monthly_analytics_assets,
            *report_assets,
            *delivery_assets,
            *platform_assets,
            *planning_assets,
            *review_assets,
        ],
    ),
    jobs=[
        daily_sources_job,
        daily_history_job,
        daily_metrics_job,
        daily_report_job,
        weekly_analytics_job,
        weekly_report_job,
        monthly_kpis_job,
        monthly_report_job,
        platform_slo_job,
        enhancement_planning_job,
        strategic_review_job,
        *delivery_jobs.values(),
    ],
    schedules=schedules,
    sensors=sensors,
    resources=build_resources(get_settings()),
)
