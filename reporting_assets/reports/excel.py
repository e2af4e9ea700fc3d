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
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from reporting_assets.lib.formatting import format_value
from reporting_assets.reports.model import STATUS_WORDS, ReportData, Section

# Zero-based position of the KPI table header on the Summary sheet (row 6 in Excel terms): the
# title block fills rows 1-4, row 5 is blank. KPI rows start on the row below.
KPI_HEADER_ROW = 5
KPI_HEADERS = ("Metric", "Value", "Previous", "Change", "Target", "Status", "Note")
ALERT_HEADERS = ("Rule", "Metric", "Severity", "Value", "Threshold", "Since", "Message")
QUALITY_HEADERS = ("Asset", "Check", "Result", "Severity", "Details")
README_HEADERS = ("Metric", "Unit", "Definition")
FIXED_SHEETS = ("Summary", "Alerts", "Quality", "README")

MIN_WIDTH, MAX_WIDTH = 8, 60
_DEFAULT_PRIMARY = "#1F3A5F"

# Excel number formats per unit; the "change" variants always show a sign.
_NUMBER_FORMATS: dict[str, str] = {
    "usd": "$#,##0;-$#,##0",
    "ratio": "0.0%",
    "count": "#,##0",
    "hours": "0.0",
    "minutes": "#,##0",
    "per_100_accounts": "#,##0.00",
    "usd_per_k": "#,##0.00",
}
_CHANGE_FORMATS: dict[str, str] = {
    "usd": "+$#,##0;-$#,##0;$0",
    "ratio": "+0.0%;-0.0%;0.0%",
    "count": "+#,##0;-#,##0;0",
    "hours": "+0.0;-0.0;0.0",
    "minutes": "+#,##0;-#,##0;0",
    "per_100_accounts": "+#,##0.00;-#,##0.00;0.00",
    "usd_per_k": "+#,##0.00;-#,##0.00;0.00",
}
_DATE_FORMAT = "yyyy-mm-dd"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"

# Fill and text colours for red/amber/green status cells (Excel's own "good/neutral/bad" styles).
_STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "green": ("#C6EFCE", "#006100"),
    "amber": ("#FFEB9C", "#9C5700"),
    "red": ("#FFC7CE", "#9C0006"),
    "grey": ("#E7E6E6", "#3A3A3A"),
}
_STATUS_WORDS = STATUS_WORDS
# Other words that carry a status colour: check results and alert severities.
_WORD_STATUS = {
    "pass": "green",
    "fail": "red",
    "critical": "red",
    "error": "red",
    "high": "red",
    "warning": "amber",
    "warn": "amber",
    "medium": "amber",
    "info": "grey",
    "low": "grey",
}

_UNIT_NAMES = {
    "usd": "US dollars",
    "ratio": "Percent",
    "count": "Count",
    "hours": "Hours",
    "minutes": "Minutes",
    "per_100_accounts": "Per 100 accounts",
    "usd_per_k": "US dollars per 1,000",
}

_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_STAMP = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")


