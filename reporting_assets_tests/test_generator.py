"""The demo company: deterministic, believable, and its anomaly manifest tells the truth."""

import hashlib
import json
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import polars as pl

from reporting_assets.demo.events import STAMP_DRAWS, Draws, uuids
from reporting_assets.demo.generator import DemoSpec, generate_demo_company
from reporting_assets.lib.events import read_batch_export
from reporting_assets.partitions import day_window
from reporting_assets_tests.conftest import demo_spec, manifest_dates

NY = ZoneInfo("America/New_York")


def _digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".duckdb"
    }


def test_same_seed_same_bytes(tmp_path, demo_company):
    again = generate_demo_company(demo_spec(), tmp_path / "again", progress=False)
    assert _digest(tmp_path / "again") == _digest(demo_company["path"])
    assert again["anomalies"] == demo_company["anomalies"]


def test_other_seed_other_company(tmp_path, demo_company):
    generate_demo_company(demo_spec(seed=8), tmp_path / "other", progress=False)
    a = _digest(tmp_path / "other")
    b = _digest(demo_company["path"])
    assert a.keys() == b.keys()
    event_files = [k for k in a if k.endswith(".parquet")]
    assert event_files and all(a[k] != b[k] for k in event_files)
    for table in ("accounts", "account_history", "cloud_costs", "incidents", "support_tickets"):
        key = f"warehouse/data/{table}.csv"
        assert a[key] != b[key], table


def test_batch_export_layout(demo_company):
    folder = demo_company["path"] / "posthog" / "events"
    manifests = sorted(folder.glob("*_manifest.json"))
    assert len(manifests) == demo_company["event_files"]
    first = manifests[0]
    assert first.name == "2025-12-06T00:00:00+00:00-2025-12-07T00:00:00+00:00_manifest.json"
    body = json.loads(first.read_text())
    assert body == {"files": ["events/2025-12-06T00:00:00+00:00-2025-12-07T00:00:00+00:00.parquet"]}
    table = pl.read_parquet(folder / body["files"][0].split("/")[-1])
    assert table.columns == [
        "uuid", "event", "distinct_id", "person_id", "properties", "person_properties",
        "elements_chain", "timestamp", "created_at", "_inserted_at",
    ]  # fmt: skip
    assert table.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert table.schema["properties"] == pl.String
    revenue = table.filter(pl.col("event") == "purchase_completed")
    props = json.loads(revenue.get_column("properties")[0])
    assert isinstance(props["revenue"], int) and props["currency"] == "USD"


def _events_on(manifest, day: str) -> pl.DataFrame:
    w = day_window(day)
    return read_batch_export(str(manifest["path"] / "posthog" / "events"), w.start_utc, w.end_utc)


def _failure_rate(frame: pl.DataFrame) -> float:
    failed = frame.filter(pl.col("event") == "payment_failed").height
    renewed = frame.filter(pl.col("event") == "subscription_renewed").height
    return failed / max(failed + renewed, 1)


def test_payment_failure_spike_is_where_the_manifest_says(demo_company):
    spike = manifest_dates(demo_company)["payment_failure_spike"]
    spike_rate = _failure_rate(_events_on(demo_company, spike))
    control_rate = _failure_rate(_events_on(demo_company, demo_company["control_day"]))
    assert spike_rate >= 0.25
    assert control_rate <= 0.12


def test_tracking_outage_leaves_a_six_hour_hole(demo_company):
    outage = manifest_dates(demo_company)["tracking_outage"]
    events = _events_on(demo_company, outage)
    local_hours = events.get_column("timestamp").dt.convert_time_zone(str(NY)).dt.hour()
    assert not local_hours.is_between(9, 14).any()
    same_weekday = (date.fromisoformat(outage) - timedelta(days=7)).isoformat()
    assert events.height < 0.6 * _events_on(demo_company, same_weekday).height


