"""Jobs: the selections that schedules, sensors and analysts run."""

import dagster as dg

from reporting_assets.config import get_settings
from reporting_assets.distribution.assets import delivery_keys
from reporting_assets.metrics.gates import METRICS_GROUP
from reporting_assets.metrics.period_assets import MONTHLY_GROUP, WEEKLY_GROUP
from reporting_assets.platform.assets import platform_assets
from reporting_assets.sources.assets import SOURCES_GROUP

daily_sources_job = dg.define_asset_job(
    "daily_sources_job",
    selection=dg.AssetSelection.groups(SOURCES_GROUP),
    description="Load every source for one New York day.",
)

# What the daily metrics' trailing windows read (4 weeks of account activity and cloud costs):
# run it for the weeks before the first day you compute, so that day's windows are complete.
daily_history_job = dg.define_asset_job(
    "daily_history_job",
    selection=dg.AssetSelection.assets("posthog_events", "account_activity_daily", "cloud_costs"),
    description="Load one New York day's product events and cloud costs and compute its account "
    "activity: the history the daily metrics' 4-week windows read.",
)

daily_metrics_job = dg.define_asset_job(
    "daily_metrics_job",
    selection=dg.AssetSelection.groups(SOURCES_GROUP, METRICS_GROUP),
    description="Load one New York day's sources and compute, check and alert on its metrics.",
)

daily_report_job = dg.define_asset_job(
    "daily_report_job",
    selection=dg.AssetSelection.groups(SOURCES_GROUP, METRICS_GROUP)
    | dg.AssetSelection.assets("daily_executive", *delivery_keys("daily_executive")),
    description="One New York day end to end: sources, metrics and checks, then the daily "
    "report's PDF, workbook and email body, delivered on each of its channels.",
)

# The weeks before the one being reported, for its trends and "since last week": what an analyst
# backfills over a range of weeks (the reports themselves are not re-rendered).
weekly_analytics_job = dg.define_asset_job(
    "weekly_analytics_job",
    selection=dg.AssetSelection.groups(WEEKLY_GROUP),
    description="The week's KPIs, trends, scorecard, initiative progress and ROI, without "
    "rendering or sending the weekly report.",
)

monthly_kpis_job = dg.define_asset_job(
    "monthly_kpis_job",
    selection=dg.AssetSelection.assets("kpis_monthly"),
    description="The month's KPIs from its checked days (what the next month's report compares "
    "with), without the analysis or the report.",
)

weekly_report_job = dg.define_asset_job(
    "weekly_report_job",
    selection=dg.AssetSelection.groups(WEEKLY_GROUP)
    | dg.AssetSelection.assets("weekly_business_review", *delivery_keys("weekly_business_review")),
    description="The weekly analytics (trends, scorecard, initiatives, ROI) and the weekly "
    "business review (Sunday to Saturday, New York time): PDF, workbook, email body and the "
    "C-suite and VP decks, delivered on each of its channels.",
)

monthly_report_job = dg.define_asset_job(
    "monthly_report_job",
    selection=dg.AssetSelection.groups(MONTHLY_GROUP)
    | dg.AssetSelection.assets("monthly_board_report", *delivery_keys("monthly_board_report"))
    | dg.AssetSelection.assets(
        *(
            a
            for k, r in get_settings().reports.items()
            if r.kind == "platform"
            for a in (k, *delivery_keys(k))
        )
    ),
    description="The monthly analysis, models and recommendations, then the monthly board "
    "report for the month to date: PDF, workbook, email body and the board and strategy decks; "
    "opens its review (it is delivered once approved); and the reporting's own performance "
    "review of the month, for the data team (also reviewed before it goes out).",
)

platform_slo_job = dg.define_asset_job(
    "platform_slo_job",
    selection=dg.AssetSelection.assets(*platform_assets),
    description="The platform's service levels for one New York day: generation time, landing "
    "to delivery, delivery success, dashboard latency, report freshness and availability, each "
    "checked against its target.",
)

enhancement_planning_job = dg.define_asset_job(
    "enhancement_planning_job",
    selection=dg.AssetSelection.assets("enhancement_backlog_quarterly"),
    description="The quarter's enhancement backlog for the reports: what to drop, add, fix or "
    "speed up, ranked, each with its evidence.",
)

strategic_review_job = dg.define_asset_job(
    "strategic_review_job",
    selection=dg.AssetSelection.assets("strategic_review_annual"),
    description="The year's strategic review of the reporting: impact against targets, return "
    "on the reporting investment, the platform's service levels and growth, and the alignment "
    "of the reports with the year's initiatives.",
)

# One delivery job per report: what the review-approval sensor and `reporting resend` launch.
delivery_jobs = {
    key: dg.define_asset_job(
        f"{key}_delivery_job",
        selection=dg.AssetSelection.assets(*delivery_keys(key)),
        description=f"Deliver the current version of the {r.title} on each of its channels "
        "(what was delivered already is not sent again).",
    )
    for key, r in get_settings().reports.items()
}
