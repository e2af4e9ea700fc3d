"""The earlier days a daily asset reads: its declared windows stacked into one frame, which days
of a window are missing, and which days were blocked by a failed ERROR check."""

from datetime import date, timedelta

import polars as pl

from reporting_assets.metrics.layer import LONG_SCHEMA, METRIC_TABLES, day_list, headline_values
from reporting_assets.partitions import daily_partitions
from reporting_assets.quality.dagster_checks import check_label
from reporting_assets.resources.app_db import AppDatabase


def stacked(window: dict[str, pl.DataFrame], keys=None) -> pl.DataFrame | None:
    """The window's partitions (or those among `keys`) as one frame; None when there is none."""
    frames = [f for k, f in sorted(window.items()) if keys is None or k in keys]
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def headline_history(asset: str, past: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The asset's headline metrics over the earlier days it declared, long."""
    stored = stacked(past)
    return pl.DataFrame(schema=LONG_SCHEMA) if stored is None else headline_values(asset, stored)


def missing_days(window: dict, day: date, first: int, last: int) -> list[date]:
    """Days day+first..day+last (offsets) within the history that the window lacks."""
    start = daily_partitions.get_first_partition_window().start.date()
    want = [day + timedelta(days=k) for k in range(first, last + 1)]
    return [d for d in want if d >= start and d.isoformat() not in window]


# The daily assets whose failed ERROR check blocks a day: its figures are left out of every
# window and period that contains it, and said to be.
GATED_DAILY = (
    "posthog_events",
    "account_snapshot",
    "cloud_costs",
    "incidents",
    "support_tickets",
    "deploy_runs",
    "account_activity_daily",
    *METRIC_TABLES,
)


def blocked_days(
    app_db: AppDatabase, days: list[date], assets: tuple[str, ...] = GATED_DAILY
) -> dict[date, list[str]]:
    """The days whose latest run failed an ERROR check of these daily assets, with the checks."""
    out = {}
    for d in days:
        failed = [
            check_label(c["asset"], c["check_name"])
            for c in app_db.latest_checks(d.isoformat(), list(assets))
            if not c["passed"] and c["severity"] == "ERROR"
        ]
        if failed:
            out[d] = failed
    return out


def window_gaps(
    app_db: AppDatabase, gaps: list[date], what: str, assets: tuple[str, ...]
) -> tuple[list[str], str]:
    """A declared window's missing days, split: days never computed are a completeness problem
    (backfill them); days blocked by their own quality gate are left out by design and stated.
    Returns (problems, statement)."""
    blocked = blocked_days(app_db, gaps, assets)
    never = [d for d in gaps if d not in blocked]
    problems = (
        [
            f"{what} has no data for {day_list(never)}: materialize "
            f"{'that day' if len(never) == 1 else 'those days'} first (reporting backfill)"
        ]
        if never
        else []
    )
    statement = (
        f"{what} leaves out {day_list(blocked)} (blocked by "
        f"{', '.join(sorted({c for cs in blocked.values() for c in cs}))})"
        if blocked
        else "complete"
    )
    return problems, statement
