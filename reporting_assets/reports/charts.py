"""Charts drawn from the metric tables (Plotly), exported in one batch through one browser.

Builders are plain functions from frames to figures. `export_charts` renders every figure of a
run through a single kaleido session (one Chromium), SVG for print and PNG for email and decks;
starting a browser per chart costs seconds each.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from reporting_assets.lib.formatting import display_name, format_value

GOOD, BAD, NEUTRAL, MUTED = "#2E7D32", "#C62828", "#1F3A5F", "#9AA5B1"
FONT = "DejaVu Sans, Arial, sans-serif"


class ChromiumMissingError(RuntimeError):
    """Static chart export needs a Chrome or Chromium browser, and none was found."""


@dataclass(frozen=True)
class Chart:
    """A figure and the name it is exported under."""

    name: str
    figure: go.Figure
    width: int = 900
    height: int = 380


def _layout(fig: go.Figure, title: str, primary: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 16, "color": primary}},
        font={"family": FONT, "size": 12, "color": "#1F2933"},
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.18, "x": 0},
    )
    fig.update_xaxes(showgrid=False, linecolor="#CBD2D9")
    fig.update_yaxes(gridcolor="#E4E7EB", zeroline=False)
    return fig


def trend_chart(
    history: pl.DataFrame,
    metric: str,
    title: str,
    *,
    target: float | None = None,
    percent: bool = False,
    money: bool = False,
    primary: str = NEUTRAL,
) -> go.Figure:
    """A metric's daily values with its 7-day average and target line.

    `history` is a long frame (date, metric, value).
    """
    series = history.filter(pl.col("metric") == metric).sort("date")
    dates = series.get_column("date").to_list()
    values = series.get_column("value").to_list()
    avg = series.get_column("value").rolling_mean(7, min_samples=3).to_list()
    fig = go.Figure()
    fig.add_scatter(x=dates, y=values, mode="lines+markers", name="Daily", line={"color": primary,
                    "width": 2}, marker={"size": 4})  # fmt: skip
    fig.add_scatter(
        x=dates, y=avg, mode="lines", name="7-day average", line={"color": MUTED, "dash": "dot"}
    )
    if target is not None:
        fig.add_hline(
            y=target,
            line={"color": GOOD, "dash": "dash"},
            annotation_text="target",
            annotation_position="top left",
        )
    if percent:
        fig.update_yaxes(tickformat=".0%")
    if money:
        fig.update_yaxes(tickprefix="$", tickformat=",.0f")
    return _layout(fig, title, primary)


def budget_bars(costs: pl.DataFrame, title: str, primary: str = NEUTRAL) -> go.Figure:
    """Spend per service against its budget for the day (line rows of cost_optimization_daily)."""
    lines = (
        costs.filter(pl.col("level") == "line")
        .group_by("service")
        .agg(pl.col("cost_usd").sum(), pl.col("daily_budget_usd").sum())
        .sort("cost_usd", descending=True)
    )
    # Horizontal bars, the largest on top: service names stay readable at any width.
    lines = lines.reverse()
    over = (lines.get_column("cost_usd") > lines.get_column("daily_budget_usd")).to_list()
    names = [display_name(s) for s in lines.get_column("service").to_list()]
    fig = go.Figure()
    fig.add_bar(
        y=names,
        x=lines.get_column("cost_usd").to_list(),
        orientation="h",
        name="Spend (red: over budget)",
        marker_color=[BAD if o else primary for o in over],
    )
    fig.add_scatter(
        y=names,
        x=lines.get_column("daily_budget_usd").to_list(),
        name="Budget",
        mode="markers",
        marker={
            "symbol": "line-ns",
            "size": 16,
            "color": "#1F2933",
            "line": {"width": 3, "color": "#1F2933"},
        },
    )
    fig.update_xaxes(tickprefix="$", tickformat=",.0f", gridcolor="#E4E7EB")
    fig.update_yaxes(gridcolor="rgba(0,0,0,0)")
    _layout(fig, title, primary)
    fig.update_layout(margin={"l": 130})
    return fig


def mrr_waterfall(total: dict, title: str, primary: str = NEUTRAL) -> go.Figure:
    """The day's MRR bridge: opening, each movement, closing (a row of revenue_protection_daily)."""
    steps = [
        ("Opening", total["opening_mrr"], "absolute"),
        ("New", total["new_mrr"], "relative"),
        ("Won back", total["reactivation_mrr"], "relative"),
        ("Expansion", total["expansion_mrr"], "relative"),
        ("Contraction", -total["contraction_mrr"], "relative"),
        ("Churn", -total["churned_mrr"], "relative"),
        ("Closing", total["closing_mrr"], "total"),
    ]
    fig = go.Figure(go.Waterfall(
        x=[s[0] for s in steps], y=[s[1] for s in steps], measure=[s[2] for s in steps],
        increasing={"marker": {"color": GOOD}}, decreasing={"marker": {"color": BAD}},
        totals={"marker": {"color": primary}}, connector={"line": {"color": MUTED}},
        text=[format_value(v, "usd") for v in (s[1] for s in steps)], textposition="outside",
    ))  # fmt: skip
    # Zoom the axis on the movements: a day moves MRR by a fraction of a percent.
    opening, closing = total["opening_mrr"], total["closing_mrr"]
    moved = sum(abs(s[1]) for s in steps[1:-1])
    pad = max(moved, opening * 0.0005, 1.0)
    low, high = min(opening, closing) - 1.5 * pad, max(opening, closing) + 1.5 * pad
    fig.update_yaxes(range=[max(low, 0), high], tickprefix="$", tickformat=",.0f")
    fig.update_layout(showlegend=False)
    return _layout(fig, title, primary)


