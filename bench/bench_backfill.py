"""Benchmark of a 30-day backfill through Dagster's run queue on PostgreSQL: two runs at once
against one at a time.

Each backfill is `reporting backfill daily_sources_job` over the last 30 days of a demo company
(PostHog events and the ten warehouse sources per day): a Dagster asset backfill on a fresh
PostgreSQL database, with `deploy/dagster.yaml`'s queue and pools (only `max_concurrent_runs`
changed), driven without a daemon as `reporting backfill` does, each run a process of its own.
Every backfill starts from an empty asset store, in a fresh process. The two settings alternate,
so a change in the machine's load falls on both.

    python bench/bench_backfill.py [--days 30] [--repeat 3] [--pg-url postgresql://…]

Without --pg-url, a throwaway PostgreSQL is started with scripts/test-postgres.sh (port 54361)
and stopped at the end. Prints the median wall time of each setting, every run's time and the
ratio, and writes the figures to bench/out/backfill.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).parents[1]
OUT = ROOT / "bench/out"
WORK = OUT / "backfill"
JOB = "daily_sources_job"
END = date(2026, 11, 19)  # the last day backfilled (as in the other benches)
DEMO_DAYS = 100


def one_backfill(concurrency: int, days: int, dagster_home: Path, result_file: Path) -> None:
    """In this process: a backfill of `days` days through the queue of the instance in
    `dagster_home`; write its timings as JSON to `result_file`."""
    import dagster as dg

    from reporting_assets.backfills import drive, partitions_between, submit
    from reporting_assets.cli.pools import apply_pool_limits
    from reporting_assets.definitions import defs

    first = (END - timedelta(days=days - 1)).isoformat()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        apply_pool_limits(instance)
        keys = partitions_between(defs, JOB, first, END.isoformat())
        t0 = time.perf_counter()
        backfill_id = submit(instance, defs, JOB, keys)
        status = drive(instance, backfill_id, lambda run: None)
        wall = time.perf_counter() - t0
        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    spans = sorted((r.start_time, r.end_time) for r in records)
    result = {
        "concurrency": concurrency,
        "status": status.value,
        "wall_s": wall,
        "partitions": len(keys),
        "runs": len(records),
        "failed_runs": sum(r.dagster_run.status != dg.DagsterRunStatus.SUCCESS for r in records),
        "most_at_once": most_at_once(spans),
        "median_run_s": statistics.median(e - s for s, e in spans),
        "median_queued_to_start_s": statistics.median(
            r.start_time - r.create_timestamp.timestamp() for r in records
        ),
    }
    result_file.write_text(json.dumps(result))


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = most = 0
    for _, change in edges:
        now += change
        most = max(most, now)
    return most


def prepare_demo() -> None:
    """The demo company at the demo config's volume, ending on END."""
    from reporting_assets.config import get_settings
    from reporting_assets.demo.generator import DemoSpec, generate_demo_company

    demo = WORK / "var/demo"
    if (demo / "anomalies.json").exists():
        return
    print(f"Generating the demo company ({DEMO_DAYS} days to {END}) …", flush=True)
    s = get_settings().demo
    spec = DemoSpec(
        seed=s.seed,
        start=END - timedelta(days=DEMO_DAYS - 1),
        end=END,
        events_per_day=s.events_per_day,
        starting_accounts=s.starting_accounts,
    )
    generate_demo_company(spec, demo, progress=False)


