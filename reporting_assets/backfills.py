"""`reporting backfill`: Dagster's own asset backfill of a job's assets over a range of periods.

The backfill is created on the Dagster instance (it shows under Overview → Backfills in the UI)
and Dagster decides what runs when: a day whose metrics read the days before it (declared
partition mappings) waits for them, so days are computed oldest first and never over a window
with a hole. When a `dagster-daemon` is running (`make ui`), the daemon carries the backfill out;
otherwise this process drives the same backfill and run-queue logic the daemon would, until the
backfill ends, so an analyst without a daemon gets the same result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.selector import (
    PartitionRangeSelector,
    PartitionsByAssetSelector,
    PartitionsSelector,
)
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from reporting_assets.partitions import CADENCE_TAG, cadence

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"
BACKFILL_TAG = "dagster/backfill"
# Each run executes its steps in one process: on a laptop-sized machine a backfill of many small
# partitions is faster so, and runs of different days still go in parallel where Dagster allows.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
ENDED = {BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS,
         BulkActionStatus.COMPLETED_FAILED, BulkActionStatus.FAILED, BulkActionStatus.CANCELED,
         BulkActionStatus.FAILING}  # fmt: skip


def partitions_between(defs: dg.Definitions, job_name: str, start: str, end: str) -> list[str]:
    """The job's partition keys from the one containing `start` to the one containing `end`."""
    job = defs.resolve_job_def(job_name)
    pdef = job.partitions_def
    if pdef is None:
        raise ValueError(f"{job_name} is not partitioned")
    keys = pdef.get_partition_keys()
    first = pdef.get_partition_key_for_timestamp(_timestamp(start, pdef))
    last = pdef.get_partition_key_for_timestamp(_timestamp(end, pdef))
    return keys[keys.index(first) : keys.index(last) + 1]


def _timestamp(day: str, pdef) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(pdef.timezone)).timestamp()


def submit(instance: dg.DagsterInstance, defs: dg.Definitions, job_name: str,
           partitions: list[str]) -> str:  # fmt: skip
    """Create an asset backfill of the job's assets over `partitions`; return its id."""
    job = defs.resolve_job_def(job_name)
    # Exactly these partitions of each of the job's assets: not also the later days whose
    # windows read them (Dagster would add those if asked from a root asset's partitions).
    span = PartitionsSelector(
        ranges=[PartitionRangeSelector(start=partitions[0], end=partitions[-1])]
    )
    backfill = PartitionBackfill.from_partitions_by_assets(
        backfill_id=make_new_backfill_id(),
        asset_graph=defs.resolve_asset_graph(),
        backfill_timestamp=time.time(),
        # The cadence tag puts the runs under the run queue's tag limits (a backfill of months
        # goes one month at a time, as the month-end schedule's runs do).
        tags={"reporting/job": job_name, CADENCE_TAG: cadence(job.partitions_def) or "other"},
        dynamic_partitions_store=instance,
        partitions_by_assets=[
            PartitionsByAssetSelector(asset_key=key, partitions=span)
            for key in sorted(job.asset_layer.executable_asset_keys)
        ],
        title=f"reporting backfill {job_name} {partitions[0]} – {partitions[-1]}",
        description=None,
        run_config=IN_PROCESS,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id


def daemon_running(instance: dg.DagsterInstance) -> bool:
    """A dagster-daemon whose backfill loop answered in the last minute."""
    beats = instance.get_daemon_heartbeats()
    beat = beats.get("BACKFILL")
    return beat is not None and time.time() - beat.timestamp < 60


def drive(
    instance: dg.DagsterInstance,
    backfill_id: str,
    report: Callable[[dg.DagsterRun], None],
    *,
    poll_seconds: float = 0.5,
) -> BulkActionStatus:
    """Carry the backfill out in this process, as the daemon would: request the runs Dagster's
    backfill logic allows, launch queued runs, and wait for them; `report` is told of every run
    that ends. Returns the backfill's final status."""
    logger = logging.getLogger("reporting.backfill")
    told: set[str] = set()
    queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)])) as ctx:
        while True:
            for _ in execute_backfill_iteration(ctx, logger):
                pass
            for _ in queue.run_iteration(ctx):
                pass
            runs = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
            for run in runs:
                if run.is_finished and run.run_id not in told:
                    told.add(run.run_id)
                    report(run)
            status = instance.get_backfill(backfill_id).status
            if status in ENDED and all(r.is_finished for r in runs):
                return status
            time.sleep(poll_seconds)
