"""The Excel workbook, read back with openpyxl: typed cells, safe text, and a usable layout."""

from __future__ import annotations

import math
import shutil
import subprocess
import zipfile
from dataclasses import replace
from datetime import date, datetime

import openpyxl
import polars as pl
import pytest

from reporting_assets.reports.excel import write_workbook
from reporting_assets.reports.model import STATUS_WORDS, Column, Section
from reporting_assets_tests.reports.sample import (
    FORMULA_NAME,
    HOSTILE_NAME,
    sample_report,
)

SHEETS = ["Summary", "Revenue protection", "Accounts at risk", "Alerts", "Quality", "README"]
KPI_HEADER = 6  # Excel row of the KPI table header on the Summary sheet
FORMULA_LIKE = [FORMULA_NAME, "+1 555 0100 Ltd", "-minus Corp", "@handle Inc"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("excel") / "report.xlsx"
    result = write_workbook(sample_report(), path)
    return path, result


@pytest.fixture(scope="module")
def book(written):
    return openpyxl.load_workbook(written[0])


def _table(ws, header_row: int = 1) -> tuple[list[str], list[list]]:
    """The header labels and the data cells of the table starting at `header_row`."""
    rows = list(ws.iter_rows(min_row=header_row))
    headers = [c.value for c in rows[0] if c.value is not None]
    body = []
    for row in rows[1:]:
        cells = list(row[: len(headers)])
        if all(c.value is None for c in cells):
            break
        body.append(cells)
    return headers, body


def test_sheets_in_order_and_result(written, book):
    _, result = written
    assert book.sheetnames == SHEETS
    assert result["sheets"] == SHEETS
    report = sample_report()
    assert result["rows"] == {
        "Summary": len(report.kpis),
        "Revenue protection": report.sections[0].table.height,
        "Accounts at risk": report.sections[1].table.height,
        "Alerts": len(report.alerts),
        "Quality": len(report.quality),
        "README": len(report.definitions),
    }


def test_summary_title_block_and_sentences(book):
    report = sample_report()
    ws = book["Summary"]
    assert ws["A1"].value == report.title
    assert ws["A2"].value == report.period_label
    assert ws["A3"].value == report.data_through
    texts = [c.value for c in ws["A"] if isinstance(c.value, str)]
    for sentence in report.summary:
        assert sentence in texts


def test_kpi_cells_are_numbers_with_unit_formats(book):
    report = sample_report()
    ws = book["Summary"]
    headers, body = _table(ws, KPI_HEADER)
    assert headers == ["Metric", "Value", "Previous", "Change", "Target", "Status", "Note"]
    assert len(body) == len(report.kpis)
    for kpi, (metric, value, previous, change, target, status, _note) in zip(
        report.kpis, body, strict=True
    ):
        assert metric.value == kpi.label
        # a share's change is in points: stored ×100, shown "+3.4 pts"
        points = 100 if kpi.unit == "ratio" and kpi.delta is not None else 1
        delta = None if kpi.delta is None else kpi.delta * points
        for cell, expected in ((value, kpi.value), (previous, kpi.previous), (change, delta)):
            assert cell.data_type == "n" and not isinstance(cell.value, str)
            assert cell.value == pytest.approx(expected)
        if kpi.unit == "ratio":
            assert change.number_format.startswith('+0.0" pts"'), change.number_format
        if kpi.target is None:
            assert target.value is None
        else:
            assert target.value == pytest.approx(kpi.target)
        if kpi.unit == "ratio":
            assert "%" in value.number_format and "0.0" in value.number_format
        elif kpi.unit == "usd":
            assert "$" in value.number_format and "#,##0" in value.number_format
        elif kpi.unit == "count":
            assert value.number_format == "#,##0"
        assert status.value == STATUS_WORDS[kpi.status]


def test_status_cells_are_coloured(book):
    ws = book["Summary"]
    _, body = _table(ws, KPI_HEADER)
    fills = {row[5].value: row[5].fill.fgColor.rgb for row in body}
    assert fills == {
        "On track": "FFC6EFCE",
        "Off track": "FFFFC7CE",
        "Watch": "FFFFEB9C",
        "Not rated": "FFE7E6E6",
    }
    result = {row[2].value: row[2].fill.fgColor.rgb for row in _table(book["Quality"])[1]}
    assert result == {"PASS": "FFC6EFCE", "FAIL": "FFFFC7CE"}


def test_header_rows_are_styled_frozen_and_filtered(book):
    header_rows = {name: 1 for name in SHEETS} | {"Summary": KPI_HEADER}
    for name, row in header_rows.items():
        ws = book[name]
        assert ws.freeze_panes == f"A{row + 1}", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{row}:"), name
        header = ws.cell(row=row, column=1)
        assert header.font.b
        assert header.fill.fgColor.rgb == "FF1F3A5F"
        assert header.font.color.rgb == "FFFFFFFF"
        assert 8 <= ws.column_dimensions["A"].width <= 61


def test_section_tables_match_the_source_frames(book):
    for section in sample_report().sections:
        ws = book[section.title]
        headers, body = _table(ws)
        assert headers == [c.label for c in section.columns]
        assert len(body) == section.table.height
        for j, column in enumerate(section.columns):
            source = section.table.get_column(column.name).to_list()
            for cell, expected in zip((row[j] for row in body), source, strict=True):
                if expected is None:
                    assert cell.value is None, (section.key, column.name)
                elif isinstance(expected, float):
                    assert cell.data_type == "n" and cell.value == pytest.approx(expected)
                    if column.unit == "usd":
                        assert "$" in cell.number_format
                    elif column.unit == "ratio":
                        assert cell.number_format == "0.0%"
                elif isinstance(expected, date):
                    assert isinstance(cell.value, datetime) and cell.is_date
                    assert cell.value.date() == expected
                    assert cell.number_format == "yyyy-mm-dd"
                else:
                    assert cell.data_type == "s" and cell.value == expected


def test_none_is_an_empty_cell(book):
    ws = book["Revenue protection"]
    headers, body = _table(ws)
    scale = next(row for row in body if row[0].value == "scale")
    assert scale[headers.index("Payment failure rate")].value is None


def test_hostile_and_formula_like_text_stays_inert(written, book):
    ws = book["Accounts at risk"]
    names = [row[0] for row in _table(ws)[1]]
    by_value = {c.value: c for c in names}
    for text in FORMULA_LIKE:
        cell = by_value[text]
        assert cell.data_type == "s" and cell.data_type != "f"
    assert by_value[HOSTILE_NAME].data_type == "s"
    # The raw file holds no formula at all: every cell with "=" text is a shared string.
    with zipfile.ZipFile(written[0]) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name), name
    # A workbook with formulas evaluated sees the same text.
    values = openpyxl.load_workbook(written[0], data_only=True)["Accounts at risk"]
    assert {values.cell(row=r, column=1).value for r in range(2, 7)} >= {
        HOSTILE_NAME,
        *FORMULA_LIKE,
    }


