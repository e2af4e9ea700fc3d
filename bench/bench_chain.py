"""Benchmark of the whole daily chain at volume: one day of N PostHog events (10 M by default)
from the export files to the report emails in the outbox, through `daily_report_job` (sources
and their gates, metrics and their checks, alerts, charts, PDF, workbook, email, delivery).

    python bench/bench_chain.py [--events 10000000] [--repeat 3] [--home bench/out/periods]

It runs on the demo store that `bench_periods.py` builds (`reporting demo`, about 4 minutes the
first time). The day measured is the one before the demo's last day: its history is in the store
and its report has not been sent. That day's export is scaled to N events by adding product
usage (page views, feature uses) of the day's own accounts at random moments of the New York day,
in extra files listed in the export's manifests; revenue events are left as they were. Each run
starts from the same app database (so the ledger has not sent the day yet), in a fresh process;
the emails it wrote to the outbox are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).parents[1]
CHUNK = 2_000_000
GOAL_S = 30


def worker(key: str) -> None:
    """Run `daily_report_job` for one day in this process; print its timings as JSON."""
    import dagster as dg

    from reporting_assets.definitions import defs

    t0 = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("daily_report_job").execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})  # fmt: skip
    total = time.perf_counter() - t0
    steps = {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events
             if e.event_type_value == "STEP_SUCCESS"}  # fmt: skip
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"success": result.success, "total": total, "steps": steps,
                      "failed_checks": failed, "peak_mb": peak}))  # fmt: skip


def scale_export(source: Path, target: Path, day: str, events: int) -> int:
    """A copy of the export in which New York day `day` holds about `events` events; returns
    how many it holds."""
    import numpy as np
    import polars as pl

    from reporting_assets.lib.events import export_files, read_batch_export
    from reporting_assets.partitions import day_window

    w = day_window(day)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for f in source.iterdir():
        (target / f.name).symlink_to(f.resolve())
    base = read_batch_export(str(source), w.start_utc, w.end_utc)
    usage = base.filter(pl.col("event").is_in(["$pageview", "feature_used", "$pageleave"]))
    extra_total = max(0, events - base.height)
    rng = np.random.default_rng(7)
    span = (w.end_utc - w.start_utc).total_seconds()
    start_us = int(w.start_utc.timestamp() * 1_000_000)
    by_manifest: dict[str, list[str]] = {}
    made = 0
    while made < extra_total:
        n = min(CHUNK, extra_total - made)
        pick = usage[rng.integers(0, usage.height, n)]
        offsets = (rng.random(n) * span * 1_000_000).astype("int64")
        chunk = pick.with_columns(
            uuid=pl.Series([f"bench-{made + i:012d}" for i in range(n)]),
            timestamp=pl.Series(start_us + offsets).cast(pl.Datetime("us", "UTC")),
        )
        for path, manifest in export_files(str(source), w.start_utc, w.end_utc):
            lo = path.name[:25]
            part = chunk.filter(pl.col("timestamp").dt.strftime("%Y-%m-%dT00:00:00+00:00") == lo)
            if part.height:
                name = f"{path.name.split('.parquet')[0]}-bench-{made}.parquet"
                part.sort("timestamp").write_parquet(target / name)
                by_manifest.setdefault(manifest, []).append(name)
        made += n
    for manifest, names in by_manifest.items():
        link = target / manifest
        body = json.loads(link.read_text())
        link.unlink()
        body["files"] = body["files"] + names
        link.write_text(json.dumps(body))
    return base.height + extra_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--home", default=str(ROOT / "bench/out/periods"))
    parser.add_argument("--worker", metavar="DAY")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "REPORTING_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    reporting = str(Path(sys.executable).with_name("reporting"))
    if not (home / "var/data/assets/business_scorecard_weekly").exists():
        print("building the demo store (reporting demo)…", flush=True)
        subprocess.run([reporting, "demo"], cwd=home, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    os.environ.update(env)
    manifest = json.loads((home / "var/demo/anomalies.json").read_text())
    day = (date.fromisoformat(manifest["spec"]["end"]) - timedelta(days=1)).isoformat()
    export = home / f"var/bench-chain/events-{args.events}"
    print(f"scaling {day} to about {args.events:,} events …", flush=True)
    held = scale_export(home / "var/demo/posthog/events", export, day, args.events)

    import yaml

    from reporting_assets.config import DEFAULT_CONFIG

    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["sources"]["posthog"].update(backend="batch_export", export_path=str(export))
    config_file = home / "var/bench-chain/config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env["REPORTING_CONFIG"] = str(config_file)
    app_db = home / "var/data/app.db"
    pristine = home / "var/bench-chain/app.db"
    if not pristine.exists():
        shutil.copy(app_db, pristine)
    outbox = home / "var/outbox"
    runs = []
    for _ in range(args.repeat):
        shutil.copy(pristine, app_db)
        for suffix in ("-wal", "-shm"):
            Path(f"{app_db}{suffix}").unlink(missing_ok=True)
        started = time.time()
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--worker", day], cwd=home, env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
        wall = time.perf_counter() - t0
        run = json.loads(out.stdout.strip().splitlines()[-1])
        run["wall"] = wall
        # A run rewrites the same files (<report>/<period>/<reader>.eml): count what it wrote.
        run["emails"] = sum(f.stat().st_mtime >= started for f in outbox.rglob("*.eml"))
        runs.append(run)
        print(f"  run: job {run['total']:.1f} s, process {wall:.1f} s, {run['emails']} emails, "
              f"peak RSS {run['peak_mb']:,.0f} MB, success {run['success']}",
              flush=True)  # fmt: skip
    totals = [r["total"] for r in runs]
    slowest = sorted(runs[-1]["steps"].items(), key=lambda kv: -kv[1])[:5]
    print(f"\ndaily_report_job [{day}], {held:,} events: median {statistics.median(totals):.1f} s "
          f"({', '.join(f'{t:.1f}' for t in totals)}); whole process median "
          f"{statistics.median(r['wall'] for r in runs):.1f} s; goal {GOAL_S} s")  # fmt: skip
    print("slowest steps (last run): " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
    print(f"failed checks: {runs[-1]['failed_checks'] or 'none'}; emails per run: "
          f"{[r['emails'] for r in runs]}")  # fmt: skip


if __name__ == "__main__":
    main()
