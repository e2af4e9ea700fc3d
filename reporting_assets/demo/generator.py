"""Writes the demo company in the formats real systems write.

- PostHog batch-export files: one file per UTC day, `<start>-<end>.parquet` (or `.jsonl`) with a
  `<start>-<end>_manifest.json`, laid out as PostHog's S3 batch export writes them.
- The warehouse as SQL DDL (`warehouse/schema.sql`) plus CSV data (`warehouse/data/*.csv`) that
  load into DuckDB or PostgreSQL, and the embedded DuckDB file built from them.
- `anomalies.json`: which anomalies were injected on which dates, and a clean control day.

The output is written to a temporary directory and swapped into place, so readers never see a
half-written company.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow.parquet as pq
from tqdm import tqdm

from reporting_assets.demo import operations as ops
from reporting_assets.demo.company import (
    WEEKDAY_FACTOR,
    CompanySimulation,
    account_id,
    plan_anomalies,
)
from reporting_assets.lib.warehouse import SCHEMA_SQL, TABLES, load_duckdb

EVENT_COLUMNS = (
    "uuid",
    "event",
    "distinct_id",
    "person_id",
    "properties",
    "person_properties",
    "elements_chain",
    "timestamp",
    "created_at",
    "_inserted_at",
)


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: seed, calendar range (report time zone), volume and file format."""

    seed: int
    start: date
    end: date
    events_per_day: int
    starting_accounts: int
    timezone: str = "America/New_York"
    export_format: str = "parquet"

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def spec_json(spec: DemoSpec) -> dict:
    """The spec as written into the manifest (to tell whether data on disk matches a spec)."""
    return {**asdict(spec), "start": spec.start.isoformat(), "end": spec.end.isoformat()}


def interval_name(utc_day: date) -> str:
    """PostHog's batch-export key for a one-day interval: `<start>-<end>` in isoformat()."""
    start = datetime.combine(utc_day, time(0), UTC)
    return f"{start.isoformat()}-{(start + timedelta(days=1)).isoformat()}"


def _write_events(frame: pl.DataFrame, folder: Path, utc_day: date, fmt: str) -> str:
    name = f"{interval_name(utc_day)}.{fmt}"
    frame = frame.select(EVENT_COLUMNS).sort("timestamp", "uuid")
    if fmt == "parquet":
        # PostHog writes properties as JSON strings and timestamps as µs UTC.
        pq.write_table(frame.to_arrow(), folder / name, compression="zstd", write_statistics=True)
    else:
        # JSONL carries nested objects and ISO timestamps with +00:00 (orjson without UTC_Z).
        rows = frame.with_columns(
            [
                pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00")
                for c in ("timestamp", "created_at", "_inserted_at")
            ]
        )
        with open(folder / name, "w", encoding="utf-8") as fh:
            for r in rows.iter_rows(named=True):
                r["properties"] = json.loads(r["properties"])
                r["person_properties"] = json.loads(r["person_properties"])
                fh.write(json.dumps(r, separators=(",", ":")) + "\n")
    (folder / f"{interval_name(utc_day)}_manifest.json").write_text(
        json.dumps({"files": [f"events/{name}"]}) + "\n"
    )
    return name


def generate_demo_company(spec: DemoSpec, output_dir: Path, *, progress: bool = True) -> dict:
    """Simulate the company over the spec's days and write every output; return the manifest."""
    tz = ZoneInfo(spec.timezone)
    days = spec.days()
    anomalies, control = plan_anomalies(spec.end, spec.start)
    by_kind = {a.kind: a.date for a in anomalies}
    output_dir = Path(output_dir)
    tmp = output_dir.with_name(f".{output_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    events_dir = tmp / "posthog" / "events"
    events_dir.mkdir(parents=True)

    sim = CompanySimulation(
        spec.seed, spec.start, spec.starting_accounts, tz, spec.events_per_day, anomalies
    )
    pending: dict[date, list[pl.DataFrame]] = {}
    activity: dict[date, float] = {}
    live_accounts: dict[date, list[str]] = {}
    event_counts: dict[str, int] = {}
    files = 0
    for day in tqdm(days, desc="demo company", unit="day", disable=not progress):
        events = sim.step(day)
        event_counts[day.isoformat()] = events.height
        t = (day - spec.start).days
        activity[day] = (1 + 0.0009 * t) * WEEKDAY_FACTOR[day.weekday()]
        live_accounts[day] = [
            account_id(i) for i, s in enumerate(sim.accounts.status) if s in (0, 1, 2)
        ]
        utc_day = events.get_column("timestamp").dt.date()
        for key, part in events.with_columns(_d=utc_day).partition_by("_d", as_dict=True).items():
            pending.setdefault(key[0], []).append(part.drop("_d"))
        # A New York day ends on the next UTC day, so every UTC day before it is complete.
        for utc in sorted(d for d in pending if d <= day):
            _write_events(pl.concat(pending.pop(utc)), events_dir, utc, spec.export_format)
            files += 1
    for utc in sorted(pending):
        _write_events(pl.concat(pending.pop(utc)), events_dir, utc, spec.export_format)
        files += 1

    accounts, history = sim.account_tables(spec.end)
    initiatives, milestones = ops.initiatives(days)
    tables = {
        "accounts": accounts,
        "account_history": history,
        "cloud_costs": ops.cloud_costs(spec.seed, days, activity, by_kind.get("cost_spike")),
        "cost_budgets": ops.budgets(days),
        "cost_savings_opportunities": ops.savings_opportunities(spec.seed, days),
        "incidents": ops.incidents(spec.seed, days, tz, by_kind.get("incident_surge")),
        "support_tickets": ops.support_tickets(spec.seed, days, tz, live_accounts),
        "deploy_runs": ops.deploys(spec.seed, days, tz),
        "initiatives": initiatives,
        "initiative_milestones": milestones,
        "initiative_ledger": ops.initiative_ledger(spec.seed, days, initiatives),
        "industry_benchmarks": ops.industry_benchmarks(),
    }
    data_dir = tmp / "warehouse" / "data"
    data_dir.mkdir(parents=True)
    shutil.copyfile(SCHEMA_SQL, tmp / "warehouse" / "schema.sql")
    for name in TABLES:
        tables[name].write_csv(data_dir / f"{name}.csv", datetime_format="%Y-%m-%d %H:%M:%S%.6f")
    load_duckdb(tmp / "warehouse.duckdb", tmp / "warehouse")

    manifest = {
        "company": "Northwind Cloud",
        "spec": spec_json(spec),
        "anomalies": [
            {"kind": a.kind, "date": a.date.isoformat(), "expectation": a.expectation}
            for a in anomalies
        ],
        "control_day": control.isoformat() if control else None,
        "events_per_day": event_counts,
        "event_files": files,
        "table_rows": {name: tables[name].height for name in TABLES},
    }
    (tmp / "anomalies.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if output_dir.exists():
        old = output_dir.with_name(f".{output_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        output_dir.rename(old)
        tmp.rename(output_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(output_dir)
    return manifest
