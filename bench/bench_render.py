"""Benchmark of the render stage: chart export (one batch through one browser vs one
`write_image` per chart, measured in the same run), seconds per PDF and per workbook.

    python bench/bench_render.py [--charts 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from reporting_assets.reports import charts as ch

sys.path.insert(0, str(Path(__file__).parents[1]))  # the sample report lives with the tests


def sample_charts(n: int) -> list[ch.Chart]:
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(28)]
    history = pl.DataFrame({"date": days, "metric": ["mrr"] * 28,
                            "value": [1_400_000 + 900 * i for i in range(28)]})  # fmt: skip
    return [ch.Chart(f"c{i}", ch.trend_chart(history, "mrr", f"Chart {i}", money=True))
            for i in range(n)]  # fmt: skip


def time_batch(charts: list[ch.Chart], folder: Path) -> float:
    t0 = time.perf_counter()
    ch.export_charts(charts, folder, formats=("png",))
    return time.perf_counter() - t0


def time_one_by_one(charts: list[ch.Chart], folder: Path) -> float:
    import plotly.io as pio

    ch.browser_path()
    t0 = time.perf_counter()
    for c in charts:
        fig: go.Figure = c.figure
        pio.write_image(fig, folder / f"{c.name}-single.png", width=c.width, height=c.height)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from reporting_assets.reports.excel import write_workbook
    from reporting_assets.reports.pdf import render_pdf
    from reporting_assets_tests.reports.sample import sample_report

    charts = sample_charts(args.charts)
    from reporting_assets.reports.deck import write_deck

    batch, single, pdf, xlsx, deck = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report = sample_report(rows=120)
        for _ in range(args.repeat):
            batch.append(time_batch(charts, folder))
            single.append(time_one_by_one(charts, folder))
            t0 = time.perf_counter()
            pages = render_pdf(report, {}, folder / "r.pdf")["pages"]
            pdf.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            write_workbook(report, folder / "r.xlsx")
            xlsx.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            slides = write_deck(
                report,
                "board",
                {c.name: folder / f"{c.name}.png" for c in charts[:3]},
                folder / "d.pptx",
            )["slides"]
            deck.append(time.perf_counter() - t0)
    b, s = statistics.median(batch), statistics.median(single)
    print(f"Render stage, median of {args.repeat} runs ({args.charts} charts, PNG)")
    print("| measure | median | runs |")
    print("|---|---:|---|")
    print(
        f"| batch export, one browser | {b:.2f} s ({args.charts / b:.1f} charts/s) | "
        f"{', '.join(f'{x:.2f}' for x in batch)} |"
    )
    print(
        f"| one write_image per chart | {s:.2f} s ({args.charts / s:.1f} charts/s) | "
        f"{', '.join(f'{x:.2f}' for x in single)} |"
    )
    print(f"| batch speed-up | {s / b:.1f}× | |")
    print(
        f"| PDF ({pages} pages, 120-row table, no charts) | {statistics.median(pdf):.2f} s | "
        f"{', '.join(f'{x:.2f}' for x in pdf)} |"
    )
    print(
        f"| workbook (6 sheets) | {statistics.median(xlsx):.3f} s | "
        f"{', '.join(f'{x:.3f}' for x in xlsx)} |"
    )
    print(
        f"| board deck ({slides} slides, 3 charts) | {statistics.median(deck):.2f} s | "
        f"{', '.join(f'{x:.2f}' for x in deck)} |"
    )


if __name__ == "__main__":
    main()
