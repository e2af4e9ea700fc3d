"""Every metric's definition in plain words, from the metric layer and the config: one sentence
per metric for the reports' appendices and the workbook, and the README's generated table."""

from __future__ import annotations

from reporting_assets.lib.formatting import unit_words
from reporting_assets.metrics.layer import METRICS


def definition(key: str, config) -> str:
    """The metric's definition in plain words, as the README, the workbook and every report's
    appendix print it: what it counts (from config), how it adds up over a period, and how it
    is rated."""
    text = f"{config.description.rstrip('.')}. {METRICS[key].words()}"
    if config.target is not None and config.direction != "neutral":
        text += " Rated against its target; short of it by no more than its tolerance is Watch."
    return text


README_START = (
    "<!-- metric-definitions: generated from the metric layer by `reporting metrics-doc` -->"
)
README_END = "<!-- /metric-definitions -->"
MEASURE_WORDS = {"sum": "sum of the days", "stock": "value on the last day",
                 "ratio": "ratio of summed parts"}  # fmt: skip


def _plain(x: float, unit: str) -> str:
    if unit == "ratio":
        return f"{x * 100:g} %"
    if unit == "usd":
        return f"${x:,.0f}"
    return f"{x:g} h" if unit == "hours" else f"{x:g}"


def definitions_markdown(configs: dict) -> str:
    """The README's table of metric definitions, from the layer and the config (the same text
    the workbook's README sheet and every report's appendix print)."""
    rows = [
        "| metric | unit | over a week or month | target (daily; flows scale with the days) "
        "| definition |",
        "|---|---|---|---|---|",
    ]
    for key, m in METRICS.items():
        c = configs.get(key)
        if c is None:
            continue
        target = "–"
        if c.target is not None and c.direction != "neutral":
            band = c.tolerance if c.tolerance is not None else abs(c.target) * 0.1
            better = "at least" if c.direction == "higher_is_better" else "at most"
            within = _plain(band, c.unit).replace(" %", " pts")
            target = f"{better} {_plain(c.target, c.unit)} (Watch within {within})"
        rows.append(
            f"| {c.label} (`{key}`) | {unit_words(c.unit)} | "
            f"{MEASURE_WORDS[m.measure]} | {target} | {definition(key, c)} |"
        )
    return "\n".join([README_START, "", *rows, "", README_END])


def with_definitions(readme: str, configs: dict) -> str:
    """The README text with its generated definitions block replaced by the current one."""
    start, end = readme.index(README_START), readme.index(README_END) + len(README_END)
    return readme[:start] + definitions_markdown(configs) + readme[end:]
