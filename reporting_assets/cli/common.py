"""What every command shares: failing with a message, the Dagster home, running a job in this
process, and the deployment's app database and artifact store."""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path

import click
import dagster as dg
import sqlalchemy as sa

from reporting_assets.config import get_settings, resolve
from reporting_assets.quality.dagster_checks import check_label
from reporting_assets.resources import build_resources
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStore


def fail(message: str) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(2)


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or resolve("var/dagster_home"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists() or not config.read_text().strip():
        config.write_text("telemetry:\n  enabled: false\n")
    return home


def run_job(
    job_name: str, partition_key: str, *, quiet: bool = False, run_config: dict | None = None
) -> bool:
    """Run a job for one partition in this process, recorded in the Dagster instance; print
    one line, and the checks that failed."""
    # The definitions are built from the config when they are imported: only when a run is asked
    # for, so that `reporting check-config` can judge a config they could not be built from.
    from reporting_assets.definitions import defs

    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(job_name).execute_in_process(
            partition_key=partition_key,
            instance=instance,
            raise_on_error=False,
            run_config={
                **(run_config or {}),
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
        )
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    status = "succeeded" if result.success else "FAILED"
    if not (quiet and result.success and not failed):
        click.echo(f"  {job_name} [{partition_key}] {status} (run {result.run_id[:8]})")
    for check in failed:
        severity = check.severity.value
        label = check_label(check.asset_key.to_user_string(), check.check_name)
        click.echo(f"    {severity} {label}: {check.description}")
    if not result.success and not failed:
        for e in result.get_step_failure_events():
            error = e.step_failure_data.error
            while error.cause is not None:  # the code's own error, not Dagster's wrapper
                error = error.cause
            click.echo(f"    step {e.step_key} failed: {error.message.strip()}")
    return result.success


def partition_range(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def app_database() -> AppDatabase:
    """The app database resource of this deployment, with its URL resolved from the env."""
    db = build_resources(get_settings())["app_db"]
    if isinstance(db.url, dg.EnvVar):
        db = db.model_copy(update={"url": db.url.get_value()})
    return db


def engine() -> sa.Engine:
    return app_database().engine


def artifact_store() -> ArtifactStore:
    return ArtifactStore(resolve(get_settings().storage.artifact_root))
