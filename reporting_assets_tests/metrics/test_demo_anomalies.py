"""On the demo company, every injected anomaly is caught by the check or alert meant to catch
it, on the right date, and nothing fires on the clean control day. The days run as a daily
partition backfill, oldest first, as `reporting backfill` runs them; the first weeks on an
in-memory instance, the last week on a PostgreSQL-backed one (dagster-postgres opens a
connection per event, about 3 s a run here, so the whole range there would take minutes)."""

import time
from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest

from reporting_assets.definitions import defs
from reporting_assets_tests.conftest import DEMO_END, label, manifest_dates, pg_parts

pytestmark = pytest.mark.postgres
FIRST = date(2026, 1, 6)  # 4 weeks before the tracking outage, 8 before the control day
ON_POSTGRES = DEMO_END - timedelta(days=6)
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@pytest.fixture(scope="module")
def backfill(demo_company, demo_history, pg_url, reporting_home):
    """Run daily_metrics_job for every day FIRST..DEMO_END; keep each run's outcome."""
    overrides = {"storage": {"postgres": {"postgres_db": {
        **pg_parts(pg_url), "scheme": "postgresql+psycopg2"}}}}  # fmt: skip
    job = defs.resolve_job_def("daily_metrics_job")
    runs = {}

    timings: list[float] = []

    def run(day: date, instance) -> None:
        started = time.perf_counter()
        result = job.execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False, run_config=QUIET
        )
        checks = {label(c): c for c in result.get_asset_check_evaluations()}
        runs[day.isoformat()] = (result.success, checks)
        timings.append(time.perf_counter() - started)

    with dg.DagsterInstance.ephemeral() as instance:
        for k in range((ON_POSTGRES - FIRST).days):
            run(FIRST + timedelta(days=k), instance)
    with dg.instance_for_test(overrides=overrides) as instance:
        on_pg = [ON_POSTGRES + timedelta(days=k) for k in range((DEMO_END - ON_POSTGRES).days + 1)]
        for day in on_pg:
            run(day, instance)
        status = instance.get_status_by_partition(
            dg.AssetKey("revenue_protection_daily"), [d.isoformat() for d in on_pg],
            defs.resolve_assets_def("revenue_protection_daily").partitions_def)  # fmt: skip
    print(f"backfill: {len(timings)} runs, median {sorted(timings)[len(timings) // 2]:.2f} s")
    assets = reporting_home / "var/data/assets"
    yield {"runs": runs, "status": status, "assets": assets, "dates": manifest_dates(demo_company),
           "control": demo_company["control_day"]}  # fmt: skip


def alerts_on(backfill, day: str) -> dict[str, str]:
    frame = pl.read_parquet(backfill["assets"] / "critical_alerts_daily" / f"{day}.parquet")
    return dict(zip(frame.get_column("rule"), frame.get_column("severity"), strict=True))


def failed(checks) -> dict[str, str]:
    return {name: ev.description for name, ev in checks.items() if not ev.passed}


def test_backfill_completes_and_only_the_outage_day_is_blocked(backfill):
    outage = backfill["dates"]["tracking_outage"]
    failures = [d for d, (ok, _) in backfill["runs"].items() if not ok]
    assert failures == [outage]
    # The last week ran on PostgreSQL: every day is recorded there as materialized.
    assert len(backfill["status"]) == 7
    assert set(backfill["status"].values()) == {dg.AssetPartitionStatus.MATERIALIZED}


def test_payment_failure_spike_raises_a_critical_alert(backfill):
    day = backfill["dates"]["payment_failure_spike"]
    assert alerts_on(backfill, day)["payment_failures_high"] == "critical"
    day_before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    assert alerts_on(backfill, day_before)["payment_failures_high"] != "critical"


def test_incident_surge_raises_a_critical_alert(backfill):
    day = backfill["dates"]["incident_surge"]
    assert alerts_on(backfill, day)["incident_surge"] == "critical"


def test_cost_spike_is_flagged_alerted_and_off_history(backfill):
    day = backfill["dates"]["cost_spike"]
    assert alerts_on(backfill, day)["spend_over_budget"] in ("warning", "critical")
    costs = pl.read_parquet(backfill["assets"] / "cost_optimization_daily" / f"{day}.parquet")
    flagged = costs.filter(pl.col("anomalous") & (pl.col("level") == "line"))
    assert flagged.select("service", "team").rows() == [("compute", "data")]
    _, checks = backfill["runs"][day]
    history = checks["cost_optimization_daily:consistent_with_history"]
    assert not history.passed and history.severity == dg.AssetCheckSeverity.WARN
    assert "total_cost" in history.description


def test_tracking_outage_fails_completeness_and_blocks_the_day(backfill):
    day = backfill["dates"]["tracking_outage"]
    ok, checks = backfill["runs"][day]
    assert not ok
    problems = failed(checks)
    assert "posthog_events:complete" in problems
    assert "% of the usual" in problems["posthog_events:complete"]
    assert "revenue_protection_daily:complete" not in checks  # never ran
    assert not (backfill["assets"] / "revenue_protection_daily" / f"{day}.parquet").exists()


def test_nothing_fires_on_the_control_day(backfill):
    day = backfill["control"]
    ok, checks = backfill["runs"][day]
    assert ok
    assert failed(checks) == {}
    assert len(checks) == 4 * 4 + 1 + 2 + 10  # four gates × four metric assets, and sources
    assert set(alerts_on(backfill, day).values()) == {"info"}
