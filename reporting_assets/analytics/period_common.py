"""What the weekly and monthly analytics assets share: their check specs, the week of a run,
snapshots and the previous period's table."""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from reporting_assets.config import get_settings
from reporting_assets.partitions import period_days
from reporting_assets.quality.dagster_checks import (
    ANALYTICS_GATES,
    check_specs,
)

TOL = 0.01
TREND_WEEKS = get_settings().analytics.trend_weeks
SCORE_HISTORY_WEEKS = 8


def analytics_specs(asset: str, *extra: str) -> list[dg.AssetCheckSpec]:
    return check_specs(asset, [*ANALYTICS_GATES, *extra])


def week_of(context: dg.AssetExecutionContext) -> tuple[date, date]:
    start, end, _ = period_days(context.partition_time_window)
    return start, end


def snapshot_at(window: dict[str, pl.DataFrame], day: date, name: str) -> pl.DataFrame:
    """A daily snapshot source (initiatives, milestones, ledger) as it stood on `day`."""
    if day.isoformat() not in window:
        raise dg.Failure(f"no {name} snapshot for {day}: run daily_sources_job for {day}")
    return window[day.isoformat()]


def previous(past: dict[str, pl.DataFrame], period: date, step: timedelta) -> pl.DataFrame | None:
    """The stored partition of the period just before `period`, if any."""
    return past.get((period - step).isoformat())
