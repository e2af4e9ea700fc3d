"""Volume benchmark of the source stage: one New York day of N PostHog events.

Generates the day (batch-export Parquet, as PostHog writes it; a day of millions of events is
written a chunk at a time, so 100 M events fit in about 2 GB), then measures, each run in a
fresh process so that peak memory is the run's own, and alternating: the floor (one bare DuckDB
statement that reads the day's export files, keeps the New York day, types the properties and
writes the partition, within the same memory limit) and the whole `posthog_events` asset through
Dagster (the same work streamed, plus its schema and completeness gates as queries over the
written file). Prints median wall time over --repeat runs, rows/s and peak RSS, the ratio, and
writes the figures to bench/out/sources-<events>.json.

    python bench/bench_sources.py --events 1000000 [--repeat 3] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

OUT = Path(__file__).parent / "out"
DAY = date(2026, 11, 19)  # a Thursday: a full business day


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _workdir(events: int) -> Path:
    return OUT / f"sources-{events}"


def stage(name: str, events: int) -> dict:
    """Run one stage in this process; return its wall time, rows and peak memory."""
    work = _workdir(events)
    os.environ["REPORTING_HOME"] = str(work)
    from reporting_assets.partitions import day_window

    window = day_window(DAY.isoformat())
    export = work / "demo" / "posthog" / "events"
    t0 = time.perf_counter()
    if name == "bare_duckdb":
        rows = bare_statement(export, window, work / "bare.parquet")
    elif name == "posthog_events_asset":
        import dagster as dg

        from reporting_assets.resources import (
            AppDatabase,
            PartitionedParquetIOManager,
            SettingsResource,
        )
        from reporting_assets.resources.sources import PostHogEventsResource
        from reporting_assets.sources.assets import posthog_events

        result = dg.materialize(
            [posthog_events],
            partition_key=DAY.isoformat(),
            resources={
                "io_manager": PartitionedParquetIOManager(root=str(work / "assets")),
                "posthog": PostHogEventsResource(backend="batch_export", export_path=str(export)),
                "app_db": AppDatabase(sqlite_path=str(work / "app.db")),
                "business": SettingsResource(),
            },
        )
        rows = result.asset_materializations_for_node("posthog_events")[0].metadata["rows"].value
    else:
        raise SystemExit(f"unknown stage {name}")
    return {"stage": name, "seconds": time.perf_counter() - t0, "rows": rows, "peak_mb": _peak_mb()}


def bare_statement(export: Path, window, dest: Path) -> int:
    """The floor: one DuckDB statement, within the same memory limit as the pipeline, that reads
    the export files of the day, keeps the New York day, types the same properties and writes
    the Parquet partition. No checks, no Dagster."""
    import duckdb

    from reporting_assets.config import get_settings
    from reporting_assets.lib.engine import EngineLimits, connect
    from reporting_assets.lib.events import export_files, typed_select

    files = [str(p) for p, _ in export_files(str(export), window.start_utc, window.end_utc)]
    day = (
        f"(SELECT uuid, event, distinct_id, timestamp, properties FROM read_parquet({files!r}) "
        f"WHERE timestamp >= '{window.start_utc.isoformat()}'::TIMESTAMPTZ "
        f"AND timestamp < '{window.end_utc.isoformat()}'::TIMESTAMPTZ)"
    )
    with connect(EngineLimits.of(get_settings())) as con:
        con.execute(f"COPY ({typed_select(day)}) TO '{dest}' (FORMAT parquet, COMPRESSION zstd)")
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{dest}')").fetchall()[0][0]
    del duckdb
    return rows


def generate(events: int) -> dict:
    from reporting_assets.demo.generator import DemoSpec, generate_demo_company

    work = _workdir(events)
    t0 = time.perf_counter()
    manifest = generate_demo_company(
        DemoSpec(seed=11, start=DAY, end=DAY, events_per_day=events, starting_accounts=2000),
        work / "demo",
        progress=False,
    )
    export = work / "demo" / "posthog" / "events"
    return {
        "stage": "generate_day",
        "seconds": time.perf_counter() - t0,
        "rows": manifest["events_per_day"][DAY.isoformat()],
        "peak_mb": _peak_mb(),
        "files": manifest["event_files"],
        "disk_mb": sum(p.stat().st_size for p in export.iterdir()) / 2**20,
    }


def _child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep a day generated before")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(generate(args.events)))
        return
    if args.stage:
        print(json.dumps(stage(args.stage, args.events)))
        return

    OUT.mkdir(exist_ok=True)
    results = []
    if not (args.reuse and (_workdir(args.events) / "demo" / "posthog").exists()):
        print(f"Generating one New York day ({DAY}) of about {args.events:,} events …", flush=True)
        results.append(_child(["--generate", "--events", str(args.events)]))
    # The contenders alternate, so a slow moment of the machine falls on both.
    names = ("bare_duckdb", "posthog_events_asset")
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for _ in range(args.repeat):
        for name in names:
            runs[name].append(_child(["--stage", name, "--events", str(args.events)]))
    for name in names:
        results.append(
            {
                "stage": name,
                "seconds": statistics.median(r["seconds"] for r in runs[name]),
                "runs": [round(r["seconds"], 3) for r in runs[name]],
                "rows": runs[name][0]["rows"],
                "peak_mb": max(r["peak_mb"] for r in runs[name]),
            }
        )
    asset, bare = results[-1]["seconds"], results[-2]["seconds"]
    print(f"\nThe asset takes {asset / bare:.2f}x the bare statement's time (goal at most 1.5x).")
    print("\n| stage | median s | runs (s) | rows | rows/s | peak RSS MB |")
    print("|---|---:|---|---:|---:|---:|")
    for r in results:
        rate = r["rows"] / r["seconds"] if r["seconds"] else float("nan")
        runs = ", ".join(f"{s:.2f}" for s in r.get("runs", [r["seconds"]]))
        print(
            f"| {r['stage']} | {r['seconds']:.2f} | {runs} | {r['rows']:,} | {rate:,.0f} "
            f"| {r['peak_mb']:,.0f} |"
        )
    meta = {
        "events": args.events,
        "day": DAY.isoformat(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "results": results,
    }
    (OUT / f"sources-{args.events}.json").write_text(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
