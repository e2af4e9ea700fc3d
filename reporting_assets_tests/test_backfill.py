"""`reporting backfill` is Dagster's own asset backfill: it is recorded on the instance (the UI's
Backfills page), Dagster orders the days by their declared dependencies (a day's metrics after
the day before, whose table its history window reads), and without a daemon the command drives
it to the end."""

import subprocess
import sys

import dagster as dg
import pytest

from reporting_assets_tests.conftest import private_home

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

DAYS = ("2026-03-12", "2026-03-13")


def test_backfill_is_a_dagster_backfill_ordered_by_the_graph(demo_company, demo_history, tmp_path):
    home, env = private_home(demo_company, tmp_path, with_history=True)
    cmd = [sys.executable, "-m", "reporting_assets.cli", "backfill", "daily_metrics_job",
           "--start", DAYS[0], "--end", DAYS[-1]]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=home, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "completed_success" in done.stdout
    for day in DAYS:
        assert (home / "var/data/assets/revenue_protection_daily" / f"{day}.parquet").exists()
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        [backfill] = instance.get_backfills()
        assert backfill.title == f"reporting backfill daily_metrics_job {DAYS[0]} – {DAYS[-1]}"
        assert backfill.status.value == "COMPLETED_SUCCESS"
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill":
                                                             backfill.backfill_id}))  # fmt: skip
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        records = instance.fetch_materializations(
            dg.AssetKey("revenue_protection_daily"), limit=10
        ).records
        when = {r.partition_key: r.timestamp for r in records}
        # The 13th reads the 12th's table (its declared history window): it came after.
        assert when[DAYS[0]] < when[DAYS[1]]
