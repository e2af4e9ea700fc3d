"""How the workbook looks: number formats per unit, status colours and words, sheet names, cell
widths, dates read from text, and the document properties."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import xlsxwriter

from reporting_assets.lib.formatting import format_value
from reporting_assets.reports.model import WORD_STATUS, ReportData

# Zero-based position of the KPI table header on the Summary sheet (row 6 in Excel terms): the
# title block fills rows 1-4, row 5 is blank. KPI rows start on the row below.

FIXED_SHEETS = ("Summary", "Alerts", "Quality", "README")
MIN_WIDTH, MAX_WIDTH = 8, 60
DEFAULT_PRIMARY = "#1F3A5F"

# Excel number formats per unit; the "change" variants always show a sign.
NUMBER_FORMATS: dict[str, str] = {
    "usd": "$#,##0;-$#,##0",
    "ratio": "0.0%",
    "count": "#,##0",
    "hours": "0.0",
    "minutes": "#,##0",
    "per_100_accounts": "#,##0.00",
    "usd_per_k": "#,##0.00",
}
# A change of a share is in percentage points: stored as points (×100), shown "+3.4 pts".
POINTS = 100
CHANGE_FORMATS: dict[str, str] = {
    "usd": "+$#,##0;-$#,##0;$0",
    "ratio": '+0.0" pts";-0.0" pts";0.0" pts"',
    "count": "+#,##0;-#,##0;0",
    "hours": "+0.0;-0.0;0.0",
    "minutes": "+#,##0;-#,##0;0",
    "per_100_accounts": "+#,##0.00;-#,##0.00;0.00",
    "usd_per_k": "+#,##0.00;-#,##0.00;0.00",
}
DATE_FORMAT = "yyyy-mm-dd"
MONTH_FORMAT = "mmmm yyyy"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"

# Fill and text colours for red/amber/green status cells (Excel's own "good/neutral/bad" styles).
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "green": ("#C6EFCE", "#006100"),
    "amber": ("#FFEB9C", "#9C5700"),
    "red": ("#FFC7CE", "#9C0006"),
    "grey": ("#E7E6E6", "#3A3A3A"),
}


INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
STAMP = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")


@dataclass(frozen=True)
class Cell:
    """One value to write, how to show it, and an optional status colour."""

    value: Any
    unit: str = "text"
    change: bool = False
    status: str | None = None


# -- helpers ------------------------------------------------------------------------------------


def status_of(column: str, value: Any) -> str | None:
    """A status colour for a value in a column named like `status`, `rag` or `result`."""
    if not isinstance(value, str) or column.lower() not in ("status", "rag", "result"):
        return None
    word = value.strip().lower()
    return word if word in STATUS_COLOURS else WORD_STATUS.get(word)


def display_width(cell: Cell) -> int:
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


def as_date(value: Any) -> Any:
    """An ISO date string as a date (so Excel stores a real date); anything else unchanged."""
    if isinstance(value, str):
        match = STAMP.match(value)
        if match and match.end() == len(value.strip()) and match.group(4) is None:
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                return value
    return value


def parse_stamp(text: str) -> datetime | None:
    """The date and time at the start of a stamp such as `2026-11-27 06:30 ET`, if any."""
    match = STAMP.match(text or "")
    if not match:
        return None
    parts = [int(p) if p else 0 for p in match.groups()]
    try:
        return datetime(*parts)
    except ValueError:
        return None


def valid_sheet_name(title: str) -> str:
    """A title made into a legal sheet name: no []:*?/\\, no edge apostrophes, 31 chars."""
    name = INVALID_SHEET_CHARS.sub("_", title or "").strip()
    name = name[:31].strip().strip("'").strip()
    return name or "Section"


def section_sheet_names(report: ReportData) -> list[str]:
    """One unique, legal sheet name per section (Excel compares names ignoring case)."""
    taken = {n.lower() for n in FIXED_SHEETS} | {"history"}  # "History" is reserved by Excel
    names = []
    for section in report.sections:
        base = valid_sheet_name(section.title)
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            suffix = f" ({n})"
            name = base[: 31 - len(suffix)].rstrip().rstrip("'") + suffix
        taken.add(name.lower())
        names.append(name)
    return names


def set_properties(workbook: xlsxwriter.Workbook, report: ReportData) -> None:
    created = parse_stamp(report.generated_at) or parse_stamp(report.period_key)
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
