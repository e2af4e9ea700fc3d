"""The app database's schema comes from Alembic migrations: a new database, on SQLite and on
PostgreSQL, ends up exactly as the table definitions say; a database made before migrations
keeps its rows and gains what it lacks; several processes starting at once on a new database
all succeed; `reporting db upgrade` applies them by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import alembic.autogenerate
import alembic.migration
import pytest
import sqlalchemy as sa

# Every module that defines app-database tables registers them on the shared metadata.
import reporting_assets.distribution.notify
import reporting_assets.distribution.realtime
import reporting_assets.records.acks
import reporting_assets.records.feed
import reporting_assets.records.intraday_events
import reporting_assets.records.leases
import reporting_assets.records.ledger
import reporting_assets.records.measurements
import reporting_assets.records.resolutions
import reporting_assets.records.reviews
import reporting_assets.records.usage  # noqa: F401
from reporting_assets.resources.app_db import VERSION_TABLE, metadata, migrate, schema_version

REPO = Path(__file__).resolve().parents[1]
HEAD = "0005"


def _differences(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        context = alembic.migration.MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "version_table": VERSION_TABLE,
                # as migrations/env.py does: a shared database also holds Dagster's tables
                "include_name": lambda name, kind, _: kind != "table" or name in metadata.tables,
            },
        )
        return alembic.autogenerate.compare_metadata(context, metadata)


def test_a_new_sqlite_database_matches_the_table_definitions(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    assert schema_version(engine) is None
    migrate(engine)
    assert schema_version(engine) == HEAD
    assert _differences(engine) == []
    migrate(engine)  # again: nothing to do
    assert schema_version(engine) == HEAD


@pytest.mark.postgres
def test_a_new_postgres_database_matches_the_table_definitions(pg_database):
    engine = sa.create_engine(pg_database.replace("postgresql://", "postgresql+psycopg2://"))
    migrate(engine)
    assert schema_version(engine) == HEAD
    assert _differences(engine) == []
    engine.dispose()


def test_a_database_from_before_migrations_keeps_its_rows(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    deliveries = metadata.tables["deliveries"]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:  # what create_all left, table by table, before migrations
        deliveries.create(conn)
        conn.execute(sa.text("CREATE TABLE delivery_locks (report VARCHAR(200) PRIMARY KEY)"))
        conn.execute(deliveries.insert().values(
            report="daily_executive", period="2026-10-31", channel="email", generation=0,
            target="ceo@northwind.example", status="sent", attempts=1, created_at=now,
            updated_at=now))  # fmt: skip
    migrate(engine)
    assert schema_version(engine) == HEAD
    tables = set(sa.inspect(engine).get_table_names())
    assert "delivery_locks" not in tables and {"delivery_leases", "notifications"} <= tables
    with engine.connect() as conn:
        assert conn.execute(sa.select(deliveries.c.target)).scalars().all() == [
            "ceo@northwind.example"
        ]
    assert _differences(engine) == []


def _renames_old_check_names(engine: sa.Engine) -> None:
    migrate(engine, "0001")
    checks = metadata.tables["check_results"]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    row = dict(partition_key="2026-10-31", run_id="r1", passed=True, severity="ERROR",
               description="ok", evaluated_at=now)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(checks.insert(), [
            {**row, "asset": "posthog_events", "check_name": "posthog_events_matches_schema"},
            {**row, "asset": "kpis_weekly", "check_name": "kpis_weekly_complete"},
            {**row, "asset": "cloud_costs", "check_name": "complete"},  # already short
        ])  # fmt: skip
    migrate(engine)
    with engine.connect() as conn:
        names = conn.execute(sa.select(checks.c.asset, checks.c.check_name)).all()
    assert sorted(names) == [("cloud_costs", "complete"), ("kpis_weekly", "complete"),
                             ("posthog_events", "matches_schema")]  # fmt: skip


def test_check_results_from_before_short_check_names_are_renamed(tmp_path):
    _renames_old_check_names(sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}"))


@pytest.mark.postgres
def test_check_results_are_renamed_on_postgres_too(pg_database):
    engine = sa.create_engine(pg_database.replace("postgresql://", "postgresql+psycopg2://"))
    _renames_old_check_names(engine)
    engine.dispose()


def test_a_database_shared_with_dagster_keeps_both_versions(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    with engine.begin() as conn:  # Dagster's own storage, migrated by its own Alembic history
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('29b539ebc72a')"))
        conn.execute(sa.text("CREATE TABLE runs (id INTEGER PRIMARY KEY)"))
    migrate(engine)
    assert schema_version(engine) == HEAD
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            "29b539ebc72a"
        )
    assert _differences(engine) == []  # Dagster's tables are not ours to compare or drop


def test_processes_starting_at_once_on_a_new_database_all_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    code = ("import sys, sqlalchemy as sa; from reporting_assets.resources.app_db import migrate;"
            "migrate(sa.create_engine(sys.argv[1]))")  # fmt: skip
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]  # fmt: skip
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert schema_version(sa.create_engine(url)) == HEAD


def test_reporting_db_upgrade(tmp_path):
    env_home = tmp_path / "home"
    env_home.mkdir()
    env = {**os.environ, "REPORTING_HOME": str(env_home)}
    env.pop("REPORTING_APP_DATABASE_URL", None)
    command = [sys.executable, "-m", "reporting_assets.cli", "db", "upgrade"]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"at migration {HEAD}" in done.stdout
    assert schema_version(sa.create_engine(f"sqlite:///{env_home / 'var/data/app.db'}")) == HEAD