def mrr_movements(analysis: pl.DataFrame, title: str, primary: str = NEUTRAL) -> go.Figure:
    """The MRR bridge month by month (business_analysis_monthly): what came in above the axis
    (new and won back, expansion), what went out below it (contraction, churned), and the net."""
    a = analysis.sort("month")
    months = [f"{m:%b %Y}" for m in a.get_column("month").to_list()]
    fig = go.Figure()
    parts = [("New and won back", a["new_mrr"] + a["reactivation_mrr"], GOOD),
             ("Expansion", a["expansion_mrr"], "#81C784"),
             ("Contraction", -a["contraction_mrr"], "#EF9A9A"),
             ("Churned", -a["churned_mrr"], BAD)]  # fmt: skip
    for name, values, colour in parts:
        fig.add_bar(x=months, y=values.to_list(), name=name, marker_color=colour)
    net = (a["new_mrr"] + a["reactivation_mrr"] + a["expansion_mrr"] - a["contraction_mrr"]
           - a["churned_mrr"])  # fmt: skip
    fig.add_scatter(x=months, y=net.to_list(), name="Net new", mode="lines+markers",
                    line={"color": primary, "width": 2})  # fmt: skip
    fig.update_layout(barmode="relative")
    fig.update_yaxes(tickformat="$,.0f")  # "−$50,000", the sign before the dollar
    return _layout(fig, title, primary)


def forecast_chart(
    months: list, actual: list[float], forecast: pl.DataFrame, title: str, *, money: bool = True,
    primary: str = NEUTRAL,
) -> go.Figure:  # fmt: skip
    """Monthly actuals, then the forecast with its prediction interval as a shaded band."""
    fc = forecast.sort("month")
    x = fc.get_column("month").to_list()
    fig = go.Figure()
    fig.add_scatter(x=x + x[::-1], y=fc["upper"].to_list() + fc["lower"].to_list()[::-1],
                    fill="toself", fillcolor="rgba(31,78,121,0.15)", line={"width": 0},
                    name=f"{fc['interval'][0]:.0%} interval", hoverinfo="skip")  # fmt: skip
    fig.add_scatter(x=months, y=actual, mode="lines+markers", name="Actual",
                    line={"color": primary, "width": 2}, marker={"size": 5})  # fmt: skip
    fig.add_scatter(x=[months[-1], *x], y=[actual[-1], *fc["forecast"].to_list()],
                    mode="lines+markers", name="Forecast",
                    line={"color": primary, "dash": "dash"}, marker={"size": 5})  # fmt: skip
    if money:
        fig.update_yaxes(tickprefix="$", tickformat=",.0f")
    return _layout(fig, title, primary)


