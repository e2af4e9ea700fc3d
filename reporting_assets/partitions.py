"""The report time zone and the daily / weekly / monthly / quarterly / yearly partitions every
asset is cut by.

Periods are calendar periods in the report time zone (America/New_York by default): a daily
partition is one New York day (23, 24 or 25 hours long), a week runs Sunday to Saturday, and the
monthly partitions include the month in progress so the month-end run covers the month to date.
The quarterly and yearly partitions (the platform's enhancement planning and strategic review)
likewise include the quarter and the year in progress, and start with the quarter and the year
that hold the first day, so a review of a year the platform joined midway exists and says which
months it lacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from reporting_assets.config import get_settings
from reporting_assets.lib.days import day_bounds_utc

_calendar = get_settings().calendar
REPORT_TZ = _calendar.report_timezone


@dataclass(frozen=True)
class DayWindow:
    """One report-timezone day and the UTC instants it spans."""

    day: date
    start_utc: datetime
    end_utc: datetime

    @property
    def label(self) -> str:
        return self.day.isoformat()


def day_window(partition_key: str, timezone: str = REPORT_TZ) -> DayWindow:
    """The window of a daily partition key such as '2026-11-27'."""
    day = date.fromisoformat(partition_key)
    start, end = day_bounds_utc(day, ZoneInfo(timezone))
    return DayWindow(day, start, end)


def today(timezone: str = REPORT_TZ) -> date:
    """Today in the report time zone. `REPORTING_TODAY` (YYYY-MM-DD) pins it, to re-run a
    period as it stood on a given day, or to test against a demo company that ended earlier."""
    pinned = os.environ.get("REPORTING_TODAY")
    return date.fromisoformat(pinned) if pinned else datetime.now(ZoneInfo(timezone)).date()


PARTITIONS_START = _calendar.first_partition_day(today()).isoformat()

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone=REPORT_TZ)
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone=REPORT_TZ, day_offset=0
)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone=REPORT_TZ, end_offset=1
)
_first = date.fromisoformat(PARTITIONS_START)
QUARTERS_START = _first.replace(month=(_first.month - 1) // 3 * 3 + 1, day=1).isoformat()
YEARS_START = _first.replace(month=1, day=1).isoformat()
quarterly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 */3 *",  # 1 January, April, July and October
    start=QUARTERS_START,
    fmt="%Y-%m-%d",
    timezone=REPORT_TZ,
    end_offset=1,
)
yearly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1 *", start=YEARS_START, fmt="%Y-%m-%d", timezone=REPORT_TZ, end_offset=1
)


def latest_complete_day(now: datetime | None = None, timezone: str = REPORT_TZ) -> date:
    """Yesterday in the report time zone: the last day whose data is complete."""
    if now is None:
        return today(timezone) - timedelta(days=1)
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def period_days(window: dg.TimeWindow, timezone: str = REPORT_TZ) -> tuple[date, date, date]:
    """(first day, last day, last day with data due) of a weekly, monthly, quarterly or yearly
    partition's window: a period that has ended is due in full; one in progress up to
    yesterday."""
    tz = ZoneInfo(timezone)
    start = window.start.astimezone(tz).date()
    last = window.end.astimezone(tz).date() - timedelta(days=1)
    return start, last, min(last, latest_complete_day(timezone=timezone))


# The run tag the run queue limits by cadence (deploy/dagster.yaml: month-ends one at a time);
# the schedules and `reporting backfill` put it on their runs.
CADENCE_TAG = "reporting/cadence"


def cadence(partitions_def: dg.PartitionsDefinition | None) -> str | None:
    """The cadence of one of the partitions above (daily, weekly, monthly, quarterly, yearly)."""
    named = {
        "daily": daily_partitions,
        "weekly": weekly_partitions,
        "monthly": monthly_partitions,
        "quarterly": quarterly_partitions,
        "yearly": yearly_partitions,
    }
    return next((name for name, pdef in named.items() if pdef == partitions_def), None)
