"""The source stage at volume: a day of events larger than the engine's memory limit streams to
its file and is gated exactly, and what lands equals the export counted another way (Polars,
file by file, in memory).
"""

import dagster as dg
import polars as pl
import pytest
import yaml

from reporting_assets.config import DEFAULT_CONFIG
from reporting_assets.demo.generator import DemoSpec, generate_demo_company
from reporting_assets.lib.events import read_batch_export
from reporting_assets.partitions import day_window
from reporting_assets.resources import AppDatabase, PartitionedParquetIOManager, SettingsResource
from reporting_assets.resources.sources import PostHogEventsResource
from reporting_assets.sources.assets import posthog_events
from reporting_assets_tests.conftest import label

pytestmark = pytest.mark.integration  # runs Dagster jobs

DAY = "2026-03-31"  # a month end
EVENTS = 400_000
MEMORY_LIMIT = "48MB"


@pytest.fixture(scope="module")
def big_day(tmp_path_factory):
    """One New York day of about 400 k events (some 150 MB as typed rows in memory), exported
    as PostHog writes it."""
    out = tmp_path_factory.mktemp("big-day")
    day = day_window(DAY).day
    spec = DemoSpec(seed=5, start=day, end=day, events_per_day=EVENTS, starting_accounts=600)
    generate_demo_company(spec, out / "demo", progress=False)
    return out / "demo" / "posthog" / "events"


def _settings_file(tmp_path):
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["storage"]["engine"] = {"memory_limit": MEMORY_LIMIT, "threads": 1,
                                   "spill_dir": str(tmp_path / "spill")}  # fmt: skip
    config["storage"]["data_root"] = str(tmp_path / "data")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _run(export, tmp_path):
    return dg.materialize(
        [posthog_events],
        partition_key=DAY,
        resources={
            "io_manager": PartitionedParquetIOManager(root=str(tmp_path / "assets")),
            "posthog": PostHogEventsResource(backend="batch_export", export_path=str(export)),
            "app_db": AppDatabase(sqlite_path=str(tmp_path / "app.db")),
            "business": SettingsResource(config_file=_settings_file(tmp_path)),
        },
        raise_on_error=False,
    )


def _counted_another_way(export) -> pl.DataFrame:
    w = day_window(DAY)
    raw = read_batch_export(str(export), w.start_utc, w.end_utc)
    return raw.group_by("event").len().sort("event")


def test_a_day_larger_than_the_memory_limit_lands_whole(big_day, tmp_path):
    result = _run(big_day, tmp_path)
    assert result.success
    stored = pl.read_parquet(tmp_path / "assets" / "posthog_events" / f"{DAY}.parquet")
    # Larger than the limit DuckDB worked within, held in memory as typed rows.
    assert stored.estimated_size("mb") > 48
    expected = _counted_another_way(big_day)
    assert stored.height == expected.get_column("len").sum() > 0.9 * EVENTS
    assert stored.group_by("event").len().sort("event").equals(expected)
    changes = stored.filter(pl.col("event") == "subscription_downgraded")
    assert changes.height and changes.get_column("mrr").null_count() == 0
    assert (changes.get_column("previous_mrr") > changes.get_column("mrr")).all()
    assert {label(c): c.passed for c in result.get_asset_check_evaluations()} == {
        "posthog_events:matches_schema": True,
        "posthog_events:complete": True,
    }
    assert not list((tmp_path / "data" / "staging").glob("*.parquet"))  # nothing left behind


def test_the_gates_stay_exact_under_the_memory_limit(big_day, tmp_path):
    export = tmp_path / "events"
    export.mkdir()
    files = sorted(big_day.iterdir())
    for f in files:
        (export / f.name).write_bytes(f.read_bytes())
    victim = next(export / f.name for f in files if f.suffix == ".parquet")
    frame = pl.read_parquet(victim)
    negative = frame.slice(10, 3).with_columns(
        uuid=pl.col("uuid") + "-neg",
        event=pl.lit("purchase_completed"),
        properties=pl.lit('{"account_id":"acct_00001","revenue":-1999,"currency":"USD"}'),
    )
    # 7 events delivered twice, 3 charges with a negative amount, 2 events without a distinct_id.
    nameless = frame.slice(100, 2).with_columns(uuid=pl.col("uuid") + "-x", distinct_id=None)
    pl.concat([frame, frame.slice(1000, 7), negative, nameless]).write_parquet(victim)
    window = day_window(DAY)
    in_day = pl.read_parquet(victim).filter(
        pl.col("timestamp").is_between(window.start_utc, window.end_utc, closed="left")
    )
    assert in_day.height > 1000  # the tampered rows fall inside the day

    result = _run(export, tmp_path)
    failed = {label(c): c.description for c in result.get_asset_check_evaluations()
              if not c.passed}  # fmt: skip
    schema = failed["posthog_events:matches_schema"]
    assert "column 'uuid' has 14 duplicated values" in schema
    assert "column 'amount_minor' fails greater_than_or_equal_to(0) in 3 rows" in schema
    assert "column 'distinct_id' has 2 null values" in schema
    assert "null" in failed["posthog_events:complete"]
    assert not result.success


def test_an_export_on_an_object_store_streams_like_a_local_one(demo_company, tmp_path):
    import fsspec

    from reporting_assets.lib.engine import EngineLimits
    from reporting_assets.lib.event_files import stage_export

    local = demo_company["path"] / "posthog" / "events"
    store = fsspec.filesystem("memory")
    for f in local.iterdir():
        store.pipe(f"/export-{tmp_path.name}/{f.name}", f.read_bytes())
    w = day_window("2026-03-08")  # the spring DST change: a 23-hour day
    limits = EngineLimits(spill_dir=tmp_path / "spill")
    remote = stage_export(f"memory://export-{tmp_path.name}", w.start_utc, w.end_utc,
                          tmp_path / "remote.parquet", limits)  # fmt: skip
    here = stage_export(str(local), w.start_utc, w.end_utc, tmp_path / "local.parquet", limits)
    assert remote.problems == here.problems == []
    assert remote.rows == here.rows == demo_company["events_per_day"]["2026-03-08"]
    read = [pl.read_parquet(p).sort("uuid") for p in (remote.path, here.path)]
    assert read[0].equals(read[1])
