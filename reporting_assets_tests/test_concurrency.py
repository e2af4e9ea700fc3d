"""The embedded default (SQLite instance, SQLite app database, read-only DuckDB, Parquet per
partition) takes two runs of the same day at once, one of them on the multiprocess executor,
while a reader scans the stored files, without a lock error or a duplicated row."""

import subprocess
import sys
import threading

import polars as pl
import pytest
import sqlalchemy as sa

from reporting_assets_tests.conftest import private_home

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

DAY = "2026-03-09"


def test_two_runs_and_a_reader_on_the_embedded_default(demo_company, tmp_path):
    reporting_home, env = private_home(demo_company, tmp_path)
    # Dagster creates a new SQLite instance's schema on first open, and two processes doing
    # that at the same moment race on its alembic table (a Dagster limitation, not ours):
    # open the instance once, as `make demo` or `make ui` would have, before the two runs.
    open_instance = "import dagster; dagster.DagsterInstance.get().dispose()"
    subprocess.run([sys.executable, "-c", open_instance], env=env, check=True)
    in_process = [sys.executable, "-m", "reporting_assets.cli", "materialize",
                  "daily_sources_job", "--partition", DAY]  # fmt: skip
    multiprocess = [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                    "reporting_assets.definitions", "--select", "group:step1_sources",
                    "--partition", DAY]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, env=env, cwd=reporting_home, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for cmd in (in_process, multiprocess)
    ]  # fmt: skip
    stop = threading.Event()
    reader_errors: list[Exception] = []

    def read_while_running() -> None:
        folder = reporting_home / "var/data/assets/posthog_events"
        while not stop.is_set():
            try:
                for f in folder.glob("*.parquet"):
                    pl.read_parquet(f)
            except FileNotFoundError:
                pass  # a file replaced between listing and opening
            except Exception as exc:
                reader_errors.append(exc)

    reader = threading.Thread(target=read_while_running)
    reader.start()
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        stop.set()
        reader.join()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outputs)[-4000:]
    assert "database is locked" not in "".join(outputs)
    assert reader_errors == []

    events = pl.read_parquet(reporting_home / f"var/data/assets/posthog_events/{DAY}.parquet")
    assert events.height == demo_company["events_per_day"][DAY]
    assert events.get_column("uuid").is_unique().all()
    assert not list((reporting_home / "var/data/assets").rglob("*.tmp"))
    engine = sa.create_engine(f"sqlite:///{reporting_home / 'var/data/app.db'}")
    with engine.connect() as conn:
        runs = conn.execute(sa.text(
            "SELECT count(DISTINCT run_id) FROM source_loads WHERE partition_key = :d "
            "AND asset = 'posthog_events'"), {"d": DAY}).scalar()  # fmt: skip
    assert runs == 2
