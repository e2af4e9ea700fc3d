"""The report time zone and the daily / weekly / monthly partitions every asset is cut by.

Periods are calendar periods in the report time zone (America/New_York by default): a daily
partition is one New York day (23, 24 or 25 hours long), a week runs Sunday to Saturday, and the
monthly partitions include the month in progress so the month-end run covers the month to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from reporting_assets.config import get_settings
from reporting_assets.demo.company import day_bounds_utc

_settings = get_settings()
REPORT_TZ = _settings.calendar.report_timezone
HISTORY_START = _settings.calendar.history_start.isoformat()

daily_partitions = dg.DailyPartitionsDefinition(start_date=HISTORY_START, timezone=REPORT_TZ)
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=HISTORY_START, timezone=REPORT_TZ, day_offset=0
)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=HISTORY_START, timezone=REPORT_TZ, end_offset=1
)


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


def latest_complete_day(now: datetime | None = None, timezone: str = REPORT_TZ) -> date:
    """Yesterday in the report time zone: the last day whose data is complete."""
    tz = ZoneInfo(timezone)
    now = (now or datetime.now(tz)).astimezone(tz)
    return now.date() - timedelta(days=1)