def test_cost_spike_and_incident_surge_in_the_warehouse(demo_company):
    dates = manifest_dates(demo_company)
    con = duckdb.connect(str(demo_company["path"] / "warehouse.duckdb"), read_only=True)
    costs = con.sql(
        "SELECT cost_date, cost_usd FROM v_daily_cloud_cost "
        "WHERE service = 'compute' AND team = 'data' ORDER BY cost_date"
    ).pl()
    spike = costs.filter(pl.col("cost_date") == date.fromisoformat(dates["cost_spike"]))
    assert spike.get_column("cost_usd")[0] > 3 * costs.get_column("cost_usd").median()

    surge = date.fromisoformat(dates["incident_surge"])
    start = datetime.combine(surge, time(0), NY).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    opened = con.execute(
        "SELECT severity FROM v_incidents WHERE opened_at >= ? AND opened_at < ?",
        [start, start + timedelta(hours=24)],
    ).fetchall()
    assert len(opened) == 7
    assert sum(1 for (s,) in opened if s == "sev1") == 2
    con.close()


def test_company_is_believable(demo_company):
    con = duckdb.connect(str(demo_company["path"] / "warehouse.duckdb"), read_only=True)
    end = demo_company["spec"]["end"]
    statuses = dict(
        con.execute(
            "SELECT status, count(*) FROM v_account_history WHERE valid_from <= ? "
            "AND (valid_to IS NULL OR valid_to > ?) GROUP BY status",
            [end, end],
        ).fetchall()
    )
    assert statuses["active"] >= 50
    assert {"trial", "churned"} <= set(statuses)
    plans = {p for (p,) in con.sql("SELECT DISTINCT plan FROM v_account_history").fetchall()}
    assert plans == {"starter", "growth", "scale", "enterprise"}
    con.close()
    counts = demo_company["events_per_day"]
    # Weekly seasonality: the quietest weekday is well below the busiest.
    by_weekday = {}
    for day, n in counts.items():
        by_weekday.setdefault(date.fromisoformat(day).weekday(), []).append(n)
    means = {k: sum(v) / len(v) for k, v in by_weekday.items()}
    assert means[6] < 0.7 * means[1]


def test_dst_days_are_23_and_25_hours():
    spring, autumn = day_window("2026-03-08"), day_window("2025-11-02")
    assert spring.end_utc - spring.start_utc == timedelta(hours=23)
    assert autumn.end_utc - autumn.start_utc == timedelta(hours=25)


def test_jsonl_export_holds_the_same_events(demo_company, demo_company_jsonl):
    day = demo_company["control_day"]
    w = day_window(day)
    parquet = read_batch_export(
        str(demo_company["path"] / "posthog/events"), w.start_utc, w.end_utc
    )
    jsonl = read_batch_export(
        str(demo_company_jsonl["path"] / "posthog/events"), w.start_utc, w.end_utc
    )
    assert jsonl.height == parquet.height > 0
    assert jsonl.select("uuid", "event", "distinct_id", "timestamp").equals(
        parquet.select("uuid", "event", "distinct_id", "timestamp")
    )
    # JSONL carries properties as nested objects: same content, re-serialized.
    for a, b in zip(jsonl.get_column("properties"), parquet.get_column("properties"), strict=True):
        assert json.loads(a) == json.loads(b)


# -- busy days, written in chunks -------------------------------------------------------------


def _all_events(folder) -> pl.DataFrame:
    """Every event in the export's files, all columns, in a stable order."""
    files = sorted((folder / "posthog" / "events").glob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]).sort("timestamp", "uuid")


