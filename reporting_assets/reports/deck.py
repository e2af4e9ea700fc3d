"""The report as a 16:9 slide deck (PowerPoint), tailored to who is in the room.

A board sees the headline numbers, charts, risks, initiatives and recommendations; a VP of
operations sees the detail tables instead of the charts. `AUDIENCE_SECTIONS` says which slides
each audience gets; a report's configuration can pass its own list instead.

The deck is built on a template of its own (16:9, blank layout, shapes placed by this module),
because python-pptx's default template is 4:3 and its placeholders sit off-centre once widened.
Every number is written with `format_value` / `format_delta`, so the deck reads the same as the
PDF, workbook and email; the speaker notes carry the narrative and any text cut short on a slide.
All text goes in as plain text runs, so names taken from source data can never act as markup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageFont
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import MSO_SHAPE
from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.presentation import Presentation as PresentationPart
from pptx.slide import SlideLayout
from pptx.util import Emu, Inches, Pt

from reporting_assets.lib.formatting import format_delta, format_value
from reporting_assets.reports.model import STATUS_WORDS, Column, ReportData

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
    "operations": "details",
    "operations_detail": "details",
    "detail": "details",
    "tables": "details",
}
_SINGLE_KINDS = ("kpis", "alerts", "initiatives", "recommendations", "appendix")

# Slide geometry (16:9, 13.333 in × 7.5 in) and the content area inside the margins.
SLIDE_WIDTH, SLIDE_HEIGHT = Emu(12192000), Emu(6858000)
MARGIN = Inches(0.6)
TITLE_BAR_HEIGHT = Inches(1.0)
CONTENT_TOP = Inches(1.35)
CONTENT_BOTTOM = Inches(6.8)
CONTENT_WIDTH = SLIDE_WIDTH - 2 * MARGIN
FOOTER_TOP = Inches(7.0)
FOOTER_HEIGHT = Inches(0.35)

# Fixed font sizes (points), chosen with the truncation rules below so nothing overflows.
TITLE_PT, BULLET_PT, KPI_TABLE_PT, TABLE_PT, NOTE_PT, FOOTER_PT = 26, 18, 14, 12, 12, 10
MAX_TABLE_ROWS = 12
MAX_KPI_ROWS = 10
# Average character width as a share of the font size, on the wide side (DejaVu Sans is wider
# than Calibri), so a line estimated to fit does fit in either.
_CHAR_EM = 0.6
_LINE = 1.2  # line height as a multiple of the font size
_CELL_MARGIN_X = Inches(0.08)
_FILL = 0.95  # share of a line's width text may fill, for rendering differences

_DEFAULT_PRIMARY = "1F3A5F"
_DEFAULT_ACCENT = "2E86AB"
_INK = RGBColor(0x1F, 0x29, 0x33)
_MUTED = RGBColor(0x59, 0x59, 0x59)
_WHITE = RGBColor(0xFF, 0xFF, 0xFF)
_BAND = RGBColor(0xF2, 0xF4, 0xF7)
_RULE = RGBColor(0xCB, 0xD2, 0xD9)

# Status fill and text colours: strong enough to read on a projector, text contrast ≥ 4.5:1.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "green": ("1E7B34", "FFFFFF"),
    "amber": ("FFC000", "1A1A1A"),
    "red": ("C00000", "FFFFFF"),
    "grey": ("D9D9D9", "1A1A1A"),
}
# Words in source data (initiative status, alert severity) that carry a status colour.
_WORD_STATUS = {
    "green": "green",
    "on track": "green",
    "on_track": "green",
    "done": "green",
    "complete": "green",
    "completed": "green",
    "amber": "amber",
    "at risk": "amber",
    "at_risk": "amber",
    "watch": "amber",
    "warning": "amber",
    "warn": "amber",
    "medium": "amber",
    "red": "red",
    "off track": "red",
    "off_track": "red",
    "behind": "red",
    "done late": "amber",
    "blocked": "red",
    "critical": "red",
    "error": "red",
    "high": "red",
    "grey": "grey",
    "not started": "grey",
    "info": "grey",
    "low": "grey",
}
# Bullet colours for alert severities (text on white, so darker than the status fills).
_SEVERITY_COLOURS = {"red": "C00000", "amber": "9C5700", "grey": "595959", "green": "1E7B34"}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_HEX = re.compile(r"#?([0-9A-Fa-f]{6})")


@dataclass(frozen=True)
class _Slide:
    """One planned slide: what kind it is, its title, and the chart or section it shows."""

    kind: str
    title: str
    key: str = ""


def write_deck(
    report: ReportData,
    audience: str,
    charts: dict[str, Path],
    path: Path,
    *,
    initiatives: list[dict] | None = None,
    recommendations: list[str] | None = None,
    sections: list[str] | None = None,
) -> dict:
    """Write the report as a .pptx deck for one audience; returns the slide count and audience.

    `charts` maps chart names to PNG files (one slide each, where the audience gets charts).
    `sections` overrides the audience's slide list, e.g. with the report's configured sections.
    """
    path = Path(path)
    plan = _plan(report, audience, charts, sections)
    prs = _template()
    builder = _Builder(prs, report, charts, initiatives or [], recommendations or [], plan)
    for number, slide in enumerate(plan, start=1):
        builder.add(slide, number)
    props = prs.core_properties
    props.title = _clean(f"{report.title} — {report.period_label}")[:255]
    props.author = _clean(report.branding.company_name)[:255]
    props.subject = _clean(f"{report.title} for {audience.replace('_', ' ')}")[:255]
    props.keywords = _clean(report.report_key)[:255]
    props.category = _clean(report.cadence)[:255]
    path.parent.mkdir(parents=True, exist_ok=True)
    prs.save(str(path))
    return {"slides": len(plan), "audience": audience}


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
    slides = [_Slide("title", report.title), _Slide("agenda", "Agenda")]
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


# -- template -----------------------------------------------------------------------------------


def _template() -> PresentationPart:
    """A fresh 16:9 presentation whose master and layouts are widened to match.

    Slides use the blank layout and place every shape themselves; the master's own placeholders
    are stretched too, so a slide added by hand in PowerPoint still looks centred.
    """
    prs = Presentation()
    scale = SLIDE_WIDTH / prs.slide_width
    prs.slide_width, prs.slide_height = SLIDE_WIDTH, SLIDE_HEIGHT
    masters = [prs.slide_master, *prs.slide_layouts]
    for holder in masters:
        for shape in holder.placeholders:
            if shape._element.spPr.find(qn("a:xfrm")) is None:
                continue  # inherits its position from the master, already scaled
            shape.left = Emu(round(shape.left * scale))
            shape.width = Emu(round(shape.width * scale))
    return prs


def _blank_layout(prs: PresentationPart) -> SlideLayout:
    for layout in prs.slide_layouts:
        if layout.name == "Blank":
            return layout
    return prs.slide_layouts[6]


# -- slides -------------------------------------------------------------------------------------


class _Builder:
    """Adds one slide at a time with the deck's shared colours, footer and notes."""

    def __init__(
        self,
        prs: PresentationPart,
        report: ReportData,
        charts: dict[str, Path],
        initiatives: list[dict],
        recommendations: list[str],
        plan: list[_Slide],
    ) -> None:
        self.prs = prs
        self.report = report
        self.charts = charts
        self.initiatives = initiatives
        self.recommendations = recommendations
        self.plan = plan
        self.layout = _blank_layout(prs)
        self.primary = _hex(report.branding.primary_color, _DEFAULT_PRIMARY)
        self.accent = _hex(report.branding.accent_color, _DEFAULT_ACCENT)
        self.on_primary = _readable_on(self.primary)
        self.sections = {s.key: s for s in report.sections}
        self.cut: list[str] = []  # text shortened on the current slide, for its notes

    def add(self, planned: _Slide, number: int) -> None:
        slide = self.prs.slides.add_slide(self.layout)
        self.cut = []
        if planned.kind == "title":
            notes = self.title_slide(slide)
        else:
            self._title_bar(slide, planned.title)
            self._footer(slide, number)
            notes = getattr(self, f"{planned.kind}_slide")(slide, planned)
        missing = [t for t in dict.fromkeys(self.cut) if t not in notes]
        if missing:
            notes += "\n\nShortened on the slide, in full:\n" + "\n".join(f"- {t}" for t in missing)
        slide.notes_slide.notes_text_frame.text = _clean(notes.strip() or planned.title)

    # -- the slides, each returning its speaker notes --

    def title_slide(self, slide) -> str:
        report = self.report
        band_height = Inches(5.0)
        _rect(slide, 0, 0, SLIDE_WIDTH, band_height, self.primary)
        _rect(slide, 0, band_height, SLIDE_WIDTH, Inches(0.08), self.accent)
        on = self.on_primary
        company = report.branding.company_name.upper()
        self._text(slide, MARGIN, Inches(1.0), CONTENT_WIDTH, Inches(0.5), company, 18, on, True)
        self._text(
            slide,
            MARGIN,
            Inches(1.6),
            CONTENT_WIDTH,
            Inches(1.5),
            report.title,
            40,
            on,
            True,
            lines=2,
        )
        self._text(
            slide, MARGIN, Inches(3.4), CONTENT_WIDTH, Inches(0.6), report.period_label, 24, on
        )
        self._text(
            slide, MARGIN, Inches(5.5), CONTENT_WIDTH, Inches(0.45), report.data_through, 16, _INK
        )
        generated = f"Generated {report.generated_at}"
        if report.report_url:
            generated += f" · {report.report_url}"
        self._text(slide, MARGIN, Inches(6.05), CONTENT_WIDTH, Inches(0.4), generated, 12, _MUTED)
        lines = [f"{report.title} for {report.branding.company_name}, {report.period_label}."]
        if report.data_through:
            lines.append(f"{report.data_through}.")
        if report.summary:
            lines += ["", "Summary:"] + [f"- {s}" for s in report.summary]
        return "\n".join(lines)

    def agenda_slide(self, slide, planned: _Slide) -> str:
        items = [f"{n}.  {s.title}" for n, s in enumerate(self.plan[2:], start=3)]
        if not items:
            self._text(slide, MARGIN, CONTENT_TOP, CONTENT_WIDTH, Inches(0.5), "Nothing further.")
            return "This deck has no slides after the agenda."
        per_column = 10
        columns = 1 if len(items) <= per_column else 2
        if len(items) > 2 * per_column:
            items = [*items[: 2 * per_column - 1], f"… and {len(items) - 2 * per_column + 1} more"]
        gap = Inches(0.4)
        width = Emu(int((CONTENT_WIDTH - gap * (columns - 1)) / columns))
        for c in range(columns):
            chunk = items[c * per_column : (c + 1) * per_column]
            self._bullets(
                slide,
                MARGIN + c * (width + gap),
                CONTENT_TOP + Inches(0.1),
                width,
                chunk,
                size=20 if columns == 1 else BULLET_PT,
                max_lines=1,
            )
        return "Agenda:\n" + "\n".join(f"- {s.title}" for s in self.plan[2:])

    def kpis_slide(self, slide, planned: _Slide) -> str:
        report = self.report
        kpis = report.kpis[:MAX_KPI_ROWS]
        headers = ["Metric", "Value", "Change", "Target", "Status"]
        rows = [
            [
                _Cell(k.label),
                _Cell(format_value(k.value, k.unit), right=True),
                _Cell(format_delta(k.delta, k.unit), right=True),
                _Cell(format_value(k.target, k.unit), right=True),
                _Cell(STATUS_WORDS.get(k.status, str(k.status).title()), status=k.status),
            ]
            for k in kpis
        ]
        top = CONTENT_TOP
        if not rows:
            self._text(slide, MARGIN, top, CONTENT_WIDTH, Inches(0.5), "No KPIs in this report.")
            bottom = top + Inches(0.5)
        else:
            widths = [4.4, 2.2, 2.2, 1.8, 1.533]
            bottom = self._table(slide, top, headers, rows, widths, size=KPI_TABLE_PT)
            if len(report.kpis) > len(kpis):
                more = len(report.kpis) - len(kpis)
                bottom = self._note(slide, bottom, f"{more} more KPIs in the report and workbook.")
            gaps = sorted({k.gap for k in kpis if k.gap})
            if gaps:
                bottom = self._note(slide, bottom, f"Every figure leaves out {'; '.join(gaps)}.")
        if report.summary and bottom + Inches(1.2) < CONTENT_BOTTOM:
            self._bullets(
                slide,
                MARGIN,
                bottom + Inches(0.3),
                CONTENT_WIDTH,
                report.summary,
                size=16,
                colours=[self.accent] * len(report.summary),
            )
        lines = []
        if report.summary:
            lines += ["Summary:"] + [f"- {s}" for s in report.summary] + [""]
        lines.append("Metric by metric:")
        for k in report.kpis:
            target = f"; target {format_value(k.target, k.unit)}" if k.target is not None else ""
            status = STATUS_WORDS.get(k.status, str(k.status))
            line = (
                f"- {k.label}: {format_value(k.value, k.unit)} "
                f"({format_delta(k.delta, k.unit)} vs previous{target}) — {status}."
            )
            if k.status_reason:
                line += f" Not rated: {k.status_reason}."
            if k.gap:
                line += f" Incomplete: {k.gap}."
            if k.description:
                line += f" {k.description}"
            lines.append(line)
        return "\n".join(lines)

    def chart_slide(self, slide, planned: _Slide) -> str:
        path = Path(self.charts[planned.key])
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".gif", ".bmp"):
            raise ValueError(f"chart {planned.key!r} must be a PNG or JPEG for a deck: {path}")
        if not path.exists():
            raise FileNotFoundError(f"chart {planned.key!r} not found at {path}")
        with Image.open(path) as image:
            px_width, px_height = image.size
        section = next((s for s in self.report.sections if planned.key in s.charts), None)
        caption = section.intro if section and section.intro else ""
        box_top = CONTENT_TOP
        box_bottom = CONTENT_BOTTOM - (Inches(0.5) if caption else 0)
        box_height = box_bottom - box_top
        scale = min(CONTENT_WIDTH / px_width, box_height / px_height)
        width, height = Emu(int(px_width * scale)), Emu(int(px_height * scale))
        left = Emu(int(MARGIN + (CONTENT_WIDTH - width) / 2))
        top = Emu(int(box_top + (box_height - height) / 2))
        slide.shapes.add_picture(str(path), left, top, width, height)
        if caption:
            self._text(
                slide,
                MARGIN,
                box_bottom + Inches(0.1),
                CONTENT_WIDTH,
                Inches(0.4),
                caption,
                NOTE_PT + 2,
                _MUTED,
                align=PP_ALIGN.CENTER,
            )
        title = planned.title.rstrip(".")
        if title[1:2].islower():  # "MRR trend" keeps its capitals, "Spend by day" does not
            title = title[:1].lower() + title[1:]
        lines = [f"This chart shows {title}."]
        if section:
            lines.append(f"It belongs to the {section.title} section. {section.intro}".strip())
        if self.report.data_through:
            lines.append(f"{self.report.data_through}.")
        return "\n".join(lines)

    def alerts_slide(self, slide, planned: _Slide) -> str:
        alerts = self.report.alerts
        if not alerts:
            text = "No alerts fired for this period."
            self._text(slide, MARGIN, CONTENT_TOP, CONTENT_WIDTH, Inches(0.5), text)
            return text
        statuses = [_WORD_STATUS.get(str(a.severity).strip().lower(), "grey") for a in alerts]
        heads = [f"{_fit(a.severity, Inches(3), BULLET_PT).upper()} " for a in alerts]
        shown = self._bullets(
            slide,
            MARGIN,
            CONTENT_TOP,
            CONTENT_WIDTH,
            [a.message for a in alerts],
            colours=[_SEVERITY_COLOURS.get(s, self.primary) for s in statuses],
            heads=heads,
        )
        if shown < len(alerts):
            more = f"{len(alerts) - shown} more alerts in the report and workbook."
            self._note(slide, CONTENT_BOTTOM - Inches(0.45), more)
        lines = ["Alerts this period:"]
        for a in alerts:
            since = f" (since {a.since})" if a.since else ""
            lines.append(f"- {str(a.severity).upper()}: {a.message}{since}")
        return "\n".join(lines)

    def initiatives_slide(self, slide, planned: _Slide) -> str:
        items = [dict(i) for i in self.initiatives if i]
        if not items:
            text = "No initiatives reported for this period."
            self._text(slide, MARGIN, CONTENT_TOP, CONTENT_WIDTH, Inches(0.5), text)
            return text
        keys: list[str] = []
        for item in items:
            keys += [k for k in item if k not in keys]
        headers = [_label(k) for k in keys]
        rows = [[_initiative_cell(k, i.get(k)) for k in keys] for i in items[:MAX_TABLE_ROWS]]
        bottom = self._table(slide, CONTENT_TOP, headers, rows, None, TABLE_PT)
        if len(items) > MAX_TABLE_ROWS:
            more = f"{len(items) - MAX_TABLE_ROWS} more initiatives in the speaker notes."
            self._note(slide, bottom, more)
        lines = ["Initiatives:"]
        for item in items:
            cells = (f"{_label(k)}: {_initiative_cell(k, item.get(k)).text}" for k in keys)
            lines.append("- " + "; ".join(cells))
        return "\n".join(lines)

    def recommendations_slide(self, slide, planned: _Slide) -> str:
        items = [str(r) for r in self.recommendations if str(r).strip()]
        if not items:
            text = "No recommendations were generated for this period."
            self._text(slide, MARGIN, CONTENT_TOP, CONTENT_WIDTH, Inches(0.5), text)
            return text
        colours = [self.accent] * len(items)
        # Up to four lines each: a recommendation ends with the dollars at stake, never cut off.
        shown = self._bullets(slide, MARGIN, CONTENT_TOP, CONTENT_WIDTH, items, colours=colours,
                              max_lines=4)  # fmt: skip
        if shown < len(items):
            more = f"{len(items) - shown} more recommendations in the speaker notes."
            self._note(slide, CONTENT_BOTTOM - Inches(0.45), more)
        return "Recommendations:\n" + "\n".join(f"- {r}" for r in items)

    def section_slide(self, slide, planned: _Slide) -> str:
        section = self.sections[planned.key]
        frame = section.table
        missing = [c.name for c in section.columns if c.name not in frame.columns]
        if missing:
            raise ValueError(f"section {section.key!r} has no column(s) {', '.join(missing)}")
        top = CONTENT_TOP
        if section.intro:
            self._text(slide, MARGIN, top, CONTENT_WIDTH, Inches(0.4), section.intro, 14, _MUTED)
            top += Inches(0.5)
        columns = section.columns
        head = frame.head(MAX_TABLE_ROWS)
        values = [head.get_column(c.name).to_list() for c in columns]
        rows = [
            [_section_cell(c, v) for c, v in zip(columns, row, strict=True)]
            for row in zip(*values, strict=True)
        ]
        headers = [c.label for c in columns]
        if not columns:
            self._text(slide, MARGIN, top, CONTENT_WIDTH, Inches(0.5), "This section has no table.")
        elif not rows:
            self._text(slide, MARGIN, top, CONTENT_WIDTH, Inches(0.5), "No rows for this period.")
        else:
            numeric = [c.unit not in ("text", "date", "bool") for c in columns]
            bottom = self._table(slide, top, headers, rows, None, TABLE_PT, numeric=numeric)
            if frame.height > MAX_TABLE_ROWS:
                self._note(
                    slide, bottom, f"{frame.height - MAX_TABLE_ROWS} more rows in the workbook."
                )
        lines = [f"{section.title}: {section.intro}".strip()]
        shown = min(frame.height, MAX_TABLE_ROWS)
        lines.append(f"Showing {shown} of {frame.height} rows; the workbook has them all.")
        return "\n".join(lines)

    def appendix_slide(self, slide, planned: _Slide) -> str:
        checks = self.report.quality
        passed = [c for c in checks if c.passed]
        warned = [c for c in checks if not c.passed and _is_warning(c.severity)]
        failed = [c for c in checks if not c.passed and not _is_warning(c.severity)]
        summary = (
            f"{len(checks)} quality checks: {len(passed)} passed, {len(warned)} warned, "
            f"{len(failed)} failed."
        )
        if not checks:
            summary = "No quality checks were recorded for this period."
        self._text(slide, MARGIN, CONTENT_TOP, CONTENT_WIDTH, Inches(0.5), summary)
        problems = [(c, "Failed", "red") for c in failed] + [(c, "Warned", "amber") for c in warned]
        top = CONTENT_TOP + Inches(0.7)
        if problems:
            headers = ["Result", "Asset", "Check", "Details"]
            rows = [
                [_Cell(word, status=status), _Cell(c.asset), _Cell(c.check), _Cell(c.description)]
                for c, word, status in problems[:MAX_TABLE_ROWS]
            ]
            bottom = self._table(slide, top, headers, rows, [1.1, 3.0, 4.4, 3.6], TABLE_PT)
            if len(problems) > MAX_TABLE_ROWS:
                self._note(slide, bottom, f"{len(problems) - MAX_TABLE_ROWS} more in the workbook.")
        elif checks:
            self._text(
                slide, MARGIN, top, CONTENT_WIDTH, Inches(0.5), "Every check passed.", color=_MUTED
            )
        lines = [summary]
        for c, word, _ in problems:
            lines.append(f"- {word.upper()} {c.asset} / {c.check} ({c.severity}): {c.description}")
        return "\n".join(lines)

    # -- shared pieces --

    def _title_bar(self, slide, title: str) -> None:
        _rect(slide, 0, 0, SLIDE_WIDTH, TITLE_BAR_HEIGHT, self.primary)
        _rect(slide, 0, TITLE_BAR_HEIGHT, SLIDE_WIDTH, Inches(0.06), self.accent)
        self._text(
            slide,
            MARGIN,
            Inches(0.12),
            CONTENT_WIDTH,
            TITLE_BAR_HEIGHT - Inches(0.24),
            title,
            TITLE_PT,
            self.on_primary,
            True,
            anchor=MSO_ANCHOR.MIDDLE,
        )

    def _footer(self, slide, number: int) -> None:
        report = self.report
        _rect(slide, MARGIN, FOOTER_TOP - Inches(0.05), CONTENT_WIDTH, Emu(9525), _RULE)
        parts = (report.branding.company_name, report.title, report.period_label)
        text = " · ".join(t for t in parts if t)
        number_width = Inches(1.2)
        self._text(
            slide,
            MARGIN,
            FOOTER_TOP,
            CONTENT_WIDTH - number_width,
            FOOTER_HEIGHT,
            text,
            FOOTER_PT,
            _MUTED,
            anchor=MSO_ANCHOR.MIDDLE,
        )
        self._text(
            slide,
            MARGIN + CONTENT_WIDTH - number_width,
            FOOTER_TOP,
            number_width,
            FOOTER_HEIGHT,
            f"{number} / {len(self.plan)}",
            FOOTER_PT,
            _MUTED,
            align=PP_ALIGN.RIGHT,
            anchor=MSO_ANCHOR.MIDDLE,
        )

    def _note(self, slide, top: int, text: str) -> int:
        """A small grey line under a table; returns its bottom edge."""
        top = min(top + Inches(0.1), CONTENT_BOTTOM - Inches(0.35))
        self._text(slide, MARGIN, top, CONTENT_WIDTH, Inches(0.35), text, NOTE_PT, _MUTED)
        return top + Inches(0.35)

    def _text(
        self,
        slide,
        left: int,
        top: int,
        width: int,
        height: int,
        text: str,
        size: int = BULLET_PT,
        color: RGBColor = _INK,
        bold: bool = False,
        *,
        align: PP_ALIGN | None = None,
        anchor: MSO_ANCHOR = MSO_ANCHOR.TOP,
        lines: int = 1,
    ) -> Any:
        """A text box with one paragraph, cut to `lines` lines so it never spills out of its box."""
        box = slide.shapes.add_textbox(left, top, width, height)
        tf = box.text_frame
        tf.word_wrap = True
        tf.auto_size = MSO_AUTO_SIZE.NONE
        tf.vertical_anchor = anchor
        tf.margin_left = tf.margin_right = 0
        tf.margin_top = tf.margin_bottom = Inches(0.02)
        paragraph = tf.paragraphs[0]
        if align is not None:
            paragraph.alignment = align
        run = paragraph.add_run()
        run.text = _fit(text, width, size, bold=bold, lines=lines, cut=self.cut)
        run.font.size = Pt(size)
        run.font.bold = bold
        run.font.color.rgb = color
        return box

    def _bullets(
        self,
        slide,
        left: int,
        top: int,
        width: int,
        items: Sequence[str],
        *,
        size: int = BULLET_PT,
        colours: Sequence[RGBColor] | None = None,
        heads: Sequence[str] | None = None,
        max_lines: int = 2,
    ) -> int:
        """Paragraphs (bulleted when `colours` are given) each cut to `max_lines` lines, as many
        as fit above the footer; `heads` are bold lead-ins. Returns how many were placed."""
        spacing = Pt(8)
        line = Pt(size * _LINE)
        budget = CONTENT_BOTTOM - Inches(0.45) - top
        indent = Inches(0.35) if colours else 0
        room = width - indent
        box = slide.shapes.add_textbox(left, top, width, budget)
        tf = box.text_frame
        tf.word_wrap = True
        tf.auto_size = MSO_AUTO_SIZE.NONE
        tf.margin_left = tf.margin_right = tf.margin_top = tf.margin_bottom = 0
        used, shown = 0, 0
        for i, item in enumerate(items):
            head = " ".join(_clean(heads[i]).split()) + " " if heads and heads[i].strip() else ""
            body = _fit(head + str(item), room, size, lines=max_lines, cut=self.cut)[len(head) :]
            n_lines = 1
            if _text_width(head + body, size) > room * _FILL:
                n_lines = min(max_lines, math.ceil(_text_width(head + body, size) / (room * 0.85)))
            need = n_lines * line + spacing
            if used + need > budget:
                break
            used += need
            paragraph = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
            paragraph.space_after = spacing
            if colours:
                _bullet(paragraph, indent, _as_rgb(colours[i]))
            if head:
                run = paragraph.add_run()
                run.text = _clean(head)
                run.font.size = Pt(size)
                run.font.bold = True
                run.font.color.rgb = _as_rgb(colours[i]) if colours else _INK
            run = paragraph.add_run()
            run.text = body
            run.font.size = Pt(size)
            run.font.color.rgb = _INK
            shown += 1
        return shown

    def _table(
        self,
        slide,
        top: int,
        headers: Sequence[str],
        rows: list[list[_Cell]],
        widths: Sequence[float] | None,
        size: int,
        *,
        numeric: Sequence[bool] | None = None,
    ) -> int:
        """A table with a primary-colour header and banded rows; returns its bottom edge.

        Body cells hold one line each (cut with an ellipsis), headers up to two, so the row
        heights set here are the heights drawn and the table never runs into the footer."""
        margin_x, margin_y = _CELL_MARGIN_X, Inches(0.04)
        if numeric is None:
            numeric = [any(row[c].right for row in rows) for c in range(len(headers))]
        has_status = [any(row[c].status for row in rows) for c in range(len(headers))]
        if widths is None:
            widths = _column_widths(headers, rows, size)
        total = sum(widths)
        col_widths = [Emu(int(CONTENT_WIDTH * w / total)) for w in widths]
        col_widths[-1] = Emu(CONTENT_WIDTH - sum(col_widths[:-1]))
        inner = [w - 2 * margin_x for w in col_widths]
        header_lines = 1
        if any(_text_width(h, size, True) > w * _FILL for h, w in zip(headers, inner, strict=True)):
            header_lines = 2
        line = Pt(size * _LINE)
        header_height = Emu(int(line * header_lines + 2 * margin_y + Pt(4)))
        row_height = Emu(int(line + 2 * margin_y + Pt(4)))
        height = header_height + row_height * len(rows)
        frame = slide.shapes.add_table(
            len(rows) + 1, len(headers), MARGIN, top, CONTENT_WIDTH, height
        )
        table = frame.table
        table.first_row = True
        table.horz_banding = False
        for i, w in enumerate(col_widths):
            table.columns[i].width = w
        table.rows[0].height = header_height
        for r in range(1, len(rows) + 1):
            table.rows[r].height = row_height
        frame.height = height
        for r, row in enumerate([[_Cell(h) for h in headers], *rows]):
            for c, cell in enumerate(row):
                target = table.cell(r, c)
                target.margin_left = target.margin_right = margin_x
                target.margin_top = target.margin_bottom = margin_y
                target.vertical_anchor = MSO_ANCHOR.MIDDLE
                if r == 0:
                    fill, ink, bold = self.primary, self.on_primary, True
                elif cell.status in STATUS_COLOURS:
                    fill, ink = (RGBColor.from_string(x) for x in STATUS_COLOURS[cell.status])
                    bold = True
                else:
                    fill, ink, bold = (_WHITE if r % 2 else _BAND), _INK, False
                target.fill.solid()
                target.fill.fore_color.rgb = fill
                tf = target.text_frame
                tf.word_wrap = True
                tf.auto_size = MSO_AUTO_SIZE.NONE
                paragraph = tf.paragraphs[0]
                if has_status[c]:
                    paragraph.alignment = PP_ALIGN.CENTER
                elif numeric[c]:
                    paragraph.alignment = PP_ALIGN.RIGHT
                lines = header_lines if r == 0 else 1
                run = paragraph.add_run()
                run.text = _fit(cell.text, inner[c], size, bold=bold, lines=lines, cut=self.cut)
                run.font.size = Pt(size)
                run.font.bold = bold
                run.font.color.rgb = ink
        return top + height


