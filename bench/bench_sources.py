"""Volume benchmark of the source stage: one New York day of N PostHog events.

Generates the day (batch-export Parquet, as PostHog writes it; a day of millions of events is
written a chunk at a time, so 100 M events fit in a few GB of memory), then measures each stage in a
fresh process so that peak memory is the stage's own: reading the export for the day, typing the
event properties, writing the partition, and the whole `posthog_events` asset through Dagster.
Prints median wall time over --repeat runs, rows/s and peak RSS per stage, and writes the figures
to bench/out/sources-<events>.json.

    python bench/bench_sources.py --events 1000000 [--repeat 3]
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
    if name == "read_export":
        from reporting_assets.lib.events import read_batch_export

        rows = read_batch_export(str(export), window.start_utc, window.end_utc).height
    elif name == "type_properties":
        import polars as pl

        from reporting_assets.lib.events import read_batch_export, typed_events

        raw = read_batch_export(str(export), window.start_utc, window.end_utc)
        t0 = time.perf_counter()
        typed = typed_events(raw)
        rows = typed.height
        assert typed.get_column("account_id").null_count() == 0
        del pl
    elif name == "write_partition":
        from reporting_assets.lib.events import read_batch_export, typed_events

        typed = typed_events(read_batch_export(str(export), window.start_utc, window.end_utc))
        t0 = time.perf_counter()
        typed.write_parquet(work / "partition.parquet", compression="zstd")
        rows = typed.height
    elif name == "posthog_events_asset":
        import dagster as dg

        from reporting_assets.resources import AppDatabase, PartitionedParquetIOManager
        from reporting_assets.resources.sources import PostHogEventsResource
        from reporting_assets.sources.assets import posthog_events

        result = dg.materialize(
            [posthog_events],
            partition_key=DAY.isoformat(),
            resources={
                "io_manager": PartitionedParquetIOManager(root=str(work / "assets")),
                "posthog": PostHogEventsResource(backend="batch_export", export_path=str(export)),
                "app_db": AppDatabase(sqlite_path=str(work / "app.db")),
            },
        )
        rows = result.asset_materializations_for_node("posthog_events")[0].metadata["rows"].value
    else:
        raise SystemExit(f"unknown stage {name}")
    return {"stage": name, "seconds": time.perf_counter() - t0, "rows": rows, "peak_mb": _peak_mb()}


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
    print(f"Generating one New York day ({DAY}) of about {args.events:,} events …", flush=True)
    results = [_child(["--generate", "--events", str(args.events)])]
    for name in ("read_export", "type_properties", "write_partition", "posthog_events_asset"):
        runs = [_child(["--stage", name, "--events", str(args.events)]) for _ in range(args.repeat)]
        results.append(
            {
                "stage": name,
                "seconds": statistics.median(r["seconds"] for r in runs),
                "runs": [round(r["seconds"], 3) for r in runs],
                "rows": runs[0]["rows"],
                "peak_mb": max(r["peak_mb"] for r in runs),
            }
        )
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
