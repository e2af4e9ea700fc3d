"""Against the real PostgreSQL server `make test` starts: the warehouse views read the same from
PostgreSQL as from DuckDB, the app database works on PostgreSQL, and source runs recorded in a
PostgreSQL-backed Dagster instance survive two materializations of the same day at once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa
import yaml
from polars.testing import assert_frame_equal

from reporting_assets.config import get_settings
from reporting_assets.lib.warehouse import VIEW_SCHEMAS, Warehouse, load_postgres
from reporting_assets.partitions import day_window
from reporting_assets.resources import build_resources
from reporting_assets.resources.app_db import AppDatabase, source_loads
from reporting_assets.resources.sources import WarehouseResource
from reporting_assets.sources.assets import WAREHOUSE_SOURCES, read_warehouse_source, source_assets
from reporting_assets_tests.conftest import pg_parts

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).parents[1]
DAY = "2026-03-08"
# The sources that hold one day (or the day's open items) of a view that holds the whole history.
DAILY_SOURCES = ("cloud_costs", "deploy_runs", "incidents", "support_tickets", "account_snapshot")


def assert_same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Same rows, columns and types; floats computed by the engines may differ in the last bit."""
    key = list(a.columns)
    assert_frame_equal(a.sort(key), b.sort(key), check_exact=False, rel_tol=1e-12)


@pytest.fixture
def pg_warehouse(demo_company, pg_database) -> str:
    load_postgres(pg_database, demo_company["path"] / "warehouse")
    return pg_database


def test_every_view_is_identical_on_duckdb_and_postgres(demo_company, pg_warehouse):
    duck = Warehouse("duckdb", duckdb_path=demo_company["path"] / "warehouse.duckdb")
    pg = Warehouse("postgres", postgres_url=pg_warehouse)
    for view in VIEW_SCHEMAS:
        a, b = duck.read(view), pg.read(view)
        assert a.height > 0, view
        assert_same(a, b)


def test_every_source_reads_the_same_day_from_both(demo_company, pg_warehouse):
    window = day_window(DAY)
    duck = WarehouseResource(
        backend="duckdb", duckdb_path=str(demo_company["path"] / "warehouse.duckdb")
    )
    pg = WarehouseResource(backend="postgres", postgres_url=pg_warehouse)
    for source in WAREHOUSE_SOURCES:
        a = read_warehouse_source(source, duck, window)
        b = read_warehouse_source(source, pg, window)
        assert_same(a, b)


def test_each_source_is_filtered_in_postgres(demo_company, pg_warehouse, monkeypatch):
    """A warehouse source's WHERE runs in PostgreSQL: the server plans it as a filter and sends
    back only the rows that pass it (the day's), not the view's."""
    import psycopg2
    import psycopg2.extensions

    sent: list[tuple[str, int]] = []

    class Recording(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            super().execute(query, vars)
            if self.description is not None:  # rowcount: the rows the server sent back
                sent.append((self.mogrify(query, vars).decode(), self.rowcount))

    connect = psycopg2.connect
    monkeypatch.setattr(
        psycopg2, "connect", lambda url, **kw: connect(url, cursor_factory=Recording, **kw)
    )
    warehouse = WarehouseResource(backend="postgres", postgres_url=pg_warehouse)
    received = {}
    for source in (s for s in WAREHOUSE_SOURCES if s.where):
        sent.clear()
        read_warehouse_source(source, warehouse, day_window(DAY))
        ((sql, rows),) = sent
        assert sql.startswith(f"SELECT * FROM {source.view} WHERE "), sql
        received[source.name] = (source.view, sql, rows)
    monkeypatch.undo()
    with connect(pg_warehouse) as conn, conn.cursor() as cur:
        for name, (view, sql, rows) in received.items():
            cur.execute(f"SELECT count(*) FROM ({sql}) AS passing")
            assert rows == cur.fetchone()[0], name
            cur.execute(f"SELECT count(*) FROM {view}")
            everything = cur.fetchone()[0]
            cur.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = json.dumps(cur.fetchone()[0])
            assert any(f'"{node}"' in plan for node in ("Filter", "Index Cond")), (name, plan)
            if name in DAILY_SOURCES:
                assert rows < everything, (name, rows, everything)


def test_app_database_on_postgres(pg_database):
    db = AppDatabase(url=pg_database)
    db.record_source_load("posthog_events", DAY, "run-1", 10, "demo")
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(source_loads)).scalar() == 1


def test_backfill_on_a_postgres_instance(demo_company, pg_database):
    overrides = {"storage": {"postgres": {"postgres_db": {
        **pg_parts(pg_database), "scheme": "postgresql+psycopg2"}}}}  # fmt: skip
    with dg.instance_for_test(overrides=overrides) as instance:
        for day in ("2026-03-07", "2026-03-08", "2026-03-09"):
            result = dg.materialize(
                source_assets, partition_key=day, instance=instance,
                resources=build_resources(get_settings()),
            )  # fmt: skip
            assert result.success
        status = instance.get_status_by_partition(
            dg.AssetKey("posthog_events"),
            ["2026-03-07", "2026-03-08", "2026-03-09"],
            source_assets[0].partitions_def,
        )
        assert set(status.values()) == {dg.AssetPartitionStatus.MATERIALIZED}


def test_two_runs_of_the_same_day_at_once(demo_company, pg_database, reporting_home, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    deploy = yaml.safe_load((ROOT / "deploy/dagster.yaml").read_text())
    parts = pg_parts(pg_database)
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": parts["hostname"],
           "DAGSTER_PG_PORT": str(parts["port"]), "DAGSTER_PG_USER": parts["username"],
           "DAGSTER_PG_PASSWORD": parts["password"], "DAGSTER_PG_DB": parts["db_name"],
           "REPORTING_APP_DATABASE_URL": pg_database}  # fmt: skip
    (home / "dagster.yaml").write_text(yaml.safe_dump(deploy))
    # As the deploy guide says: each pool's limit set once. Left to dagster.yaml's default_limit,
    # two runs setting up the same pool at once can fail one of them on PostgreSQL (Dagster
    # 1.13: dagster-io/dagster#33552).
    reporting = [sys.executable, "-m", "reporting_assets.cli"]
    subprocess.run([*reporting, "pools", "--apply"], env=env, check=True, capture_output=True)
    cmd = [*reporting, "materialize", "daily_sources_job", "--partition", DAY]
    procs = [subprocess.Popen(cmd, env=env, cwd=reporting_home, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outputs)[-3000:]

    events = pl.read_parquet(reporting_home / f"var/data/assets/posthog_events/{DAY}.parquet")
    assert events.height == demo_company["events_per_day"][DAY]
    assert events.get_column("uuid").is_unique().all()
    leftovers = list((reporting_home / "var/data/assets").rglob("*.tmp"))
    assert leftovers == []
    engine = sa.create_engine(pg_database.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        runs = conn.execute(sa.text(
            "SELECT count(DISTINCT run_id) FROM source_loads WHERE partition_key = :d"),
            {"d": DAY}).scalar()  # fmt: skip
    assert runs == 2
