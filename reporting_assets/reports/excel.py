"""The report as an Excel workbook, for readers who want to sort, filter and reuse the figures.

Every figure is stored as a real number or date with a display format, so totals and charts work
in Excel; source text is always stored as plain text, so a name such as `=HYPERLINK(...)` can
never run as a formula. The workbook shows the same numbers as the PDF: it computes nothing.

Layout: `Summary` (title block, KPI table, summary sentences), one sheet per report section,
`Alerts`, `Quality` and `README` (metric definitions and notes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from reporting_assets.lib.formatting import display_name, unit_words
from reporting_assets.reports.model import STATUS_WORDS, WORD_STATUS, ReportData, Section

# Zero-based position of the KPI table header on the Summary sheet (row 6 in Excel terms): the
# title block fills rows 1-4, row 5 is blank. KPI rows start on the row below.
from reporting_assets.reports.workbook_style import (
    CHANGE_FORMATS,
    DATE_FORMAT,
    DATETIME_FORMAT,
    DEFAULT_PRIMARY,
    MAX_WIDTH,
    MIN_WIDTH,
    MONTH_FORMAT,
    NUMBER_FORMATS,
    POINTS,
    STATUS_COLOURS,
    Cell,
    as_date,
    display_width,
    section_sheet_names,
    set_properties,
    status_of,
)

KPI_HEADER_ROW = 5
KPI_HEADERS = ("Metric", "Value", "Previous", "Change", "Target", "Status", "Note")
# First cells that mark a table's total row.
TOTAL_LABELS = {"total", "overall", "overall score (0–100)"}
ALERT_HEADERS = ("Rule", "Metric", "Severity", "Value", "Threshold", "Since", "At stake",
                 "Message")  # fmt: skip
QUALITY_HEADERS = ("Asset", "Check", "Result", "Severity", "Details")
README_HEADERS = ("Metric", "Unit", "Definition")


def write_workbook(report: ReportData, path: Path) -> dict:
    """Write the report to one .xlsx file; returns the sheet names and data rows per sheet."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "remove_timezone": True,
        },
    )
    try:
        writer = _Writer(workbook, report)
        writer.summary()
        for section, name in zip(report.sections, section_sheet_names(report), strict=True):
            writer.section(section, name)
        writer.alerts()
        writer.quality()
        writer.readme()
        set_properties(workbook, report)
    finally:
        workbook.close()
    return {"sheets": list(writer.rows), "rows": dict(writer.rows)}