def test_demo_events_unchanged(tmp_path):
    # The events a small demo held before days could be written in chunks (same seed, same
    # events): the seeded demo company that tests and reconciliations rely on did not move.
    spec = DemoSpec(seed=7, start=date(2026, 3, 1), end=date(2026, 3, 14), events_per_day=300,
                    starting_accounts=100)  # fmt: skip
    generate_demo_company(spec, tmp_path / "demo", progress=False)
    events = _all_events(tmp_path / "demo").with_columns(
        pl.col("timestamp", "created_at", "_inserted_at").dt.epoch("us")
    )
    assert events.height == 3708
    assert hashlib.sha256(events.write_csv().encode()).hexdigest() == (
        "2bd097a07221247dd9b474f7d9f066499ccdb95fdda6158e3fabb6dadc25aaf5"
    )


def test_chunked_days_hold_the_same_events(tmp_path):
    spec = DemoSpec(seed=11, start=date(2026, 11, 18), end=date(2026, 11, 19),
                    events_per_day=20_000, starting_accounts=200)  # fmt: skip
    whole = generate_demo_company(spec, tmp_path / "whole", progress=False)
    chunked = generate_demo_company(spec, tmp_path / "chunked", progress=False, chunk_events=3_000)
    assert chunked["events_per_day"] == whole["events_per_day"]
    assert _all_events(tmp_path / "chunked").equals(_all_events(tmp_path / "whole"))
    a, b = _digest(tmp_path / "whole"), _digest(tmp_path / "chunked")
    assert {k: v for k, v in a.items() if "warehouse" in k} == {
        k: v for k, v in b.items() if "warehouse" in k
    }

    # Each split UTC day lists its numbered files, PostHog style, none over the chunk size.
    folder = tmp_path / "chunked" / "posthog" / "events"
    listed = []
    for manifest in sorted(folder.glob("*_manifest.json")):
        names = [key.split("/")[-1] for key in json.loads(manifest.read_text())["files"]]
        interval = manifest.name.removesuffix("_manifest.json")
        if len(names) > 1:
            assert names == [f"{interval}-{i}.parquet" for i in range(len(names))]
        listed += names
    assert sorted(listed) == sorted(p.name for p in folder.glob("*.parquet"))
    assert chunked["event_files"] == len(listed) > 2 * whole["event_files"]
    assert max(pl.read_parquet(folder / name).height for name in listed) <= 3_000

    # The reader puts each New York day back together from all its files.
    for day, count in chunked["events_per_day"].items():
        w = day_window(day)
        got = read_batch_export(str(folder), w.start_utc, w.end_utc)
        assert got.height == count
        assert got.equals(
            read_batch_export(str(tmp_path / "whole/posthog/events"), w.start_utc, w.end_utc)
        )


def test_draws_in_chunks_are_the_draws_at_once():
    draws = {"n": lambda g, m: g.normal(0, 1, m), "k": lambda g, m: g.integers(0, 7, m),
             **STAMP_DRAWS}  # fmt: skip
    at_once, in_chunks = np.random.default_rng(3), np.random.default_rng(3)
    (whole,) = Draws(at_once, 1_001, draws, 5_000)
    chunks = list(Draws(in_chunks, 1_001, draws, 100))
    assert [len(c["n"]) for c in chunks] == [100] * 10 + [1]
    for name in draws:
        assert np.array_equal(np.concatenate([c[name] for c in chunks]), whole[name])
    # The day's later draws are unaffected.
    assert at_once.random() == in_chunks.random()


def test_uuids_are_time_ordered_uuid7():
    rng = np.random.default_rng(5)
    ts = np.array([0, 1_763_560_000_123_456, 1_763_560_000_999_999])
    a = np.array([0, 0xFFF, int(rng.integers(0, 1 << 12))])
    b = np.array([0, (1 << 62) - 1, int(rng.integers(0, 1 << 62))], dtype=np.int64)
    expected = [
        str(uuid.UUID(int=((t // 1000) << 80) | (0x7000 | x) << 64 | (1 << 63) | y))
        for t, x, y in zip(ts.tolist(), a.tolist(), b.tolist(), strict=True)
    ]
    assert uuids(ts, a, b).to_list() == expected
    assert all(uuid.UUID(u).version == 7 for u in expected)
