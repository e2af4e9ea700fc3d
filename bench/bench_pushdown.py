"""Benchmark of the metrics' event aggregates with the PostHog Query API back-end: pushdown
(PostHog computes the aggregates in HogQL; only they cross the network) against the raw pull
(every event fetched page by page, typed, then aggregated here), on one New York day of N events
served by the local PostHog fake, and a memory check of the raw path's aggregation at volume.

The fake (reporting_assets_tests/fakes/posthog_fake.py) runs in its own process and answers
HogQL from DuckDB; its query time is part of each contender's wall time, as PostHog's would be.
Each contender runs `account_activity` and `revenue_protection` in a fresh process, contenders
interleaved, medians of --repeat runs; both must give the same tables (checked).

    python bench/bench_pushdown.py --events 1000000 [--repeat 3]
    python bench/bench_pushdown.py --memory-events 10000000,30000000

The memory check writes a synthetic typed `posthog_events` partition of each size (DuckDB, 20,000
accounts of 50 users) and aggregates it in a fresh process with `RawAggregates` (DuckDB within
the engine's memory limit) and with the same aggregates in Polars' streaming engine; peak RSS.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code and its test fakes

OUT = Path(__file__).parent / "out"
DAY = date(2026, 11, 19)  # the day bench_sources measures
API_KEY = "phx_bench"
CONTENDERS = ("pushdown", "raw pull")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _work(events: int) -> Path:
    return OUT / f"pushdown-{events}"


def prepare(events: int) -> None:
    """The demo company's day at `events` events (as bench_sources generates it), the day's
    events as PostHog holds them, and the day's account snapshot."""
    from reporting_assets.demo.generator import DemoSpec, generate_demo_company
    from reporting_assets.lib.events import read_batch_export
    from reporting_assets.partitions import day_window
    from reporting_assets.resources.sources import WarehouseResource
    from reporting_assets.sources.assets import WAREHOUSE_SOURCES, read_warehouse_source

    work = _work(events)
    if (work / "served.parquet").exists():
        return
    spec = DemoSpec(seed=11, start=DAY, end=DAY, events_per_day=events, starting_accounts=2000)
    generate_demo_company(spec, work / "demo", progress=False)
    w = day_window(DAY.isoformat())
    read_batch_export(
        str(work / "demo" / "posthog" / "events"), w.start_utc, w.end_utc
    ).write_parquet(work / "served.parquet")
    source = next(s for s in WAREHOUSE_SOURCES if s.name == "account_snapshot")
    warehouse = WarehouseResource(duckdb_path=str(work / "demo" / "warehouse.duckdb"))
    read_warehouse_source(source, warehouse, w).write_parquet(work / "accounts.parquet")


def serve(events: int) -> None:
    """The PostHog fake over the day's events, until stdin closes; prints its URL."""
    import polars as pl

    from reporting_assets_tests.fakes.posthog_fake import PostHogFake

    frame = pl.read_parquet(_work(events) / "served.parquet")
    with PostHogFake(frame, api_key=API_KEY, project_id=1) as fake:
        print(fake.url, flush=True)
        sys.stdin.read()


def contender(name: str, events: int, url: str, run: int) -> dict:
    """One contender in this process: the day's activity and revenue tables, and what crossed
    the network for them."""
    import polars as pl

    from reporting_assets.lib.events import typed_events
    from reporting_assets.metrics import compute
    from reporting_assets.metrics.event_aggregates import PushdownAggregates, RawAggregates
    from reporting_assets.partitions import day_window
    from reporting_assets.resources.posthog_api import PostHogQueryClient

    work = _work(events)
    accounts = pl.read_parquet(work / "accounts.parquet")
    w = day_window(DAY.isoformat())
    t0 = time.perf_counter()
    client = PostHogQueryClient(url, 1, API_KEY, timeout_s=600)
    if name == "pushdown":
        aggregates = PushdownAggregates(client, w.start_utc, w.end_utc)
    else:
        aggregates = RawAggregates(typed_events(client.fetch_events(w.start_utc, w.end_utc)))
    activity = compute.account_activity(aggregates.activity(), w.day)
    drops = compute.usage_drops(activity, w.day)
    revenue, at_risk = compute.revenue_protection(
        aggregates.revenue_events(), aggregates.events_by_plan(), accounts, drops, w.day
    )
    seconds = time.perf_counter() - t0
    tables = work / "tables" / f"{name.replace(' ', '_')}-{run}"
    tables.mkdir(parents=True, exist_ok=True)
    for table, frame in (("activity", activity), ("revenue", revenue), ("at_risk", at_risk)):
        frame.write_parquet(tables / f"{table}.parquet")
    return {
        "seconds": seconds,
        "rows": client.transfer.rows,
        "bytes": client.transfer.bytes,
        "queries": client.transfer.queries,
        "peak_mb": _peak_mb(),
        "tables": str(tables),
    }


