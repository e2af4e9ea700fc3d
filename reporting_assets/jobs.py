"""Jobs: the selections that schedules, sensors and analysts run."""

import dagster as dg

from reporting_assets.metrics.assets import METRICS_GROUP
from reporting_assets.sources.assets import SOURCES_GROUP

daily_sources_job = dg.define_asset_job(
    "daily_sources_job",
    selection=dg.AssetSelection.groups(SOURCES_GROUP),
    description="Load every source for one New York day.",
)

daily_metrics_job = dg.define_asset_job(
    "daily_metrics_job",
    selection=dg.AssetSelection.groups(SOURCES_GROUP, METRICS_GROUP),
    description="Load one New York day's sources and compute, check and alert on its metrics.",
)

daily_report_job = dg.define_asset_job(
    "daily_report_job",
    selection=dg.AssetSelection.groups(SOURCES_GROUP, METRICS_GROUP)
    | dg.AssetSelection.assets("daily_executive", "daily_executive_email"),
    description="One New York day end to end: sources, metrics and checks, then the daily "
    "report's PDF, workbook and email body, sent to its distribution lists.",
)

weekly_report_job = dg.define_asset_job(
    "weekly_report_job",
    selection=dg.AssetSelection.assets("weekly_business_review", "weekly_business_review_email"),
    description="The weekly business review (Sunday to Saturday, New York time): PDF, workbook, "
    "email body and the C-suite and VP decks, from the week's checked daily metrics.",
)

monthly_report_job = dg.define_asset_job(
    "monthly_report_job",
    selection=dg.AssetSelection.assets("monthly_board_report", "monthly_board_report_email"),
    description="The monthly board report for the month to date: PDF, workbook, email body and "
    "the board and strategy decks.",
)