@dataclass(frozen=True)
class _Cell:
    """One table cell's text, whether it is a number (right-aligned), and a status colour."""

    text: str
    right: bool = False
    status: str | None = None


# -- drawing helpers ----------------------------------------------------------------------------


def _rect(slide, left: int, top: int, width: int, height: int, colour: RGBColor) -> Any:
    shape = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, left, top, width, height)
    shape.fill.solid()
    shape.fill.fore_color.rgb = colour
    shape.line.fill.background()
    shape.shadow.inherit = False
    return shape


def _bullet(paragraph, indent: int, colour: RGBColor) -> None:
    """A coloured round bullet with a hanging indent, so wrapped lines align with the text."""
    p_pr = paragraph._p.get_or_add_pPr()
    p_pr.set("marL", str(int(indent)))
    p_pr.set("indent", str(-int(indent)))
    colour_el = p_pr.makeelement(qn("a:buClr"), {})
    colour_el.append(p_pr.makeelement(qn("a:srgbClr"), {"val": str(colour)}))
    p_pr.append(colour_el)
    p_pr.append(p_pr.makeelement(qn("a:buFont"), {"typeface": "Arial"}))
    p_pr.append(p_pr.makeelement(qn("a:buChar"), {"char": "●"}))


# -- text and value helpers ---------------------------------------------------------------------


