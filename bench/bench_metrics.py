"""Benchmark of the daily metric stage on one day of N events, side by side in one run with a
straightforward pandas implementation of the same metrics and a bare DuckDB query over the same
file.

The stage is what `account_activity_daily` and `revenue_protection_daily` compute from the stored
`posthog_events` partition: per-account activity (events, distinct users, page views, feature
uses) and the MRR movements and payment health by plan. Each contender reads the same Parquet
file and must produce the same numbers (checked); medians of --repeat runs, in one process each.

    python bench/bench_metrics.py --events 10000000 [--repeat 5]

Run bench/bench_sources.py with the same --events first: it writes the partition read here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
DAY = "2026-11-19"
LIFECYCLE = ("subscription_created", "subscription_upgraded", "subscription_downgraded",
             "subscription_cancelled", "subscription_renewed", "payment_failed",
             "payment_recovered")  # fmt: skip


def paths(events: int) -> tuple[Path, Path]:
    work = OUT / f"sources-{events}"
    return work / "assets" / "posthog_events" / f"{DAY}.parquet", work


def ours(path: Path, work: Path) -> dict:
    """The platform's own code path: the event aggregates of the stored day (DuckDB over a lazy
    scan) + compute.account_activity/revenue_protection."""
    from datetime import date

    import polars as pl

    from reporting_assets.metrics import compute
    from reporting_assets.metrics.event_aggregates import RawAggregates

    os.environ["REPORTING_HOME"] = str(work)
    accounts = pl.read_parquet(work / "accounts.parquet")
    day = date.fromisoformat(DAY)
    events = RawAggregates(pl.scan_parquet(path))  # a LazyFrame input is a scan of the file
    activity = compute.account_activity(events.activity(), day)
    drops = compute.usage_drops(activity, day)
    revenue, _ = compute.revenue_protection(
        events.revenue_events(), events.events_by_plan(), accounts, drops, day
    )
    return _summary_polars(activity, revenue)


def _summary_polars(activity, revenue) -> dict:
    total = revenue.filter(revenue["plan"] == "total").row(0, named=True)
    return {
        "accounts": activity.height,
        "events": int(activity["events"].sum()),
        "active_users": int(activity["active_users"].sum()),
        "pageviews": int(activity["pageviews"].sum()),
        "new_mrr": round(total["new_mrr"], 2),
        "churned_mrr": round(total["churned_mrr"], 2),
        "payments_failed": int(total["payments_failed"]),
    }


def pandas_version(path: Path, work: Path) -> dict:
    """How a careful analyst would write the same metrics in pandas."""
    import pandas as pd

    ev = pd.read_parquet(
        path,
        columns=[
            "uuid",
            "event",
            "distinct_id",
            "account_id",
            "plan",
            "mrr",
            "previous_mrr",
            "reactivation",
        ],
    )
    ev = ev[ev["account_id"].notna()]
    ev["is_pageview"] = ev["event"] == "$pageview"
    ev["is_feature"] = ev["event"] == "feature_used"
    activity = ev.groupby("account_id").agg(
        events=("uuid", "size"),
        active_users=("distinct_id", "nunique"),
        pageviews=("is_pageview", "sum"),
        feature_uses=("is_feature", "sum"),
    )
    life = ev[ev["event"].isin(LIFECYCLE)]
    created = life[(life["event"] == "subscription_created") & ~life["reactivation"].fillna(False)]
    cancelled = life[life["event"] == "subscription_cancelled"]
    return {
        "accounts": len(activity),
        "events": int(activity["events"].sum()),
        "active_users": int(activity["active_users"].sum()),
        "pageviews": int(activity["pageviews"].sum()),
        "new_mrr": round(float(created["mrr"].sum()), 2),
        "churned_mrr": round(float(cancelled["previous_mrr"].sum()), 2),
        "payments_failed": int((life["event"] == "payment_failed").sum()),
    }


def duckdb_version(path: Path, work: Path) -> dict:
    """The floor: one bare DuckDB query per table over the same file."""
    import duckdb

    con = duckdb.connect()
    src = f"read_parquet('{path}')"
    acc = con.execute(f"""
        SELECT count(*), sum(events), sum(users), sum(pv) FROM (
            SELECT account_id, count(*) AS events, count(DISTINCT distinct_id) AS users,
                   count(*) FILTER (WHERE event = '$pageview') AS pv,
                   count(*) FILTER (WHERE event = 'feature_used') AS fu
            FROM {src} WHERE account_id IS NOT NULL GROUP BY account_id)
    """).fetchall()[0]
    rev = con.execute(f"""
        SELECT sum(mrr) FILTER (WHERE event = 'subscription_created' AND NOT reactivation),
               sum(previous_mrr) FILTER (WHERE event = 'subscription_cancelled'),
               count(*) FILTER (WHERE event = 'payment_failed')
        FROM {src} WHERE event IN {LIFECYCLE}
    """).fetchall()[0]
    return {
        "accounts": acc[0],
        "events": int(acc[1]),
        "active_users": int(acc[2]),
        "pageviews": int(acc[3]),
        "new_mrr": round(float(rev[0] or 0), 2),
        "churned_mrr": round(float(rev[1] or 0), 2),
        "payments_failed": int(rev[2]),
    }


CONTENDERS = {"ours": ours, "pandas": pandas_version, "bare duckdb": duckdb_version}


def prepare(events: int) -> None:
    """The day's account snapshot, read once through the warehouse source."""
    from reporting_assets.partitions import day_window
    from reporting_assets.resources.sources import WarehouseResource
    from reporting_assets.sources.assets import WAREHOUSE_SOURCES, read_warehouse_source

    _, work = paths(events)
    source = next(s for s in WAREHOUSE_SOURCES if s.name == "account_snapshot")
    warehouse = WarehouseResource(duckdb_path=str(work / "demo" / "warehouse.duckdb"))
    read_warehouse_source(source, warehouse, day_window(DAY)).write_parquet(
        work / "accounts.parquet"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path, work = paths(args.events)
    if args.run:
        # Libraries are imported before the clock starts: the stage is reading and computing.
        import duckdb  # noqa: F401
        import pandas  # noqa: F401
        import polars  # noqa: F401

        import reporting_assets.metrics.compute  # noqa: F401

        t0 = time.perf_counter()
        summary = CONTENDERS[args.run](path, work)
        print(json.dumps({"seconds": time.perf_counter() - t0, "summary": summary}))
        return
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bench/bench_sources.py --events {args.events}")
    prepare(args.events)
    results = {}
    # Interleave the contenders so that machine noise hits them alike.
    for _ in range(args.repeat):
        for name in CONTENDERS:
            out = subprocess.run(
                [sys.executable, __file__, "--events", str(args.events), "--run", name],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.setdefault(name, {"runs": [], "summary": r["summary"]})["runs"].append(
                r["seconds"]
            )
    summaries = {n: r["summary"] for n, r in results.items()}
    same = len({json.dumps(s, sort_keys=True) for s in summaries.values()}) == 1
    ours_s = statistics.median(results["ours"]["runs"])
    print(
        f"\nMetric stage on one day of {args.events:,} events ({path.stat().st_size / 1e6:,.0f} MB "
        f"Parquet); median of {args.repeat} runs, each in a fresh process"
    )
    print("| implementation | median s | runs (s) | its time ÷ ours |")
    print("|---|---:|---|---:|")
    for name, r in results.items():
        med = statistics.median(r["runs"])
        print(
            f"| {name} | {med:.2f} | {', '.join(f'{s:.2f}' for s in r['runs'])} | "
            f"{med / ours_s:.2f}× |"
        )
    print(f"\nSame numbers from all three: {same}")
    if not same:
        print(json.dumps(summaries, indent=2))
        raise SystemExit(1)
    (OUT / f"metrics-{args.events}.json").write_text(
        json.dumps({"events": args.events, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