def _child(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _same_tables(folders: list[str]) -> bool:
    import polars as pl
    from polars.testing import assert_frame_equal

    first = Path(folders[0])
    for other in map(Path, folders[1:]):
        for table in ("activity", "revenue", "at_risk"):
            try:
                assert_frame_equal(
                    pl.read_parquet(first / f"{table}.parquet"),
                    pl.read_parquet(other / f"{table}.parquet"),
                    check_exact=True,
                )
            except AssertionError:
                return False
    return True


def compare(events: int, repeat: int) -> None:
    OUT.mkdir(exist_ok=True)
    print(f"Preparing one New York day ({DAY}) of about {events:,} events …", flush=True)
    subprocess.run(
        [sys.executable, __file__, "--prepare", "--events", str(events)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--events", str(events)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        url = server.stdout.readline().strip()
        results: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
        for run in range(repeat):
            for name in CONTENDERS:  # interleaved, so machine noise hits both alike
                args = ["--contender", name, "--events", str(events), "--url", url]
                results[name].append(_child([*args, "--run", str(run)]))
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    same = _same_tables([r["tables"] for runs in results.values() for r in runs])
    medians = {n: statistics.median(r["seconds"] for r in runs) for n, runs in results.items()}
    print(
        f"\nMetric aggregates for one day of {events:,} events through the Query API (local "
        f"fake); median of {repeat} runs, each in a fresh process"
    )
    print(
        "| path | median s | runs (s) | rows transferred | MB transferred | queries | peak RSS MB |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        r = runs[0]
        listed = ", ".join(f"{x['seconds']:.2f}" for x in runs)
        peak = max(x["peak_mb"] for x in runs)
        print(
            f"| {name} | {medians[name]:.2f} | {listed} | {r['rows']:,} "
            f"| {r['bytes'] / 1e6:,.1f} | {r['queries']} | {peak:,.0f} |"
        )
    push, pull = results["pushdown"][0], results["raw pull"][0]
    print(
        f"\nRaw pull ÷ pushdown: time {medians['raw pull'] / medians['pushdown']:.1f}×, rows "
        f"{pull['rows'] / push['rows']:,.0f}×, bytes {pull['bytes'] / push['bytes']:,.0f}×"
    )
    print(f"Same tables from both paths in every run: {same}")
    (OUT / f"pushdown-{events}.json").write_text(
        json.dumps({"events": events, "day": DAY.isoformat(), "results": results}, indent=2)
    )
    if not same:
        raise SystemExit(1)


# ---------------------------------------------------------------------------------- memory


def synthetic_partition(events: int) -> Path:
    """A typed `posthog_events` partition of `events` rows (TYPED_SCHEMA), written by DuckDB."""
    import duckdb

    path = OUT / f"synthetic-{events}.parquet"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    con = duckdb.connect()
    con.execute("SET memory_limit = '2GB'")
    con.execute("SET preserve_insertion_order = false")
    tmp = path.with_suffix(".tmp")
    con.execute(f"""
        COPY (
            SELECT uuid()::VARCHAR AS uuid,
                   CASE WHEN r < 0.62 THEN '$pageview' WHEN r < 0.93 THEN 'feature_used'
                        WHEN r < 0.9999 THEN '$pageleave'
                        ELSE ['subscription_created', 'subscription_upgraded', 'payment_failed',
                              'purchase_completed'][1 + (i % 4)::INT] END AS event,
                   'u_' || lpad(a::VARCHAR, 5, '0') || '_' || ((i * 7919) % 50)::VARCHAR
                       AS distinct_id,
                   TIMESTAMPTZ '2026-11-19 05:00:00+00'
                       + to_microseconds(i * 86400000000 // {events}) AS timestamp,
                   'acct_' || lpad(a::VARCHAR, 5, '0') AS account_id,
                   ['starter', 'growth', 'scale', 'enterprise'][1 + (a % 4)::INT] AS plan,
                   CASE WHEN r >= 0.9999 THEN 4900 END::BIGINT AS amount_minor,
                   NULL::VARCHAR AS currency, CASE WHEN r >= 0.9999 THEN 49.0 END AS mrr,
                   NULL::DOUBLE AS previous_mrr, NULL::BIGINT AS seats, NULL::VARCHAR AS reason,
                   NULL::VARCHAR AS feature, false AS reactivation,
                   '{{"account_id":"acct_' || lpad(a::VARCHAR, 5, '0')
                       || '","plan":"growth","$current_url":"https://app.northwind.example/p/'
                       || (i % 997)::VARCHAR || '","$lib":"web"}}' AS properties
            FROM (SELECT i, random() AS r, (hash(i) % 20000)::BIGINT AS a FROM range({events}) t(i))
        ) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 262144)
    """)
    tmp.rename(path)
    return path


def aggregate(engine: str, path: Path) -> dict:
    """The three aggregates of a stored partition in this process: time and peak RSS."""
    import polars as pl

    from reporting_assets.lib.engine import EngineLimits
    from reporting_assets.metrics.event_aggregates import REVENUE_EVENTS, RawAggregates

    scan = pl.scan_parquet(path)
    t0 = time.perf_counter()
    if engine == "duckdb":
        aggregates = RawAggregates(scan, EngineLimits(memory_limit="2GB"))
        frames = [aggregates.activity(), aggregates.revenue_events(), aggregates.events_by_plan()]
    else:
        frames = pl.collect_all(
            [
                scan.filter(pl.col("account_id").is_not_null())
                .group_by("account_id")
                .agg(
                    events=pl.len(),
                    active_users=pl.col("distinct_id").n_unique(),
                    pageviews=(pl.col("event") == "$pageview").sum(),
                    feature_uses=(pl.col("event") == "feature_used").sum(),
                ),
                scan.filter(pl.col("event").is_in(REVENUE_EVENTS)),
                scan.group_by("plan").agg(events_received=pl.len()),
            ],
            engine="streaming",
        )
    return {
        "seconds": time.perf_counter() - t0,
        "peak_mb": _peak_mb(),
        "accounts": frames[0].height,
        "events": int(frames[0].get_column("events").sum()),
    }


def memory(sizes: list[int]) -> None:
    rows = []
    for events in sizes:
        print(f"Writing a synthetic partition of {events:,} events …", flush=True)
        path = synthetic_partition(events)
        for engine in ("duckdb", "polars streaming"):
            r = _child(["--aggregate", engine, "--path", str(path)])
            rows.append({"events": events, "engine": engine, **r})
    print("\n| events | engine | seconds | peak RSS MB |")
    print("|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['events']:,} | {r['engine']} | {r['seconds']:.2f} | {r['peak_mb']:,.0f} |")
    (OUT / "pushdown-memory.json").write_text(json.dumps(rows, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-events", help="comma-separated sizes for the memory check")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--aggregate", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("REPORTING_HOME", str(_work(args.events)))
    if args.prepare:
        prepare(args.events)
    elif args.serve:
        serve(args.events)
    elif args.contender:
        print(json.dumps(contender(args.contender, args.events, args.url, args.run)))
    elif args.aggregate:
        print(json.dumps(aggregate(args.aggregate, Path(args.path))))
    elif args.memory_events:
        memory([int(n) for n in args.memory_events.split(",")])
    else:
        compare(args.events, args.repeat)


if __name__ == "__main__":
    main()
