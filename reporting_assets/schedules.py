"""When the daily, weekly and monthly reports run on their own, in the report time zone.

The daily and weekly schedules request the last complete partition; the monthly one runs at 23:59
on the last day of the month and requests the month in progress, so the board gets the month to
date before it closes. The platform's quarterly enhancement plan and annual strategic review run
the same way, at 23:59 on the quarter's and the year's last day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from reporting_assets.jobs import (
    daily_report_job,
    enhancement_planning_job,
    monthly_report_job,
    platform_slo_job,
    strategic_review_job,
    weekly_report_job,
)
from reporting_assets.partitions import CADENCE_TAG, REPORT_TZ

MONTH_END_CRON = "59 23 L * *"
QUARTER_END_CRON = "59 23 L 3,6,9,12 *"
YEAR_END_CRON = "59 23 31 12 *"

# The cron and time zone of these two come from the jobs' partitions (America/New_York): 06:30
# local every day, Sunday 18:00 local every week, both DST-correct, each requesting the last
# complete partition (yesterday; the Sunday-to-Saturday week that ended at midnight).
daily_report_schedule = dg.build_schedule_from_partitioned_job(
    daily_report_job,
    name="daily_report_job_schedule",
    description="The daily executive report for yesterday (New York), at 06:30 New York time.",
    hour_of_day=6,
    minute_of_hour=30,
    tags={CADENCE_TAG: "daily"},
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

weekly_report_schedule = dg.build_schedule_from_partitioned_job(
    weekly_report_job,
    name="weekly_report_job_schedule",
    description="The weekly business review for the Sunday-to-Saturday week just ended, on "
    "Sunday at 18:00 New York time.",
    day_of_week=0,
    hour_of_day=18,
    minute_of_hour=0,
    tags={CADENCE_TAG: "weekly"},
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def month_in_progress_key(at: datetime, timezone: str = REPORT_TZ) -> str:
    """The monthly partition key ('2026-11-01') of the report-timezone month containing `at`."""
    return at.astimezone(ZoneInfo(timezone)).date().replace(day=1).isoformat()


# Partitioned-schedule helpers only request complete periods, so the month-end run that reports
# the month to date is a plain cron schedule. 23:59 New York is already the next day in UTC: the
# key must come from the New York date, never the UTC one.
@dg.schedule(
    name="monthly_report_job_schedule",
    cron_schedule=MONTH_END_CRON,
    execution_timezone=REPORT_TZ,
    job=monthly_report_job,
    description="The monthly board report for the month to date, at 23:59 New York time on the "
    "month's last day.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def monthly_report_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    partition_key = month_in_progress_key(context.scheduled_execution_time)
    return dg.RunRequest(
        partition_key=partition_key,
        run_key=partition_key,
        tags={CADENCE_TAG: "monthly"},
    )


def quarter_in_progress_key(at: datetime, timezone: str = REPORT_TZ) -> str:
    """The quarterly partition key ('2026-10-01') of the report-timezone quarter containing `at`."""
    day = at.astimezone(ZoneInfo(timezone)).date()
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1).isoformat()


@dg.schedule(
    name="enhancement_planning_job_schedule",
    cron_schedule=QUARTER_END_CRON,
    execution_timezone=REPORT_TZ,
    job=enhancement_planning_job,
    description="The quarter's enhancement backlog, at 23:59 New York time on the quarter's last "
    "day (31 March, 30 June, 30 September, 31 December).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def enhancement_planning_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    key = quarter_in_progress_key(context.scheduled_execution_time)
    return dg.RunRequest(partition_key=key, run_key=key, tags={CADENCE_TAG: "quarterly"})


@dg.schedule(
    name="strategic_review_job_schedule",
    cron_schedule=YEAR_END_CRON,
    execution_timezone=REPORT_TZ,
    job=strategic_review_job,
    description="The year's strategic review of the reporting, at 23:59 New York time on 31 "
    "December.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def strategic_review_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(ZoneInfo(REPORT_TZ)).date()
    key = day.replace(month=1, day=1).isoformat()
    return dg.RunRequest(partition_key=key, run_key=key, tags={CADENCE_TAG: "yearly"})


# The platform's day is judged once the daily report is due (07:30): at 07:45 for yesterday. The
# week ending on Saturday is due on Sunday at 19:00, so Saturday is judged again at 19:45 on Sunday.
platform_slo_schedule = dg.build_schedule_from_partitioned_job(
    platform_slo_job,
    name="platform_slo_job_schedule",
    description="Yesterday's platform SLOs (New York), at 07:45 New York time, after the daily "
    "report's deadline.",
    hour_of_day=7,
    minute_of_hour=45,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.schedule(
    name="platform_slo_weekly_schedule",
    cron_schedule="45 19 * * 0",
    execution_timezone=REPORT_TZ,
    job=platform_slo_job,
    description="Saturday's platform SLOs again on Sunday at 19:45 New York time, after the "
    "weekly report's deadline, so the week's report is judged too.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def platform_slo_weekly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    sunday = context.scheduled_execution_time.astimezone(ZoneInfo(REPORT_TZ)).date()
    key = (sunday - timedelta(days=1)).isoformat()
    return dg.RunRequest(partition_key=key, run_key=f"weekly-{key}")


schedules = [
    daily_report_schedule,
    weekly_report_schedule,
    monthly_report_schedule,
    platform_slo_schedule,
    platform_slo_weekly_schedule,
    enhancement_planning_schedule,
    strategic_review_schedule,
]
