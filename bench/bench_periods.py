"""Benchmark of the weekly and monthly stages against the seed's SLOs (weekly < 15 min,
monthly < 45 min): `weekly_report_job` and `monthly_report_job` end to end (analytics, models,
checks, PDF, workbook, email, decks, delivery), each run in a fresh process on the demo store.

    python bench/bench_periods.py [--repeat 3] [--home bench/out/periods]

The first run builds the demo store there with `reporting demo` (about 3.5 minutes).
Prints, per job, the median wall time of the whole run and of its analytics steps.
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

ROOT = Path(__file__).parents[1]
ANALYTICS = ("_weekly", "_monthly")
SLO_MINUTES = {"weekly_report_job": 15, "monthly_report_job": 45}


def worker(job: str, key: str) -> None:
    """Run one job for one partition in this process and print its timings as JSON."""
    import dagster as dg

    from reporting_assets.definitions import defs

    t0 = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})  # fmt: skip
    total = time.perf_counter() - t0
    steps = {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events
             if e.event_type_value == "STEP_SUCCESS"}  # fmt: skip
    print(json.dumps({"success": result.success, "total": total, "steps": steps}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--home", default=str(ROOT / "bench/out/periods"))
    parser.add_argument("--worker", nargs=2, metavar=("JOB", "KEY"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "REPORTING_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    reporting = str(Path(sys.executable).with_name("reporting"))
    if not (home / "var/data/assets/business_scorecard_weekly").exists():
        print("building the demo store (reporting demo)…", flush=True)
        subprocess.run([reporting, "demo"], cwd=home, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    from reporting_assets.partitions import monthly_partitions, weekly_partitions

    keys = {"weekly_report_job": weekly_partitions.get_last_partition_key(),
            "monthly_report_job": monthly_partitions.get_last_partition_key()}  # fmt: skip
    for job, key in keys.items():
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, __file__, "--worker", job, key], cwd=home,
                                 env=env, capture_output=True, text=True, check=True)  # fmt: skip
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        assert all(r["success"] for r in runs), f"{job} failed"
        totals = [r["total"] for r in runs]
        analytics = [sum(v for k, v in r["steps"].items() if k.endswith(ANALYTICS)) for r in runs]
        slowest = max(runs[-1]["steps"].items(), key=lambda kv: kv[1])
        median = statistics.median(totals)
        print(f"{job} [{key}]: median {median:.1f} s "
              f"({', '.join(f'{t:.1f}' for t in totals)}); analytics steps "
              f"{statistics.median(analytics):.1f} s; slowest step {slowest[0]} "
              f"{slowest[1]:.1f} s; SLO {SLO_MINUTES[job]} min = "
              f"{SLO_MINUTES[job] * 60 / median:.0f}× headroom")  # fmt: skip


if __name__ == "__main__":
    main()
