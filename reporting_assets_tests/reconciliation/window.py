"""The window the reconciliation tests materialize, and how they run it through Dagster.

February 2026 and the first two weeks of March run as the schedules run them (daily_metrics_job
day by day; the last day through daily_report_job, which also renders its daily report), then
the weekly and monthly report jobs of `PERIODS`. The four weeks before February are loaded with
daily_history_job only: what the trailing windows read (the 28-day usage and cost history, the
same-weekday event volume). The window holds every demo anomaly. The tracking-outage day fails its
quality gate on purpose: it publishes no metrics, and a period holding it publishes no report.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from reporting_assets_tests.conftest import label

FIRST, LAST = date(2026, 2, 1), date(2026, 3, 14)
WARM_UP = FIRST - timedelta(weeks=4)
# "Today" while the window runs: the day after it, so March is the month to date (1st – LAST).
TODAY = LAST + timedelta(days=1)
# (report, period key) -> cadence: the two weeks and the two months the window touches.
PERIODS = {
    ("weekly_business_review", "2026-02-01"): "weekly",  # holds the tracking outage
    ("weekly_business_review", "2026-03-08"): "weekly",  # the latest complete week (DST)
    ("monthly_board_report", "2026-02-01"): "monthly",
    ("monthly_board_report", "2026-03-01"): "monthly",  # month to date
}
# The periods that publish a report: those without the tracking-outage day (3 February 2026).
# `test_unpublished_periods_are_those_holding_a_blocked_day` checks this against the raw data.
PUBLISHED = [p for p in PERIODS if p[1] != "2026-02-01"]
JOBS = {"weekly": "weekly_report_job", "monthly": "monthly_report_job"}
DAILY_REPORT = ("daily_executive", LAST.isoformat())
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
METRIC_TABLES = (
    "revenue_protection_daily",
    "cost_optimization_daily",
    "operational_efficiency_daily",
)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def failures(result) -> list[str]:
    """What stopped a run: failed ERROR checks and failed steps (empty for a successful run)."""
    found = [
        f"{label(check)}: {check.description}"
        for check in result.get_asset_check_evaluations()
        if not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    ]
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error.cause is not None:  # the user code's own error, not Dagster's wrapper
            error = error.cause
        found.append(f"step {event.step_key}: {error.message.strip().splitlines()[-1]}")
    if not result.success and not found:
        found.append("the run failed")
    return found


def materialize(home: Path, demo_root: Path) -> dict:
    """Run the window in a private REPORTING_HOME (`home`) over the demo company: the warm-up
    history, every day FIRST..LAST, then the PERIODS' report jobs. REPORTING_HOME and
    REPORTING_TODAY are set for the runs only and restored afterwards. Returns what stopped each
    run (`history` and `daily`: {day: failures}; `reports`: {(report, key): failures}) and the
    paths the tests read."""
    from reporting_assets.definitions import defs
    from reporting_assets.resources.artifacts import ArtifactStore

    (home / "var").mkdir(parents=True, exist_ok=True)
    (home / "var" / "demo").symlink_to(demo_root)
    started = time.perf_counter()
    history, daily, reports = {}, {}, {}
    saved = {k: os.environ.get(k) for k in ("REPORTING_HOME", "REPORTING_TODAY")}

    def run(job: str, key: str) -> list[str]:
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=key, instance=instance, run_config=QUIET, raise_on_error=False
        )
        return failures(result)

    try:
        os.environ["REPORTING_HOME"] = str(home)
        os.environ["REPORTING_TODAY"] = TODAY.isoformat()
        with dg.DagsterInstance.ephemeral() as instance:
            for day in days(WARM_UP, FIRST - timedelta(days=1)):
                history[day] = run("daily_history_job", day.isoformat())
            for day in days(FIRST, LAST):
                job = "daily_report_job" if day.isoformat() == DAILY_REPORT[1] else None
                daily[day] = run(job or "daily_metrics_job", day.isoformat())
            reports[DAILY_REPORT] = daily[LAST]
            for (report, key), cadence in PERIODS.items():
                reports[(report, key)] = run(JOBS[cadence], key)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print(
        f"\nreconciliation: {len(daily)} days and {len(reports)} reports materialized in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return {
        "home": home,
        "history": history,
        "daily": daily,
        "reports": reports,
        "assets": home / "var" / "data" / "assets",
        "store": ArtifactStore(home / "var" / "artifacts"),
    }
