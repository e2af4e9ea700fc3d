"""Benchmark of the delivery stage: report emails (HTML body, two inline charts, a PDF and a
workbook attached) through the ledger to a real SMTP server on 127.0.0.1, one SMTP session,
every message claimed and committed in the ledger, as in production.

    python bench/bench_delivery.py [--emails 200] [--list 1000] [--repeat 3]

Prints emails per second (median of the repeats), then one report delivered to a list of
`--list` readers in a process of its own (the delivery asset's function, a relay process):
seconds to the first message, total seconds and the delivery step's peak resident memory,
beside the same figures for 10 readers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the SMTP fake and sample report: tests/

from reporting_assets.distribution.email import MessageFactory, send_via_smtp
from reporting_assets.records.ledger import DeliveryLedger
from reporting_assets.reports.email_body import build_message
from reporting_assets.resources.app_db import make_engine
from reporting_assets_tests.distribution import big_list
from reporting_assets_tests.fakes.smtp_server import ScriptedHandler, smtp_server
from reporting_assets_tests.reports.sample import sample_report


def _attachments(folder: Path) -> list[Path]:
    """A PDF and a workbook of realistic size (300 KB and 40 KB)."""
    pdf, xlsx = folder / "report.pdf", folder / "report.xlsx"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 1200)
    xlsx.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 160)
    return [pdf, xlsx]


def _png() -> bytes:
    """A 1,200 × 600 chart-sized PNG with some noise, so it compresses like a real chart."""
    import io
    import random

    from PIL import Image

    img = Image.new("RGB", (1200, 600), "white")
    rng = random.Random(7)
    for _ in range(20_000):
        img.putpixel((rng.randrange(1200), rng.randrange(600)), (31, 78, 121))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def one_run(n: int, folder: Path, run: int) -> tuple[float, int]:
    engine = make_engine(f"sqlite:///{folder / f'ledger{run}.db'}")
    ledger = DeliveryLedger(engine)
    charts = {name: _png() for name in ("mrr_trend", "budget_bars")}
    base = build_message(sample_report(), charts, sender="reports@northwind.example",
                         to=["x@northwind.example"], cc=[])  # fmt: skip
    attachments = _attachments(folder)
    targets = [f"reader{i:04d}@northwind.example" for i in range(n)]
    handler = ScriptedHandler()
    with smtp_server(handler) as server:
        t0 = time.perf_counter()
        ledger.plan("bench_report", f"run{run}", "email", targets)
        factory = MessageFactory(base, headers=lambda t: (t, []), domain="northwind.example",
                                 list_unsubscribe_url="https://x.example/u",
                                 attachments=attachments, max_attachment_bytes=10_000_000,
                                 link_base="https://x.example/r")  # fmt: skip
        summary = send_via_smtp(ledger.open_rows("bench_report", f"run{run}", "email"),
                                factory.build, host="127.0.0.1", port=server.port,
                                security="none", username=None, password=None, timeout=30,
                                ledger=ledger, envelope_to="target")  # fmt: skip
        elapsed = time.perf_counter() - t0
    assert len(summary.sent) == n and len(handler.messages) == n, "every email must arrive"
    size = len(handler.messages[0].data)
    return elapsed, size


def lists(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = {size: [big_list.measure(Path(tmp) / f"{size}-{i}", size) for i in range(repeat)]
                for size in (10, n)}  # fmt: skip
    print(f"one report to a list (attachments 150 kB + 40 kB), fresh process per run, "
          f"median of {repeat}:")  # fmt: skip
    for size, figures in runs.items():
        first = statistics.median(f["first_message_s"] for f in figures)
        total = statistics.median(f["total_s"] for f in figures)
        peak = [(f["peak_kb"] - f["rss_before_kb"]) / 1024 for f in figures]
        rss = statistics.median(f["peak_kb"] for f in figures) / 1024
        print(f"  {size:>5} readers: first message {first:.2f} s, all {total:.1f} s "
              f"({size / total:.0f} emails/s), delivery step's peak RSS above its start "
              f"{statistics.median(peak):.1f} MB (runs {', '.join(f'{p:.1f}' for p in peak)}); "
              f"peak RSS {rss:.0f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument("--list", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_run(args.emails, Path(tmp), i) for i in range(args.repeat)]
    seconds = [r[0] for r in runs]
    rates = [args.emails / s for s in seconds]
    print(f"delivery: {args.emails} emails of {runs[0][1] / 1000:,.0f} kB each to a local "
          f"aiosmtpd, ledger on SQLite")  # fmt: skip
    print(f"  seconds per run: {', '.join(f'{s:.2f}' for s in seconds)}")
    print(f"  median: {statistics.median(rates):.1f} emails/s "
          f"({1000 * statistics.median(seconds) / args.emails:.1f} ms per email)")  # fmt: skip
    lists(args.list, args.repeat)


if __name__ == "__main__":
    main()
