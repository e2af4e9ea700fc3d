"""`reporting materialize` and `reporting backfill`: runs of the jobs, recorded in Dagster."""

from __future__ import annotations

import sys

import click
import dagster as dg

from reporting_assets.backfills import (
    BulkActionStatus,
    daemon_running,
    drive,
    partitions_between,
    submit,
)
from reporting_assets.cli.common import dagster_home, fail, run_job
from reporting_assets.lib.formatting import plural


@click.command("materialize")
@click.argument("job_name")
@click.option("--partition", "partition_key", required=True)
def materialize(job_name: str, partition_key: str) -> None:
    """Run JOB_NAME for one partition (e.g. `reporting materialize daily_sources_job
    --partition 2026-11-27`)."""
    dagster_home()
    if not run_job(job_name, partition_key):
        sys.exit(1)


@click.command("backfill")
@click.argument("job_name")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--no-wait", is_flag=True, help="Submit it and return (a running daemon runs it).")
def backfill(job_name: str, start, end, no_wait: bool) -> None:
    """Backfill JOB_NAME's assets for every period from --start to --end as a Dagster asset
    backfill (UI: Overview → Backfills): Dagster orders the periods by their declared
    dependencies, a day after the days its windows read. A running dagster-daemon (`make ui`)
    carries it out; without one, this command does, and waits for it."""
    from reporting_assets.definitions import defs  # built from the config: see run_job

    dagster_home()
    try:
        keys = partitions_between(defs, job_name, f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}")
    except (ValueError, dg.DagsterInvariantViolationError) as exc:
        fail(f"reporting backfill: {exc}")
    failed: list[str] = []

    def told(run: dg.DagsterRun) -> None:
        key = run.tags.get("dagster/partition", "?")
        click.echo(f"  run {run.run_id[:8]} [{key}] {run.status.value.lower()}")
        if run.status != dg.DagsterRunStatus.SUCCESS:
            failed.append(key)

    with dg.DagsterInstance.get() as instance:
        backfill_id = submit(instance, defs, job_name, keys)
        click.echo(f"Backfill {backfill_id}: {job_name}, {len(keys)} partitions "
                   f"({keys[0]} – {keys[-1]})")  # fmt: skip
        if no_wait or daemon_running(instance):
            click.echo("The dagster-daemon carries it out; follow it in the UI (Overview → "
                       "Backfills).")  # fmt: skip
            return
        status = drive(instance, backfill_id, told)
    click.echo(f"Backfill {backfill_id}: {status.value.lower()}")
    if failed or status not in (BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS):
        failures = sorted(set(failed))
        click.secho(f"{plural(len(failures), 'partition')} failed: {', '.join(failures)}",
                    fg="red", err=True)  # fmt: skip
        sys.exit(1)