@lru_cache(maxsize=2)
def _font(bold: bool) -> ImageFont.FreeTypeFont | None:
    """DejaVu Sans at 100 px, to measure text; None where the font is not installed."""
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", 100)
    except OSError:
        return None


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """How wide `text` is in EMU at `size` points. Measured in DejaVu Sans, which is wider than
    PowerPoint's Calibri and is what LibreOffice draws with here, so text that fits here fits
    in both; without the font, a wide average character width stands in."""
    font = _font(bold)
    if font is None:
        return Pt(size * _CHAR_EM) * len(text)
    return Pt(font.getlength(text) * size / 100)


def _clean(text: Any) -> str:
    """Text safe for the file: XML-illegal control characters become spaces."""
    return _CONTROL.sub(" ", str(text))


def _fit(
    text: Any,
    width: float,
    size: float,
    *,
    bold: bool = False,
    lines: int = 1,
    cut: list[str] | None = None,
) -> str:
    """Text cut with an ellipsis so it fits `lines` lines `width` EMU wide (full text to `cut`).

    Wrapped lines lose room at word breaks, so more than one line counts at 85% each.
    """
    text = " ".join(_clean(text).split())
    room = width * (_FILL if lines == 1 else 0.85 * lines)
    if _text_width(text, size, bold) <= room:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with its ellipsis
        mid = (lo + hi + 1) // 2
        if _text_width(text[:mid].rstrip() + "…", size, bold) <= room:
            lo = mid
        else:
            hi = mid - 1
    if cut is not None:
        cut.append(text)
    return text[:lo].rstrip() + "…"


