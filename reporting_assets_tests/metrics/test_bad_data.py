"""Bad input fails a named check with a clear message, and nothing downstream of it runs.

Each case breaks one day of the demo company's PostHog export (or warehouse) in one way, runs the
day's sources and metrics through Dagster, and looks at what happened.
"""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from reporting_assets.config import get_settings
from reporting_assets.metrics.assets import metric_assets
from reporting_assets.partitions import day_window
from reporting_assets.resources import build_resources
from reporting_assets.resources.sources import PostHogEventsResource, WarehouseResource
from reporting_assets.resources.storage import PartitionedParquetIOManager
from reporting_assets.sources.assets import source_assets
from reporting_assets_tests.conftest import copy_history, label

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

DAY = "2026-03-10"


def _day_files(export: Path) -> list[Path]:
    """The export's data files that hold events of DAY (New York), with their manifests."""
    w = day_window(DAY)
    keep = []
    for f in sorted(export.glob("*.parquet")):
        lo = f.name[:25]
        if w.start_utc.isoformat()[:10] <= lo[:10] <= w.end_utc.isoformat()[:10]:
            keep.append(f)
    return keep


@pytest.fixture(autouse=True)
def _history(demo_history):
    """Every day here is computed over complete 4-week windows."""


@pytest.fixture
def broken_export(demo_company, tmp_path):
    """A private copy of the export; the test edits the files of DAY through `edit`."""
    export = tmp_path / "events"
    shutil.copytree(demo_company["path"] / "posthog" / "events", export)

    def edit(change):
        for f in _day_files(export):
            change(pl.read_parquet(f)).write_parquet(f)

    return export, edit


def run_day(tmp_path, export: Path | None = None, warehouse: Path | None = None):
    """The day's sources and metrics in an asset store of the test's own, over the history the
    day's windows read (`demo_history`, copied)."""
    resources = build_resources(get_settings())
    if not (tmp_path / "assets").exists():
        copy_history(tmp_path / "assets")
    resources["io_manager"] = PartitionedParquetIOManager(root=str(tmp_path / "assets"))
    if export:
        resources["posthog"] = PostHogEventsResource(
            backend="batch_export", export_path=str(export)
        )
    if warehouse:
        resources["warehouse"] = WarehouseResource(duckdb_path=str(warehouse))
    return dg.materialize([*source_assets, *metric_assets], partition_key=DAY,
                          resources=resources, raise_on_error=False)  # fmt: skip


def failed_checks(result) -> dict[str, str]:
    return {label(c): c.description for c in result.get_asset_check_evaluations()
            if not c.passed}  # fmt: skip


def materialized(result) -> set[str]:
    return {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
            for m in [m.event_specific_data.materialization]}  # fmt: skip


def assert_blocked(result, check: str, *phrases: str, downstream=("revenue_protection_daily",)):
    failed = failed_checks(result)
    assert check in failed, failed
    for phrase in phrases:
        assert phrase in failed[check], failed[check]
    assert not result.success
    done = materialized(result)
    for asset in downstream:
        assert asset not in done, f"{asset} ran although {check} failed"
    assert "critical_alerts_daily" not in done


def test_clean_day_passes_every_check(tmp_path, demo_company):
    result = run_day(tmp_path)
    assert result.success, failed_checks(result)
    assert "critical_alerts_daily" in materialized(result)
    assert not {k: v for k, v in failed_checks(result).items()}


def test_nulls_in_required_columns(tmp_path, broken_export):
    export, edit = broken_export
    edit(
        lambda f: f.with_columns(
            distinct_id=pl.when(pl.int_range(pl.len()) < 5).then(None).otherwise("distinct_id")
        )
    )
    result = run_day(tmp_path, export)
    assert_blocked(result, "posthog_events:matches_schema", "'distinct_id' has", "null")


def test_duplicate_events(tmp_path, broken_export):
    export, edit = broken_export
    edit(lambda f: pl.concat([f, f.head(3)]))
    result = run_day(tmp_path, export)
    assert_blocked(result, "posthog_events:matches_schema", "'uuid' has", "duplicated")


def test_negative_revenue(tmp_path, broken_export):
    export, edit = broken_export
    purchase = pl.col("event") == "purchase_completed"
    negative = pl.col("properties").str.replace('"revenue":', '"revenue":-')
    edit(lambda f: f.with_columns(properties=pl.when(purchase).then(negative)
                                  .otherwise("properties")))  # fmt: skip
    result = run_day(tmp_path, export)
    assert_blocked(result, "posthog_events:matches_schema", "amount_minor", "greater_than_or_equal")


