"""The one Dagster code location of the reporting platform."""

import dagster as dg

from reporting_assets.analytics.monthly_assets import monthly_analytics_assets
from reporting_assets.analytics.weekly_assets import weekly_analytics_assets
from reporting_assets.config import get_settings
from reporting_assets.distribution.assets import delivery_assets
from reporting_assets.jobs import (
    daily_history_job,
    daily_metrics_job,
    daily_report_job,
    daily_sources_job,
    delivery_jobs,
    monthly_kpis_job,
    monthly_report_job,
    weekly_analytics_job,
    weekly_report_job,
)
from reporting_assets.metrics.assets import metric_assets
from reporting_assets.metrics.period_assets import period_kpi_assets
from reporting_assets.reports.assets import report_assets
from reporting_assets.resources import build_resources
from reporting_assets.schedules import schedules
from reporting_assets.sensors import sensors
from reporting_assets.sources.assets import source_assets

defs = dg.Definitions(
    assets=[
        *source_assets,
        *metric_assets,
        *period_kpi_assets,
        *weekly_analytics_assets,
        *monthly_analytics_assets,
        *report_assets,
        *delivery_assets,
    ],
    jobs=[
        daily_sources_job,
        daily_history_job,
        daily_metrics_job,
        daily_report_job,
        weekly_analytics_job,
        weekly_report_job,
        monthly_kpis_job,
        monthly_report_job,
        *delivery_jobs.values(),
    ],
    schedules=schedules,
    sensors=sensors,
    resources=build_resources(get_settings()),
)