@dataclass(frozen=True)
class _Cell:
    """One value to write, how to show it, and an optional status colour."""

    value: Any
    unit: str = "text"
    change: bool = False
    status: str | None = None


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
        for section, name in zip(report.sections, _section_sheet_names(report), strict=True):
            writer.section(section, name)
        writer.alerts()
        writer.quality()
        writer.readme()
        _set_properties(workbook, report)
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
            primary = _DEFAULT_PRIMARY
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
                _Cell(k.label),
                _Cell(k.value, k.unit),
                _Cell(k.previous, k.unit),
                _Cell(k.delta, k.unit, change=True),
                _Cell(k.target, k.unit),
                _Cell(_STATUS_WORDS.get(k.status, str(k.status).title()), status=k.status),
                _Cell(
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
                _Cell(record[c.name], record[c.unit_from] if c.unit_from else c.unit,
                      status=_status_of(c.name, record[c.name]))
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
                    _Cell(a.rule),
                    _Cell(a.metric),
                    _Cell(a.severity, status=_WORD_STATUS.get(str(a.severity).lower())),
                    _Cell(a.value, unit),
                    _Cell(a.threshold, unit),
                    _Cell(_as_date(a.since), "date"),
                    _Cell(a.message),
                ]
            )
        self._table(ws, 0, ALERT_HEADERS, rows, empty_note="No alerts fired for this period.")
        self.rows["Alerts"] = len(rows)

    def quality(self) -> None:
        ws = self.workbook.add_worksheet("Quality")
        rows = [
            [
                _Cell(c.asset),
                _Cell(c.check),
                _Cell("PASS" if c.passed else "FAIL", status="green" if c.passed else "red"),
                _Cell(c.severity),
                _Cell(c.description),
            ]
            for c in self.report.quality
        ]
        self._table(ws, 0, QUALITY_HEADERS, rows, empty_note="No quality checks recorded.")
        self.rows["Quality"] = len(rows)

    def readme(self) -> None:
        report = self.report
        ws = self.workbook.add_worksheet("README")
        rows = [
            [_Cell(label), _Cell(_UNIT_NAMES.get(unit, unit)), _Cell(text)]
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
            names = _section_sheet_names(report)
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
        rows: list[list[_Cell]],
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
                widths[col] = max(widths[col], _display_width(cell))
                self._write(ws, r, col, cell)
        last = top + len(rows)
        ws.freeze_panes(top + 1, 0)
        ws.autofilter(top, 0, last, len(headers) - 1)
        for col, width in enumerate(widths):
            ws.set_column(col, col, min(max(width + 1, MIN_WIDTH), MAX_WIDTH))
        ws.repeat_rows(top)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        if not rows and empty_note:
            ws.write_string(top + 2, 0, empty_note, self.muted)
            return top + 2
        return last

    def _write(self, ws: Worksheet, row: int, col: int, cell: _Cell) -> None:
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
            ws.write_number(row, col, value, self._format(kind, cell.status))
        elif isinstance(value, datetime):
            kind = "date" if cell.unit == "date" else "datetime"
            ws.write_datetime(row, col, value, self._format(kind, cell.status))
        elif isinstance(value, date):
            ws.write_datetime(row, col, value, self._format("date", cell.status))
        else:
            ws.write_string(row, col, str(value), self._format("text", cell.status))

    def _format(self, kind: str, status: str | None) -> Format | None:
        key = (kind, status)
        if key in self._formats:
            return self._formats[key]
        props: dict[str, Any] = {}
        if kind.startswith(("number:", "change:")):
            table = _CHANGE_FORMATS if kind.startswith("change:") else _NUMBER_FORMATS
            num_format = table.get(kind.split(":", 1)[1])
            if num_format:
                props["num_format"] = num_format
        elif kind == "date":
            props["num_format"] = _DATE_FORMAT
        elif kind == "datetime":
            props["num_format"] = _DATETIME_FORMAT
        if status in _STATUS_COLOURS:
            fill, text = _STATUS_COLOURS[status]
            props.update({"bg_color": fill, "font_color": text, "bold": True})
        fmt = self.workbook.add_format(props) if props else None
        self._formats[key] = fmt
        return fmt


# -- helpers ------------------------------------------------------------------------------------


def _status_of(column: str, value: Any) -> str | None:
    """A status colour for a value in a column named like `status`, `rag` or `result`."""
    if not isinstance(value, str) or column.lower() not in ("status", "rag", "result"):
        return None
    word = value.strip().lower()
    return word if word in _STATUS_COLOURS else _WORD_STATUS.get(word)


def _display_width(cell: _Cell) -> int:
    """How many characters the cell needs on screen."""
    value = cell.value
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return 0
        text = format_value(float(value), cell.unit)
        return len(text) + (1 if cell.change else 0)
    return max((len(line) for line in str(value).splitlines()), default=0)


def _as_date(value: Any) -> Any:
    """An ISO date string as a date (so Excel stores a real date); anything else unchanged."""
    if isinstance(value, str):
        match = _STAMP.match(value)
        if match and match.end() == len(value.strip()) and match.group(4) is None:
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                return value
    return value


def _parse_stamp(text: str) -> datetime | None:
    """The date and time at the start of a stamp such as `2026-11-27 06:30 ET`, if any."""
    match = _STAMP.match(text or "")
    if not match:
        return None
    parts = [int(p) if p else 0 for p in match.groups()]
    try:
        return datetime(*parts)
    except ValueError:
        return None


def _valid_sheet_name(title: str) -> str:
    """A title made into a legal sheet name: no []:*?/\\, no edge apostrophes, 31 chars."""
    name = _INVALID_SHEET_CHARS.sub("_", title or "").strip()
    name = name[:31].strip().strip("'").strip()
    return name or "Section"


def _section_sheet_names(report: ReportData) -> list[str]:
    """One unique, legal sheet name per section (Excel compares names ignoring case)."""
    taken = {n.lower() for n in FIXED_SHEETS} | {"history"}  # "History" is reserved by Excel
    names = []
    for section in report.sections:
        base = _valid_sheet_name(section.title)
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            suffix = f" ({n})"
            name = base[: 31 - len(suffix)].rstrip().rstrip("'") + suffix
        taken.add(name.lower())
        names.append(name)
    return names


def _set_properties(workbook: xlsxwriter.Workbook, report: ReportData) -> None:
    created = _parse_stamp(report.generated_at) or _parse_stamp(report.period_key)
    props: dict[str, Any] = {
        "title": report.title,
        "subject": report.period_label,
        "author": report.branding.company_name,
        "company": report.branding.company_name,
        "category": report.cadence,
        "keywords": report.report_key,
        "comments": report.data_through,
    }
    if created is not None:
        props["created"] = created
    workbook.set_properties(props)


__all__ = ["write_workbook"]