def test_renamed_column(tmp_path, broken_export):
    export, edit = broken_export
    edit(lambda f: f.rename({"distinct_id": "distinctId"}))
    result = run_day(tmp_path, export)
    assert_blocked(
        result, "posthog_events:matches_schema", "column 'distinct_id' is missing", "distinctId"
    )


def test_changed_type(tmp_path, broken_export):
    export, edit = broken_export
    # Revenue sent as a decimal string instead of integer minor units.
    edit(
        lambda f: f.with_columns(
            properties=pl.col("properties").str.replace(r'"revenue":(\d+)', '"revenue":"$1.00"')
        )
    )
    result = run_day(tmp_path, export)
    assert_blocked(result, "posthog_events:matches_schema", "property 'revenue' has the wrong type")


def test_a_truncated_export_file_fails_the_schema_check_by_name(tmp_path, broken_export):
    export, _ = broken_export
    victim = next(f for f in _day_files(export) if not f.name.endswith("_manifest.json"))
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # a copy that stopped half way
    result = run_day(tmp_path, export)
    assert_blocked(result, "posthog_events:matches_schema", f"{victim.name}: unreadable")


def test_a_file_the_manifest_lists_but_is_gone_fails_by_name(tmp_path, broken_export):
    export, _ = broken_export
    victim = next(f for f in _day_files(export) if not f.name.endswith("_manifest.json"))
    victim.unlink()
    result = run_day(tmp_path, export)
    assert_blocked(result, "posthog_events:matches_schema", f"{victim.name}: listed in",
                   "but missing")  # fmt: skip


def test_empty_day(tmp_path, broken_export):
    export, edit = broken_export
    edit(lambda f: f.clear())
    result = run_day(tmp_path, export)
    assert_blocked(result, "posthog_events:complete", "source 'posthog' contributed no rows")


def test_missing_warehouse_day(tmp_path, demo_company):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_company["path"] / "warehouse.duckdb", warehouse)
    con = duckdb.connect(str(warehouse))
    con.execute("DELETE FROM cloud_costs WHERE cost_date = ?", [DAY])
    con.close()
    result = run_day(tmp_path, warehouse=warehouse)
    assert_blocked(
        result,
        "cloud_costs:complete",
        "v_daily_cloud_cost' contributed no rows",
        downstream=("cost_optimization_daily",),
    )
    assert "revenue_protection_daily" in materialized(result)


def test_a_billion_dollar_cost_line_blocks_the_day(tmp_path, demo_company):
    """A value no day can hold fails the business-rules gate by name and nothing downstream
    runs; it is not a warning that lets the report go out."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_company["path"] / "warehouse.duckdb", warehouse)
    con = duckdb.connect(str(warehouse))
    con.execute(
        "UPDATE cloud_costs SET cost_usd = 1e9 WHERE cost_date = ? AND service = "
        "(SELECT min(service) FROM cloud_costs WHERE cost_date = ?)", [DAY, DAY]
    )  # fmt: skip
    con.close()
    result = run_day(tmp_path, warehouse=warehouse)
    assert_blocked(
        result,
        "cost_optimization_daily:within_business_rules",
        "cost_usd",
        "outside",
        downstream=("critical_alerts_daily",),
    )


def test_a_deviation_beyond_the_hard_limit_is_named():
    """Robust z beyond the hard limit (50 by default) is unbelievable, whatever the history
    check's own severity; an ordinary spike (z 8) is not."""
    from datetime import date, timedelta

    from reporting_assets.quality.checks import beyond_hard_limit

    day = date(2026, 3, 10)
    history = pl.DataFrame({
        "date": [day - timedelta(weeks=w) for w in range(1, 9)],
        "metric": ["total_cost"] * 8, "scope": ["total"] * 8,
        "value": [4700.0, 4800.0, 4750.0, 4900.0, 4650.0, 4800.0, 4850.0, 4700.0],
    })  # fmt: skip

    def today(v):
        return pl.DataFrame({"date": [day], "metric": ["total_cost"], "scope": ["total"],
                             "value": [v]})  # fmt: skip

    assert beyond_hard_limit(today(6500.0), history, day, hard_z=50) == []
    [problem] = beyond_hard_limit(today(1e9), history, day, hard_z=50, floors={"total_cost": 100})
    assert (
        problem.startswith("total_cost = 1e+09 vs usual 4,775") and "hard limit of ±50" in problem
    )