class _Writer:
    """Holds the workbook's shared formats and writes one sheet at a time."""

    def __init__(self, workbook: xlsxwriter.Workbook, report: ReportData) -> None:
        self.workbook = workbook
        self.report = report
        self.rows: dict[str, int] = {}
        self._formats: dict[tuple, Format] = {}
        primary = report.branding.primary_color
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", primary or ""):
            primary = DEFAULT_PRIMARY
        self.header = workbook.add_format(
            {
                "bold": True,
                "font_color": "#FFFFFF",
                "bg_color": primary,
                "border": 1,
                "valign": "vcenter",
            }
        )
        self.title = workbook.add_format({"bold": True, "font_size": 16, "font_color": primary})
        self.heading = workbook.add_format({"bold": True, "font_size": 12})
        self.muted = workbook.add_format({"font_color": "#595959"})
        self.units = {k.key: k.unit for k in report.kpis}

    # -- sheets ---------------------------------------------------------------------------------

    def summary(self) -> None:
        report = self.report
        ws = self.workbook.add_worksheet("Summary")
        ws.write_string(0, 0, report.title, self.title)
        ws.write_string(1, 0, report.period_label)
        ws.write_string(2, 0, report.data_through, self.muted)
        ws.write_string(
            3, 0, f"Generated {report.generated_at} · {report.branding.company_name}", self.muted
        )
        rows = [
            [
                Cell(k.label),
                Cell(k.value, k.unit),
                Cell(k.previous, k.unit),
                Cell(k.delta, k.unit, change=True),
                Cell(k.target, k.unit),
                Cell(STATUS_WORDS.get(k.status, str(k.status).title()), status=k.status),
                Cell(
                    "; ".join(
                        x
                        for x in (
                            k.status_reason[:1].upper() + k.status_reason[1:],
                            k.gap,
                        )
                        if x
                    )
                ),
            ]
            for k in report.kpis
        ]
        end = self._table(ws, KPI_HEADER_ROW, KPI_HEADERS, rows)
        row = end + 2
        if report.summary:
            ws.write_string(row, 0, "Summary", self.heading)
            for offset, sentence in enumerate(report.summary, start=1):
                ws.write_string(row + offset, 0, sentence)
        self.rows["Summary"] = len(rows)

    def section(self, section: Section, name: str) -> None:
        ws = self.workbook.add_worksheet(name)
        frame = section.table
        missing = [c.name for c in section.columns if c.name not in frame.columns]
        if missing:
            raise ValueError(f"section {section.key!r} has no column(s) {', '.join(missing)}")
        columns = section.columns
        rows = [
            [
                Cell(record[c.name], record[c.unit_from] if c.unit_from else c.unit,
                      status=status_of(c.name, record[c.name]))
                for c in columns
            ]
            for record in frame.iter_rows(named=True)
        ]  # fmt: skip
        self._table(ws, 0, [c.label for c in section.columns], rows)
        self.rows[name] = len(rows)

    def alerts(self) -> None:
        ws = self.workbook.add_worksheet("Alerts")
        rows = []
        for a in self.report.alerts:
            unit = self.units.get(a.metric, "number")
            rows.append(
                [
                    Cell(a.rule),
                    Cell(a.metric),
                    Cell(a.severity, status=WORD_STATUS.get(str(a.severity).lower())),
                    Cell(a.value, unit),
                    Cell(a.threshold, unit),
                    Cell(as_date(a.since), "date"),
                    Cell(a.at_stake, "usd"),
                    Cell(a.message),
                ]
            )
        self._table(ws, 0, ALERT_HEADERS, rows, empty_note="No alerts fired for this period.")
        self.rows["Alerts"] = len(rows)

    def quality(self) -> None:
        ws = self.workbook.add_worksheet("Quality")
        rows = [
            [
                Cell(c.asset),
                Cell(c.check),
                Cell("PASS" if c.passed else "FAIL", status="green" if c.passed else "red"),
                Cell(c.severity),
                Cell(c.description),
            ]
            for c in self.report.quality
        ]
        self._table(ws, 0, QUALITY_HEADERS, rows, empty_note="No quality checks recorded.")
        self.rows["Quality"] = len(rows)

    def readme(self) -> None:
        report = self.report
        ws = self.workbook.add_worksheet("README")
        rows = [
            [Cell(label), Cell(unit_words(unit)), Cell(text)]
            for label, unit, text in report.definitions
        ]
        end = self._table(ws, 0, README_HEADERS, rows)
        notes = [
            "Every figure comes from the checked report data; this workbook computes nothing of "
            "its own and shows the same numbers as the PDF and email.",
            "Figures are stored as numbers and dates: formats change only how they display, so "
            "they can be summed, sorted and charted.",
            "Change = Value − Previous period. Percentages are stored as fractions (0.045 displays "
            "as 4.5%); a change in a percentage is in percentage points.",
            "Status, against the target shown: On track at or better than target; Watch short "
            "of it by no more than the metric's tolerance; Off track beyond; Not rated without a "
            "target or a value (the Note says why). Alerts are separate rules, listed as alerts.",
            f"Time zone: {report.data_through}. Generated {report.generated_at}.",
            f"Report: {report.title}, {report.period_label} ({report.period_key}).",
        ]
        if report.report_url:
            notes.append(f"Online version: {report.report_url}")
        lines: list[tuple[str, bool]] = [("How the figures are computed", True)]
        lines += [(text, False) for text in notes]
        if report.sections:
            lines += [("", False), ("Sections", True)]
            names = section_sheet_names(report)
            lines += [
                (f"{name}: {section.intro}", False)
                for section, name in zip(report.sections, names, strict=True)
            ]
        for offset, (text, is_heading) in enumerate(lines):
            if text:
                ws.write_string(end + 2 + offset, 0, text, self.heading if is_heading else None)
        self.rows["README"] = len(rows)

    # -- tables ---------------------------------------------------------------------------------

    def _table(
        self,
        ws: Worksheet,
        top: int,
        headers: Sequence[str],
        rows: list[list[Cell]],
        empty_note: str | None = None,
    ) -> int:
        """Write a header and rows from `top`; returns the last row used (zero-based)."""
        if not headers:
            return top
        widths = [len(h) + 3 for h in headers]  # room for the filter arrow
        for col, label in enumerate(headers):
            ws.write_string(top, col, label, self.header)
        for r, row in enumerate(rows, start=top + 1):
            for col, cell in enumerate(row):
                widths[col] = max(widths[col], display_width(cell))
                self._write(ws, r, col, cell)
        last = top + len(rows)
        ws.freeze_panes(top + 1, 0)
        # A total row stays below the filter range: filtering never hides or sorts it.
        total = bool(rows) and str(rows[-1][0].value).strip().lower() in TOTAL_LABELS
        ws.autofilter(top, 0, last - 1 if total else last, len(headers) - 1)
        for col, width in enumerate(widths):
            ws.set_column(col, col, min(max(width + 1, MIN_WIDTH), MAX_WIDTH))
        ws.repeat_rows(top)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        if not rows and empty_note:
            ws.write_string(top + 2, 0, empty_note, self.muted)
            return top + 2
        return last

    def _write(self, ws: Worksheet, row: int, col: int, cell: Cell) -> None:
        value = cell.value
        if isinstance(value, Decimal):
            value = float(value)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            fmt = self._format("blank", cell.status)
            if fmt is not None:
                ws.write_blank(row, col, None, fmt)
            return
        if isinstance(value, bool):
            ws.write_boolean(row, col, value, self._format("bool", cell.status))
        elif isinstance(value, int | float):
            kind = ("change:" if cell.change else "number:") + cell.unit
            if cell.change and cell.unit == "ratio":
                value = value * POINTS  # a change of a share, in points
            ws.write_number(row, col, value, self._format(kind, cell.status))
        elif isinstance(value, datetime):
            kind = "date" if cell.unit == "date" else "datetime"
            ws.write_datetime(row, col, value, self._format(kind, cell.status))
        elif isinstance(value, date):
            kind = "month" if cell.unit == "month" else "date"
            ws.write_datetime(row, col, value, self._format(kind, cell.status))
        else:
            text = display_name(value) if cell.unit == "name" and isinstance(value, str) else value
            ws.write_string(row, col, str(text), self._format("text", cell.status))

    def _format(self, kind: str, status: str | None) -> Format | None:
        key = (kind, status)
        if key in self._formats:
            return self._formats[key]
        props: dict[str, Any] = {}
        if kind.startswith(("number:", "change:")):
            table = CHANGE_FORMATS if kind.startswith("change:") else NUMBER_FORMATS
            num_format = table.get(kind.split(":", 1)[1])
            if num_format:
                props["num_format"] = num_format
        elif kind == "date":
            props["num_format"] = DATE_FORMAT
        elif kind == "month":
            props["num_format"] = MONTH_FORMAT
        elif kind == "datetime":
            props["num_format"] = DATETIME_FORMAT
        if status in STATUS_COLOURS:
            fill, text = STATUS_COLOURS[status]
            props.update({"bg_color": fill, "font_color": text, "bold": True})
        fmt = self.workbook.add_format(props) if props else None
        self._formats[key] = fmt
        return fmt


__all__ = ["write_workbook"]