def _hex(colour: str | None, default: str) -> RGBColor:
    match = _HEX.fullmatch((colour or "").strip())
    return RGBColor.from_string((match.group(1) if match else default).upper())


def _as_rgb(colour: RGBColor | str) -> RGBColor:
    return colour if isinstance(colour, RGBColor) else RGBColor.from_string(colour)


def _readable_on(fill: RGBColor) -> RGBColor:
    """White or near-black text, whichever reads better on `fill`."""

    def channel(v: int) -> float:
        v = v / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(fill[0]) + 0.7152 * channel(fill[1]) + 0.0722 * channel(fill[2])
    return _WHITE if (1.05 / (luminance + 0.05)) >= (luminance + 0.05) / 0.05 else _INK


def _is_warning(severity: str) -> bool:
    return str(severity).strip().lower() in ("warn", "warning")


def _label(key: str) -> str:
    text = str(key).replace("_", " ").strip()
    text = re.sub(r"\bpct\b", "%", text, flags=re.IGNORECASE)
    return text[:1].upper() + text[1:]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _initiative_cell(key: str, value: Any) -> _Cell:
    """An initiative field as a cell: percentages, money and status words read naturally."""
    name = str(key).lower()
    number = _number(value)
    if number is not None:
        if any(w in name for w in ("pct", "percent", "complete", "progress")):
            return _Cell(format_value(number if number <= 1 else number / 100, "ratio"), True)
        if any(w in name for w in ("usd", "cost", "revenue", "saving", "budget", "mrr", "value")):
            return _Cell(format_value(number, "usd"), True)
        text = format_value(number, "count") if number.is_integer() else f"{number:,.2f}"
        return _Cell(text, True)
    text = _section_text(value, "text")
    status = _WORD_STATUS.get(text.strip().lower()) if name in ("status", "rag", "health") else None
    return _Cell(text, status=status)


