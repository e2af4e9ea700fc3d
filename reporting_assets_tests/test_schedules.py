"""The schedules fire when we expect, in New York time, and request the right partitions.

Each schedule is evaluated at chosen instants (DST changes, month-ends, a leap day) and the
partition key it requests is checked; the crons and time zones are snapshotted so that a drifting
schedule shows up in review.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from reporting_assets.definitions import defs
from reporting_assets.partitions import REPORT_TZ
from reporting_assets.schedules import (
    daily_report_schedule,
    enhancement_planning_schedule,
    monthly_report_schedule,
    platform_slo_schedule,
    platform_slo_weekly_schedule,
    schedules,
    strategic_review_schedule,
    weekly_report_schedule,
)

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")

EXPECTED_SCHEDULES = {
    # schedule: (job, cron, time zone)
    "daily_report_job_schedule": ("daily_report_job", "30 6 * * *", "America/New_York"),
    "weekly_report_job_schedule": ("weekly_report_job", "0 18 * * 0", "America/New_York"),
    "monthly_report_job_schedule": ("monthly_report_job", "59 23 L * *", "America/New_York"),
    "platform_slo_job_schedule": ("platform_slo_job", "45 7 * * *", "America/New_York"),
    "platform_slo_weekly_schedule": ("platform_slo_job", "45 19 * * 0", "America/New_York"),
    "enhancement_planning_job_schedule": (
        "enhancement_planning_job",
        "59 23 L 3,6,9,12 *",
        "America/New_York",
    ),
    "strategic_review_job_schedule": ("strategic_review_job", "59 23 31 12 *", "America/New_York"),
}


@pytest.fixture(scope="module")
def schedule_defs() -> dg.Definitions:
    """The code location's assets, jobs and resources with these schedules, whether or not
    definitions.py wires them in yet (the partitioned schedules resolve only against the assets).
    """
    return dg.Definitions(
        assets=defs.assets,
        jobs=defs.jobs,
        resources=defs.resources,
        schedules=schedules,
    )


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def requested(
    schedule_defs: dg.Definitions,
    instance: dg.DagsterInstance,
    schedule_name: str,
    at: datetime,
) -> list[dg.RunRequest]:
    """The run requests of one tick of the schedule scheduled for `at` (an aware datetime)."""
    schedule = schedule_defs.resolve_schedule_def(schedule_name)
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=at,
        repository_def=schedule_defs.get_repository_def(),
    )
    data = schedule.evaluate_tick(context)
    assert not data.skip_message, data.skip_message
    return list(data.run_requests or [])


def requested_key(
    schedule_defs: dg.Definitions, instance: dg.DagsterInstance, schedule_name: str, at: datetime
) -> str:
    (request,) = requested(schedule_defs, instance, schedule_name, at)
    assert request.partition_key is not None
    assert request.run_key == request.partition_key
    return request.partition_key


def test_schedule_names_crons_and_timezones(schedule_defs: dg.Definitions) -> None:
    assert REPORT_TZ == "America/New_York"
    assert [s.name for s in schedules] == list(EXPECTED_SCHEDULES)
    actual = {}
    for name in EXPECTED_SCHEDULES:
        schedule = schedule_defs.resolve_schedule_def(name)
        actual[name] = (schedule.job_name, schedule.cron_schedule, schedule.execution_timezone)
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert actual == EXPECTED_SCHEDULES


@pytest.mark.parametrize(
    ("local_day", "expected_key"),
    [
        ("2026-01-15", "2026-01-14"),
        ("2026-07-01", "2026-06-30"),
        ("2026-03-01", "2026-02-28"),
        ("2026-03-08", "2026-03-07"),  # spring forward (02:00 -> 03:00)
        ("2026-03-09", "2026-03-08"),  # the day after: yesterday was 23 hours long
        ("2026-11-01", "2026-10-31"),  # fall back (02:00 -> 01:00)
        ("2026-11-02", "2026-11-01"),  # the day after: yesterday was 25 hours long
        ("2027-01-01", "2026-12-31"),
    ],
)
def test_daily_requests_yesterday(
    schedule_defs: dg.Definitions, instance: dg.DagsterInstance, local_day: str, expected_key: str
) -> None:
    at = datetime.fromisoformat(local_day).replace(hour=6, minute=30, tzinfo=NY)
    (request,) = requested(schedule_defs, instance, daily_report_schedule.name, at)
    assert request.partition_key == expected_key
    assert request.run_key == expected_key
    assert request.tags["reporting/cadence"] == "daily"


@pytest.mark.parametrize(
    ("local_sunday", "expected_key"),
    [
        ("2026-03-08", "2026-03-01"),  # DST starts that morning; the week is 1-7 March
        ("2026-11-01", "2026-10-25"),  # DST ends that morning; the week is 25-31 October
        ("2026-01-04", "2025-12-28"),  # a week across the year end
    ],
)
def test_weekly_requests_the_week_just_ended(
    schedule_defs: dg.Definitions,
    instance: dg.DagsterInstance,
    local_sunday: str,
    expected_key: str,
) -> None:
    at = datetime.fromisoformat(local_sunday).replace(hour=18, tzinfo=NY)
    assert at.weekday() == 6  # Sunday
    (request,) = requested(schedule_defs, instance, weekly_report_schedule.name, at)
    assert request.partition_key == expected_key
    assert request.run_key == expected_key
    assert request.tags["reporting/cadence"] == "weekly"


@pytest.mark.parametrize(
    ("last_day", "expected_key"),
    [
        ("2026-11-30", "2026-11-01"),
        ("2026-02-28", "2026-02-01"),
        ("2028-02-29", "2028-02-01"),  # leap year
        ("2026-12-31", "2026-12-01"),
        ("2026-03-31", "2026-03-01"),  # the month DST starts
    ],
)
def test_monthly_requests_the_month_in_progress(
    schedule_defs: dg.Definitions, instance: dg.DagsterInstance, last_day: str, expected_key: str
) -> None:
    at = datetime.fromisoformat(last_day).replace(hour=23, minute=59, tzinfo=NY)
    # 23:59 New York is already tomorrow in UTC: the key must still be the New York month.
    assert at.astimezone(UTC).date() != at.date()
    assert at.astimezone(UTC).date() == at.date() + timedelta(days=1)
    (request,) = requested(schedule_defs, instance, monthly_report_schedule.name, at)
    assert request.partition_key == expected_key
    assert request.run_key == expected_key
    assert request.tags["reporting/cadence"] == "monthly"


def test_monthly_key_from_a_utc_scheduled_time(
    schedule_defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    """The daemon may hand the schedule a UTC datetime; the key still follows New York."""
    at = datetime(2026, 12, 1, 4, 59, tzinfo=UTC)  # 2026-11-30 23:59 EST
    assert requested_key(schedule_defs, instance, monthly_report_schedule.name, at) == "2026-11-01"


def test_monthly_ticks_on_the_last_day_of_each_month(schedule_defs: dg.Definitions) -> None:
    schedule = schedule_defs.resolve_schedule_def(monthly_report_schedule.name)
    start = datetime(2027, 12, 15, tzinfo=NY).timestamp()
    ticks = itertools.islice(
        cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone), 4
    )
    assert [t.astimezone(NY).isoformat() for t in ticks] == [
        "2027-12-31T23:59:00-05:00",
        "2028-01-31T23:59:00-05:00",
        "2028-02-29T23:59:00-05:00",
        "2028-03-31T23:59:00-04:00",
    ]


def test_daily_ticks_stay_at_0630_local_across_the_november_dst_change(
    schedule_defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    schedule = schedule_defs.resolve_schedule_def(daily_report_schedule.name)
    start = datetime(2026, 10, 31, tzinfo=NY).timestamp()
    ticks = list(
        itertools.islice(
            cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone), 4
        )
    )
    assert [t.astimezone(NY).isoformat() for t in ticks] == [
        "2026-10-31T06:30:00-04:00",
        "2026-11-01T06:30:00-05:00",
        "2026-11-02T06:30:00-05:00",
        "2026-11-03T06:30:00-05:00",
    ]
    # 25 hours from the first tick to the second: the clock went back, the local time did not.
    assert ticks[1].timestamp() - ticks[0].timestamp() == timedelta(hours=25).total_seconds()
    keys = [requested_key(schedule_defs, instance, schedule.name, t) for t in ticks]
    assert keys == ["2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02"]


@pytest.mark.parametrize(
    ("at", "schedule_name", "expected_key"),
    [
        # 07:45 New York, after the daily report's 07:30 deadline: yesterday's platform day.
        (datetime(2026, 3, 9, 7, 45, tzinfo=NY), platform_slo_schedule.name, "2026-03-08"),
        (datetime(2026, 11, 2, 7, 45, tzinfo=NY), platform_slo_schedule.name, "2026-11-01"),
        # Sunday 19:45, after the weekly report's 19:00 deadline: Saturday again.
        (datetime(2026, 3, 8, 19, 45, tzinfo=NY), platform_slo_weekly_schedule.name, "2026-03-07"),
        # 00:45 UTC on Monday is still Sunday evening in New York.
        (datetime(2026, 11, 2, 0, 45, tzinfo=UTC), platform_slo_weekly_schedule.name, "2026-10-31"),
    ],
)
def test_platform_slos_are_judged_after_the_deadlines(
    schedule_defs: dg.Definitions,
    instance: dg.DagsterInstance,
    at: datetime,
    schedule_name: str,
    expected_key: str,
) -> None:
    (request,) = requested(schedule_defs, instance, schedule_name, at)
    assert request.partition_key == expected_key


@pytest.mark.parametrize(
    ("last_day", "expected_key"),
    [
        ("2026-03-31", "2026-01-01"),
        ("2026-06-30", "2026-04-01"),
        ("2026-09-30", "2026-07-01"),
        ("2026-12-31", "2026-10-01"),
    ],
)
def test_the_enhancement_plan_requests_the_quarter_in_progress_on_its_last_day(
    schedule_defs: dg.Definitions, instance: dg.DagsterInstance, last_day: str, expected_key: str
) -> None:
    at = datetime.fromisoformat(last_day).replace(hour=23, minute=59, tzinfo=NY)
    (request,) = requested(schedule_defs, instance, enhancement_planning_schedule.name, at)
    assert (request.partition_key, request.run_key) == (expected_key, expected_key)
    assert request.tags["reporting/cadence"] == "quarterly"
    # The daemon may hand it a UTC time, already the next quarter's first day in UTC.
    assert (
        requested_key(
            schedule_defs, instance, enhancement_planning_schedule.name, at.astimezone(UTC)
        )
        == expected_key
    )


def test_the_quarterly_and_annual_reviews_tick_on_the_last_day_of_the_period(
    schedule_defs: dg.Definitions,
) -> None:
    start = datetime(2027, 12, 15, tzinfo=NY).timestamp()
    for name, expected in (
        (
            enhancement_planning_schedule.name,
            ["2027-12-31T23:59:00-05:00", "2028-03-31T23:59:00-04:00", "2028-06-30T23:59:00-04:00"],
        ),
        (
            strategic_review_schedule.name,
            ["2027-12-31T23:59:00-05:00", "2028-12-31T23:59:00-05:00"],
        ),
    ):
        schedule = schedule_defs.resolve_schedule_def(name)
        ticks = itertools.islice(
            cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone),
            len(expected),
        )
        assert [t.astimezone(NY).isoformat() for t in ticks] == expected


def test_the_strategic_review_requests_the_year_in_progress_on_31_december(
    schedule_defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    at = datetime(2026, 12, 31, 23, 59, tzinfo=NY)
    (request,) = requested(schedule_defs, instance, strategic_review_schedule.name, at)
    assert (request.partition_key, request.tags["reporting/cadence"]) == ("2026-01-01", "yearly")