def test_alerts_and_quality_sheets(book):
    report = sample_report()
    headers, body = _table(book["Alerts"])
    assert headers == ["Rule", "Metric", "Severity", "Value", "Threshold", "Since", "At stake",
                       "Message"]  # fmt: skip
    alert = report.alerts[0]
    row = body[0]
    assert row[0].value == alert.rule
    assert row[3].value == pytest.approx(alert.value) and row[3].number_format == "0.0%"
    assert row[4].value == pytest.approx(alert.threshold)
    assert row[5].is_date and row[5].value.date() == date.fromisoformat(alert.since)
    assert row[6].value == alert.at_stake  # the sample's alert names no stake: a blank cell
    assert row[7].value == alert.message and row[7].data_type == "s"

    headers, body = _table(book["Quality"])
    assert headers == ["Asset", "Check", "Result", "Severity", "Details"]
    assert [r[2].value for r in body] == ["PASS" if c.passed else "FAIL" for c in report.quality]
    assert [r[4].value for r in body] == [c.description for c in report.quality]


def test_readme_lists_every_definition(book):
    report = sample_report()
    ws = book["README"]
    headers, body = _table(ws)
    assert headers == ["Metric", "Unit", "Definition"]
    listed = {row[0].value: row[2].value for row in body}
    for label, _unit, text in report.definitions:
        assert listed[label] == text
    notes = " ".join(c.value for c in ws["A"] if isinstance(c.value, str))
    assert report.data_through in notes
    assert "computed" in notes


def test_properties_are_fixed_from_the_report(written, book):
    path, _ = written
    assert book.properties.title == "Daily Executive Report"
    assert book.properties.created == datetime(2026, 11, 27, 6, 30)
    with zipfile.ZipFile(path) as archive:
        assert b"<Company>Northwind Cloud</Company>" in archive.read("docProps/app.xml")
    again = path.with_name("again.xlsx")
    write_workbook(sample_report(), again)
    assert again.read_bytes() == path.read_bytes()


def test_awkward_sheet_names_and_values(tmp_path):
    frame = pl.DataFrame({
        "hours": [1.5, math.nan, None],
        "flag": [True, False, None],
    })  # fmt: skip
    columns = [Column("hours", "Hours", "hours"), Column("flag", "Flag", "bool")]
    titles = ["Summary", "A/B: tests [draft]?", "x" * 40, "X" * 40, "'quoted'"]
    report = replace(
        sample_report(),
        sections=[Section(f"s{i}", t, "", frame, columns) for i, t in enumerate(titles)],
        alerts=[],
    )
    result = write_workbook(report, tmp_path / "odd.xlsx")
    names = result["sheets"][1:-3]
    assert len({n.lower() for n in result["sheets"]}) == len(result["sheets"])
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names)
    assert names[0] == "Summary (2)"
    wb = openpyxl.load_workbook(tmp_path / "odd.xlsx")
    ws = wb[names[1]]
    assert ws["A2"].value == 1.5 and ws["A2"].number_format == "0.0"
    assert ws["A3"].value is None and ws["A4"].value is None
    assert ws["B2"].value is True and ws["B3"].value is False
    assert wb["Alerts"].max_row >= 1 and result["rows"]["Alerts"] == 0


@pytest.mark.skipif(
    shutil.which("soffice") is None,
    reason="LibreOffice (soffice) is not installed, so the PDF conversion check cannot run",
)
def test_libreoffice_opens_and_converts(written, tmp_path):
    path, _ = written
    completed = subprocess.run(
        ["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
        capture_output=True,
        timeout=180,
        check=False,
    )
    pdf = tmp_path / "report.pdf"
    assert completed.returncode == 0, completed.stderr
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")


def test_a_total_row_sits_below_the_filter_range(book):
    """Filtering or sorting a table never moves or hides its total row; other tables filter
    every row."""
    ws = book["Revenue protection"]
    last = ws.max_row
    assert str(ws.cell(row=last, column=1).value).lower() == "total"
    assert ws.auto_filter.ref.endswith(str(last - 1)), ws.auto_filter.ref
    accounts = book["Accounts at risk"]
    assert accounts.auto_filter.ref.endswith(str(accounts.max_row)), accounts.auto_filter.ref