def run_backfill(concurrency: int, days: int, pg_url: str, env: dict) -> dict:
    """One backfill in a fresh process, on a fresh database and an empty asset store."""
    import psycopg2

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    shutil.rmtree(WORK / "var/data", ignore_errors=True)
    home = WORK / "dagster_home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "deploy/dagster.yaml").read_text())
    config["concurrency"]["runs"]["max_concurrent_runs"] = concurrency
    # Wait for the code server (and the runs it started) before the database is dropped.
    config["code_servers"] = {"wait_for_local_processes_on_shutdown": True}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    u = urlparse(pg_url)
    child_env = {
        **env,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": u.hostname,
        "DAGSTER_PG_PORT": str(u.port or 5432),
        "DAGSTER_PG_USER": u.username or "postgres",
        "DAGSTER_PG_PASSWORD": u.password or "",
        "DAGSTER_PG_DB": name,
    }
    result_file = WORK / "result.json"
    result_file.unlink(missing_ok=True)
    log = WORK / f"backfill-{concurrency}.log"
    cmd = [sys.executable, __file__, "--one", str(concurrency), "--days", str(days)]
    try:
        with log.open("w") as out:
            subprocess.run(
                cmd, env=child_env, cwd=WORK, stdout=out, stderr=subprocess.STDOUT, check=True
            )
        return json.loads(result_file.read_text())
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", default=os.environ.get("REPORTING_BENCH_PG_URL"))
    parser.add_argument("--port", type=int, default=54361)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_backfill(args.one, args.days, Path(os.environ["DAGSTER_HOME"]), WORK / "result.json")
        return

    WORK.mkdir(parents=True, exist_ok=True)
    today = (END + timedelta(days=1)).isoformat()
    env = {**os.environ, "REPORTING_HOME": str(WORK), "REPORTING_TODAY": today}
    env.pop("REPORTING_CONFIG", None)
    os.environ.update(REPORTING_HOME=str(WORK), REPORTING_TODAY=today)
    prepare_demo()
    pg_dir, pg_url = None, args.pg_url
    if not pg_url:
        pg_dir = tempfile.mkdtemp(prefix="bench-pg-")
        script = str(ROOT / "scripts/test-postgres.sh")
        start = [script, "start", pg_dir, str(args.port)]
        pg_url = subprocess.run(start, capture_output=True, text=True, check=True).stdout.strip()
    results: dict[int, list[dict]] = {2: [], 1: []}
    try:
        for i in range(args.repeat):
            for concurrency in (2, 1) if i % 2 == 0 else (1, 2):
                print(f"backfill {i + 1}/{args.repeat}, {concurrency} at once …", flush=True)
                r = run_backfill(concurrency, args.days, pg_url, env)
                if r["status"] != "COMPLETED_SUCCESS" or r["failed_runs"]:
                    raise SystemExit(f"backfill did not succeed: {r} (see {WORK})")
                print(
                    f"  {r['wall_s']:.1f} s, {r['runs']} runs, at most {r['most_at_once']} at once",
                    flush=True,
                )
                results[concurrency].append(r)
    finally:
        if pg_dir:
            subprocess.run([str(ROOT / "scripts/test-postgres.sh"), "stop", pg_dir], check=False)

    median = {c: statistics.median(r["wall_s"] for r in rs) for c, rs in results.items()}
    print(
        f"\n{args.days}-day backfill of {JOB} through the run queue (PostgreSQL instance), "
        f"{os.cpu_count()} cores\n"
    )
    print(
        "| runs at once | median wall s | runs (s) | Dagster runs | most at once seen "
        "| median run s | median queued → started s |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|")
    for c in (1, 2):
        rs = results[c]
        walls = ", ".join(f"{r['wall_s']:.1f}" for r in rs)
        print(
            f"| {c} | {median[c]:.1f} | {walls} | {rs[0]['runs']} "
            f"| {max(r['most_at_once'] for r in rs)} "
            f"| {statistics.median(r['median_run_s'] for r in rs):.1f} "
            f"| {statistics.median(r['median_queued_to_start_s'] for r in rs):.1f} |"
        )
    print(
        f"\n**2 at once: {median[1] / median[2]:.2f}× the speed of 1 at once** "
        f"({median[2]:.1f} s against {median[1]:.1f} s)"
    )
    meta = {
        "job": JOB,
        "days": args.days,
        "cpus": os.cpu_count(),
        "median_s": median,
        "ratio": median[1] / median[2],
        "results": results,
    }
    (OUT / "backfill.json").write_text(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
