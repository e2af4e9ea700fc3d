"""Benchmark of the web app: `reporting serve` in its own process (one uvicorn worker) over a
home with a rendered daily report, as the browser tests run it.

    python bench/bench_web.py [--readers 50] [--pages 10] [--notices 20]

1. Page render time with `--readers` signed-in readers at once, each loading Today and the
   report's page `--pages` times in a row: median and p95 per page, and pages per second.
2. Notification to screen through Server-Sent Events: `--readers` readers keep `/events` open;
   a notification is written to the app database (as the alert sensor and the intraday hook
   write them) and the time until each reader's stream delivers it is taken; `--notices` times.
   Median and p95 over every reader and notice. (The browser tests measure the same path to a
   painted element in Chromium for one reader.)
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parents[1]))  # the live site helper: tests/

from reporting_assets_tests.web.live import CEO, DAY, LiveSite


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def signed_in(site: LiveSite, address: str) -> requests.Session:
    """A reader's session, signed in through their link (the page, then its button's POST)."""
    session = requests.Session()
    url = f"{site.url}/signin/{site.token(address)}"
    page = session.get(url, timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    session.post(url, data={"csrf": csrf}, timeout=10).raise_for_status()
    return session


def readers(site: LiveSite, n: int) -> list[requests.Session]:
    """`n` signed-in readers (the CEO n times: every reader sees the same report)."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: signed_in(site, CEO), range(n)))


def page_times(site: LiveSite, sessions: list[requests.Session], pages: int) -> dict:
    """Each reader loads Today and the report's page `pages` times, all readers at once."""
    paths = {"Today": "/", "report": f"/reports/daily_executive/{DAY}"}
    times: dict[str, list[float]] = {name: [] for name in paths}
    lock = threading.Lock()
    start = threading.Barrier(len(sessions))

    def reader(session: requests.Session) -> None:
        start.wait()
        for _ in range(pages):
            for name, path in paths.items():
                began = time.perf_counter()
                answer = session.get(site.url + path, timeout=60)
                took = time.perf_counter() - began
                answer.raise_for_status()
                with lock:
                    times[name].append(took)

    began = time.perf_counter()
    with ThreadPoolExecutor(len(sessions)) as pool:
        list(pool.map(reader, sessions))
    wall = time.perf_counter() - began
    total = sum(len(v) for v in times.values())
    return {"times": times, "pages_per_s": total / wall, "wall_s": wall}


def stream_latency(site: LiveSite, sessions: list[requests.Session], notices: int) -> list[float]:
    """Seconds from writing each notification to each open stream delivering it."""
    written: dict[int, float] = {}
    seen: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(sessions) + 1)
    stop = threading.Event()

    def listen(session: requests.Session) -> None:
        with session.get(f"{site.url}/events?after=0", stream=True, timeout=120) as r:
            ready.wait()
            got = 0
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("id: "):
                    now = time.perf_counter()
                    with lock:
                        seen.append(now - written[int(line[4:])])
                    got += 1
                if got == notices or stop.is_set():
                    return

    threads = [threading.Thread(target=listen, args=(s,), daemon=True) for s in sessions]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(1.0)  # every stream is past its first poll
    for i in range(notices):
        with lock:  # a stream that is quicker than this waits for the write's time
            began = time.perf_counter()
            new_id = site.publish(f"Bench notice {i}", kind="critical_alert")
            written[new_id] = began
        time.sleep(0.7)  # notices a little apart, as alerts come
    for t in threads:
        t.join(timeout=30)
    stop.set()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--notices", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = LiveSite(Path(tmp))  # a fresh app database: no notification yet
        site.start()
        try:
            sessions = readers(site, args.readers)
            pages = page_times(site, sessions, args.pages)
            latency = stream_latency(site, sessions, args.notices)
        finally:
            site.kill()
    print(f"web app: {args.readers} readers at once, one uvicorn worker, 2 cores")
    for name, values in pages["times"].items():
        print(f"  {name:<7} page: median {statistics.median(values) * 1000:.0f} ms, "
              f"p95 {_p95(values) * 1000:.0f} ms ({len(values)} loads)")  # fmt: skip
    print(f"  {pages['pages_per_s']:.0f} pages/s over {pages['wall_s']:.1f} s")
    print(f"  notification to each open stream: median {statistics.median(latency) * 1000:.0f} "
          f"ms, p95 {_p95(latency) * 1000:.0f} ms, max {max(latency) * 1000:.0f} ms "
          f"({len(latency)} deliveries: {args.readers} readers × {args.notices})")  # fmt: skip


if __name__ == "__main__":
    main()
