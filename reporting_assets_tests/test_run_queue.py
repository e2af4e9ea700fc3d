"""The production run queue on PostgreSQL: `deploy/dagster.yaml` loads as a Dagster instance with
the queue's and the pools' limits, and a backfill through that queue runs two days at once,
never more, while a pool with a limit of 1 lets one of its steps run at a time across runs."""

from pathlib import Path

import dagster as dg
import pytest
import yaml
from click.testing import CliRunner
from dagster._core.instance.config import PoolGranularity
from dagster._core.run_coordinator import QueuedRunCoordinator

from reporting_assets.backfills import BulkActionStatus, drive, partitions_between, submit
from reporting_assets.cli import main
from reporting_assets.cli.pools import apply_pool_limits, pool_limits
from reporting_assets.definitions import defs
from reporting_assets.lib.pools import DEFAULT_LIMIT, POOL_LIMITS, POSTHOG_API, WAREHOUSE
from reporting_assets.partitions import CADENCE_TAG
from reporting_assets_tests.conftest import pg_parts, private_home

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).parents[1]
DAYS = ("2026-03-10", "2026-03-11", "2026-03-12")
JOB = "daily_sources_job"
STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}


def deploy_home(home: Path, pg_url: str, monkeypatch, **extra) -> Path:
    """A DAGSTER_HOME holding deploy/dagster.yaml (with `extra` top-level settings), pointed at
    the database `pg_url` through the DAGSTER_PG_* variables it reads."""
    home.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((ROOT / "deploy/dagster.yaml").read_text())
    (home / "dagster.yaml").write_text(yaml.safe_dump({**config, **extra}))
    parts = pg_parts(pg_url)
    for var, key in (
        ("HOST", "hostname"),
        ("PORT", "port"),
        ("USER", "username"),
        ("PASSWORD", "password"),
        ("DB", "db_name"),
    ):
        monkeypatch.setenv(f"DAGSTER_PG_{var}", str(parts[key]))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_deploy_config_is_a_queued_instance_with_pool_limits(pg_database, tmp_path, monkeypatch):
    home = deploy_home(tmp_path / "dagster_home", pg_database, monkeypatch)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        config = instance.get_concurrency_config()
        queue = config.run_queue_config
        assert queue.max_concurrent_runs == 2
        assert [(t["key"], t["value"], t["limit"]) for t in queue.tag_concurrency_limits] == [
            (CADENCE_TAG, "monthly", 1)
        ]
        assert not queue.should_block_op_concurrency_limited_runs
        assert config.pool_config.pool_granularity == PoolGranularity.OP
        assert config.pool_config.default_pool_limit == DEFAULT_LIMIT == 1
        assert instance.run_retries_max_retries == 2
        assert pool_limits(instance) == {}

        # Each pool's own limit, as `reporting pools --apply` writes it to the instance.
        result = CliRunner().invoke(main, ["pools", "--apply"])
        assert result.exit_code == 0, result.output
        assert pool_limits(instance) == POOL_LIMITS
        assert "warehouse" in result.output and "--apply" not in result.output
        # A pool nobody set gets dagster.yaml's default limit the first time a step asks.
        instance.event_log_storage.initialize_concurrency_limit_to_default("a_new_pool")
        assert pool_limits(instance)["a_new_pool"] == DEFAULT_LIMIT


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) intervals open at one instant."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    open_now = most = 0
    for _, change in edges:  # at a tie an end sorts first: touching intervals do not overlap
        open_now += change
        most = max(most, open_now)
    return most


def _step_intervals(instance: dg.DagsterInstance, run_ids: list[str]) -> dict:
    """(run id, step key) -> (start, end) from the runs' step events."""
    times: dict[tuple[str, str], list[float]] = {}
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=STEP_EVENTS):
            times.setdefault((run_id, entry.step_key), []).append(entry.timestamp)
    return {key: (min(t), max(t)) for key, t in times.items()}


@pytest.mark.integration
def test_backfill_through_the_queue_two_runs_at_once_pools_one_step(
    demo_company, pg_database, tmp_path, monkeypatch
):
    reporting_home, env = private_home(demo_company, tmp_path)
    monkeypatch.setenv("REPORTING_HOME", str(reporting_home))
    # The code server the backfill starts is waited for before the database is dropped.
    home = deploy_home(
        Path(env["DAGSTER_HOME"]),
        pg_database,
        monkeypatch,
        code_servers={"wait_for_local_processes_on_shutdown": True},
    )
    graph = defs.resolve_asset_graph()
    pool_of = {
        k.to_user_string(): p for k in graph.get_all_asset_keys() for p in graph.get(k).pools or ()
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        apply_pool_limits(instance)
        # Production allows two warehouse reads at once: as many as there are runs here, each
        # reading one view at a time. At 1, the two runs' reads would overlap but for the pool.
        instance.event_log_storage.set_concurrency_slots(WAREHOUSE, 1)
        keys = partitions_between(defs, JOB, DAYS[0], DAYS[-1])
        assert keys == list(DAYS)
        backfill_id = submit(instance, defs, JOB, keys)
        assert drive(instance, backfill_id, lambda run: None) == BulkActionStatus.COMPLETED_SUCCESS

        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert records and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        assert {r.dagster_run.tags[CADENCE_TAG] for r in records} == {"daily"}
        runs = [(r.start_time, r.end_time) for r in records]
        assert _most_at_once(runs) == 2  # two at once at some point, never three

        # Every asset of the job, every day: materialized exactly once.
        job_assets = defs.resolve_job_def(JOB).asset_layer.executable_asset_keys
        for key in job_assets:
            done = instance.fetch_materializations(key, limit=100).records
            assert sorted(m.partition_key for m in done) == list(DAYS), key

        # The pools with a limit of 1: one of their steps at a time across the runs.
        run_ids = [r.dagster_run.run_id for r in records]
        steps = _step_intervals(instance, run_ids)
        for pool in (WAREHOUSE, POSTHOG_API):
            spans = [span for (_, step), span in steps.items() if pool_of.get(step) == pool]
            in_pool = [k for k in job_assets if pool_of.get(k.to_user_string()) == pool]
            assert len(spans) == len(in_pool) * len(DAYS), pool
            assert _most_at_once(spans) == 1, pool
        # The warehouse reads of two runs did meet: a run's read waited for the other's to end.
        blocked = f"Step blocked by limit for pool {WAREHOUSE}"
        engine = dg.DagsterEventType.ENGINE_EVENT
        assert any(
            e.dagster_event.message == blocked
            for run_id in run_ids
            for e in instance.all_logs(run_id, of_type=engine)
        )