def _section_cell(column: Column, value: Any) -> _Cell:
    """A section table value as a cell; a `status`/`rag`/`result` column gets its colour."""
    text = _section_text(value, column.unit)
    status = None
    if isinstance(value, str) and column.name.lower() in ("status", "rag", "result"):
        status = _WORD_STATUS.get(value.strip().lower())
    return _Cell(text, right=_number(value) is not None, status=status)


def _section_text(value: Any, unit: str) -> str:
    """A table value as text, numbers through `format_value` so they match the other formats."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    number = _number(value)
    if number is not None:
        if unit in ("text", "date", "bool"):
            return format_value(number, "count") if number.is_integer() else f"{number:,.2f}"
        return format_value(number, unit)
    if isinstance(value, float):  # NaN or infinity
        return "–"
    return _clean(value)


def _column_widths(
    headers: Sequence[str], rows: Sequence[Sequence[_Cell]], size: int
) -> list[float]:
    """Column widths (EMU) for a full-width table, from the text each column holds.

    Long headers may wrap onto two lines. When everything fits, columns share the spare room in
    proportion. When not, narrow columns (figures, dates, statuses) keep their full width and the
    wide text columns share what is left equally, so it is long text that gets cut, not numbers.
    """
    pad = 2 * _CELL_MARGIN_X + Pt(2)
    need = []
    for c, header in enumerate(headers):
        # A header stays on one line up to 1.6 in; a longer one may wrap onto a second line.
        full = _text_width(header, size, True)
        longest_word = max(_text_width(w, size, True) for w in header.split() or [""])
        head = min(full, max(Inches(1.6), longest_word, full / 2))
        body = max((_text_width(row[c].text, size, bool(row[c].status)) for row in rows), default=0)
        need.append(max(head / _FILL, body / _FILL, Inches(0.5)) + pad)
    if sum(need) <= CONTENT_WIDTH:
        return need
    widths = list(need)
    room = float(CONTENT_WIDTH)
    pending = sorted(range(len(need)), key=need.__getitem__)
    while pending:
        share = room / len(pending)
        if need[pending[0]] > share:
            for i in pending:
                widths[i] = share
            break
        room -= need[pending[0]]
        pending.pop(0)
    return widths


__all__ = ["AUDIENCE_SECTIONS", "STATUS_COLOURS", "STATUS_WORDS", "write_deck"]