def browser_path() -> str:
    """The Chrome/Chromium kaleido will drive, or a clear error saying how to install one."""
    candidates = [
        os.environ.get("BROWSER_PATH"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ]
    for c in candidates:
        if c and Path(c).exists():
            return c
    raise ChromiumMissingError(
        "Charts need a Chromium browser and none was found. Install it with "
        "`sudo apt-get install -y chromium` (or run `make setup`), or point BROWSER_PATH at a "
        "Chrome/Chromium binary."
    )


# The email's charts are drawn for a phone: 600 px wide with 20-24 px type and no title (the
# email captions each chart), so that shown 343 px wide on a 375 px screen no text is under 11 px.
MOBILE_WIDTH, MOBILE_HEIGHT, MOBILE_FONT = 600, 460, 24


def mobile_figure(figure: go.Figure) -> go.Figure:
    """The chart redrawn for a phone's width: larger type, no title, tighter margins."""
    fig = go.Figure(figure)
    fig.update_layout(
        title=None,
        font={"size": MOBILE_FONT},
        margin={"l": 16, "r": 24, "t": 16, "b": 16},
        legend={"font": {"size": MOBILE_FONT}, "y": -0.28},
    )
    fig.update_xaxes(tickfont={"size": MOBILE_FONT - 2}, automargin=True)
    fig.update_yaxes(tickfont={"size": MOBILE_FONT - 2}, automargin=True)
    # Bar labels at one legible size, never shrunk to fit their bar.
    fig.update_layout(uniformtext={"minsize": MOBILE_FONT - 4, "mode": "show"})
    fig.update_traces(textfont={"size": MOBILE_FONT - 4}, cliponaxis=False,
                      selector={"type": "waterfall"})  # fmt: skip
    return fig


def export_charts(
    charts: list[Chart], folder: Path, formats: tuple[str, ...] = ("svg", "png", "mobile")
) -> dict[str, dict[str, Path]]:
    """Write every chart in every format through one browser; return {name: {format: path}}.
    "png" is drawn without its title (for a slide, whose title names it), "mobile" is a PNG
    drawn for a phone (`mobile_figure`), for the email."""
    import kaleido

    if not charts:
        return {}
    os.environ.setdefault("BROWSER_PATH", browser_path())
    folder.mkdir(parents=True, exist_ok=True)
    jobs, paths = [], {}
    for chart in charts:
        for fmt in formats:
            fig, opts = chart.figure, {"width": chart.width, "height": chart.height, "format": fmt}
            path = folder / f"{chart.name}.{fmt}"
            if fmt == "png":  # for a slide, whose title already names the chart
                fig = go.Figure(chart.figure).update_layout(title=None, margin={"t": 20})
            if fmt == "mobile":
                fig = mobile_figure(chart.figure)
                opts = {"width": MOBILE_WIDTH, "height": MOBILE_HEIGHT, "format": "png"}
                path = folder / f"{chart.name}.mobile.png"
            if opts["format"] == "png":
                opts["scale"] = 2
            paths.setdefault(chart.name, {})[fmt] = path
            jobs.append({"fig": fig, "path": str(path), "opts": opts})
    errors = kaleido.write_fig_from_object_sync(jobs, kopts={"mathjax": False})
    if errors:
        raise RuntimeError(f"chart export failed: {errors[0]!r}")
    return paths
