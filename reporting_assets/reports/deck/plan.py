"""Which slides a deck has, in order, and their titles: from the audience (or the report's own
section list) and the report's charts and sections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reporting_assets.reports.model import ReportData

# Which slides each audience gets, in order. "charts" is one slide per chart, "details" one table
# slide per report section; the title and agenda slides always come first.
AUDIENCE_SECTIONS: dict[str, tuple[str, ...]] = {
    "board": ("title", "agenda", "kpis", "charts", "alerts", "initiatives", "recommendations"),
    "c_suite": ("title", "agenda", "kpis", "charts", "alerts", "recommendations"),
    "vp_operations": ("title", "agenda", "kpis", "details", "alerts", "initiatives"),
    "strategy": (
        "title",
        "agenda",
        "kpis",
        "charts",
        "initiatives",
        "recommendations",
        "appendix",
    ),
    "executive": ("title", "agenda", "kpis", "charts", "alerts", "recommendations"),
}

# Report-configuration section names that map onto a deck slide kind.
_ALIASES = {
    "summary": "kpis",
    "scorecard": "kpis",
    "kpi": "kpis",
    "trends": "charts",
    "chart": "charts",
    "risks": "alerts",
    "alerts_risks": "alerts",
    "quality": "appendix",
    "operations_detail": "details",
    "detail": "details",
    "tables": "details",
}
_SINGLE_KINDS = ("kpis", "alerts", "initiatives", "recommendations", "appendix")


@dataclass(frozen=True)
class _Slide:
    """One planned slide: what kind it is, its title, and the chart or section it shows."""

    kind: str
    title: str
    key: str = ""


# -- planning -----------------------------------------------------------------------------------


def _plan(
    report: ReportData,
    audience: str,
    charts: dict[str, Path],
    sections: Sequence[str] | None,
) -> list[_Slide]:
    """The slides in order: title, agenda, then what the audience (or `sections`) asks for."""
    if sections is None:
        if audience not in AUDIENCE_SECTIONS:
            known = ", ".join(sorted(AUDIENCE_SECTIONS))
            raise ValueError(f"unknown audience {audience!r}; expected one of {known}")
        sections = AUDIENCE_SECTIONS[audience]
    by_key = {s.key: s for s in report.sections}
    # Slide 2 is the decision block (what changed, what is asked of whom), before the agenda.
    decisions = [_Slide("decisions", DECISIONS_TITLE)] if report.decisions.takeaways else []
    slides = [_Slide("title", report.title), *decisions, _Slide("agenda", "Agenda")]
    done: set[tuple[str, str]] = set()

    def add(slide: _Slide) -> None:
        if (slide.kind, slide.key) not in done:
            done.add((slide.kind, slide.key))
            slides.append(slide)

    for name in sections:
        word = str(name).strip().lower()
        kind = _ALIASES.get(word, word)
        if kind in ("title", "agenda"):
            continue
        if kind == "charts":
            for chart in charts:
                add(_Slide("chart", _chart_title(report, chart), chart))
        elif kind == "details":
            for section in report.sections:
                add(_Slide("section", section.title, section.key))
        elif kind in _SINGLE_KINDS:
            add(_Slide(kind, _KIND_TITLES[kind]))
        elif word in by_key:  # a report section by key: its table, then its charts
            section = by_key[word]
            add(_Slide("section", section.title, section.key))
            for chart in section.charts:
                if chart in charts:
                    add(_Slide("chart", _chart_title(report, chart), chart))
        # Anything else has no content in this report, so it gets no slide.
    return slides


DECISIONS_TITLE = "What changed, and what we ask"
_ACRONYMS = {"mrr", "arr", "sla", "kpi", "roi", "nps", "csat", "ar", "cac", "ltv", "vp"}
_KIND_TITLES = {
    "kpis": "Key metrics",
    "alerts": "Alerts and risks",
    "initiatives": "Initiatives",
    "recommendations": "Recommendations",
    "appendix": "Appendix: data quality",
}


def _chart_title(report: ReportData, name: str) -> str:
    """The chart's caption from the report, or a readable form of its name."""
    if report.chart_titles.get(name):
        return report.chart_titles[name]
    words = name.replace("_", " ").replace("-", " ").split()
    words = [w.upper() if w.lower() in _ACRONYMS else w.lower() for w in words]
    pretty = " ".join(words) or "Chart"
    pretty = pretty[:1].upper() + pretty[1:]
    for section in report.sections:
        if name in section.charts:
            return f"{section.title}: {pretty[:1].lower() + pretty[1:]}"
    return pretty
