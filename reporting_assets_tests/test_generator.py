"""The demo company: deterministic, believable, and its anomaly manifest tells the truth."""

import hashlib
import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from reporting_assets.demo.generator import generate_demo_company
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
