"""The slide deck, read back with python-pptx and converted by LibreOffice: right slides for each
audience, the same numbers as every other format, notes on every slide, nothing off the page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from PIL import Image, ImageDraw
from pptx import Presentation
from pptx.util import Emu

from reporting_assets.lib.formatting import format_delta, format_value
from reporting_assets.reports.deck import AUDIENCE_SECTIONS, STATUS_COLOURS, write_deck
from reporting_assets.reports.deck.plan import DECISIONS_TITLE
from reporting_assets_tests.reports.sample import FORMULA_NAME, HOSTILE_NAME, sample_report

WIDTH, HEIGHT = Emu(12192000), Emu(6858000)  # 13.333 in × 7.5 in
INITIATIVES = [
    {
        "name": "Dunning email revamp",
        "owner": "Finance ops",
        "status": "On track",
        "pct_complete": 0.6,
    },
    {"name": "Reserved instances", "owner": "Platform", "status": "At risk", "pct_complete": 0.35},
]
RECOMMENDATIONS = [
    "Retry failed card payments within 24 hours and tell the account owner the same day.",
    "Review the cloud spend anomaly before month end.",
]
CHART_TITLE = "MRR over the last 28 days"
# The slide titles each audience should get from sample_report() and the two charts.
# Slide 2 of every deck is the decision block (the sample report has one).
EXPECTED_TITLES = {
    "board": [
        "Daily Executive Report",
        DECISIONS_TITLE,
        "Agenda",
        "Key metrics",
        CHART_TITLE,
        "Budget bars",
        "Alerts and risks",
        "Initiatives",
        "Recommendations",
    ],
    "c_suite": [
        "Daily Executive Report",
        DECISIONS_TITLE,
        "Agenda",
        "Key metrics",
        CHART_TITLE,
        "Budget bars",
        "Alerts and risks",
        "Recommendations",
    ],
    "vp_operations": [
        "Daily Executive Report",
        DECISIONS_TITLE,
        "Agenda",
        "Key metrics",
        "Revenue protection",
        "Accounts at risk",
        "Alerts and risks",
        "Initiatives",
    ],
    "strategy": [
        "Daily Executive Report",
        DECISIONS_TITLE,
        "Agenda",
        "Key metrics",
        CHART_TITLE,
        "Budget bars",
        "Initiatives",
        "Recommendations",
        "Appendix: data quality",
    ],
}
AUDIENCES = list(EXPECTED_TITLES)


def _report(rows: int = 6):
    return replace(sample_report(rows), chart_titles={"mrr_trend": CHART_TITLE})


@pytest.fixture(scope="module")
def charts(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("charts")
    made = {}
    shapes = (("mrr_trend", (900, 380), "#2E86AB"), ("budget_bars", (600, 600), "#C62828"))
    for name, size, colour in shapes:
        image = Image.new("RGB", size, "white")
        draw = ImageDraw.Draw(image)
        draw.rectangle([10, 10, size[0] - 10, size[1] - 10], outline=colour, width=4)
        draw.line([10, size[1] - 10, size[0] - 10, 10], fill=colour, width=4)
        made[name] = folder / f"{name}.png"
        image.save(made[name])
    return made


@pytest.fixture(scope="module")
def decks(tmp_path_factory, charts) -> dict[str, tuple[Path, dict]]:
    folder = tmp_path_factory.mktemp("decks")
    report = _report()
    written = {}
    for audience in AUDIENCES:
        path = folder / f"{audience}.pptx"
        result = write_deck(
            report,
            audience,
            charts,
            path,
            initiatives=INITIATIVES,
            recommendations=RECOMMENDATIONS,
        )
        written[audience] = (path, result)
    return written


def _texts(slide) -> list[str]:
    """Every piece of text on a slide: text boxes by paragraph, tables by cell."""
    texts = []
    for shape in slide.shapes:
        if shape.has_text_frame:
            texts += [p.text for p in shape.text_frame.paragraphs if p.text]
        if shape.has_table:
            texts += [cell.text for row in shape.table.rows for cell in row.cells]
    return texts


def _table(slide):
    tables = [s.table for s in slide.shapes if s.has_table]
    assert len(tables) == 1, "expected one table on the slide"
    return tables[0]


def _rows(table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def _slide(path: Path, title: str):
    for slide in Presentation(path).slides:
        if title in _texts(slide):
            return slide
    raise AssertionError(f"no slide titled {title!r} in {path.name}")


def _notes(slide) -> str:
    return slide.notes_slide.notes_text_frame.text


def test_slides_are_16_by_9(decks):
    for path, _ in decks.values():
        prs = Presentation(path)
        assert (prs.slide_width, prs.slide_height) == (WIDTH, HEIGHT)
        assert abs(prs.slide_width / prs.slide_height - 16 / 9) < 0.001


@pytest.mark.parametrize("audience", AUDIENCES)
def test_each_audience_gets_its_slides_in_order(decks, audience):
    path, result = decks[audience]
    slides = list(Presentation(path).slides)
    expected = EXPECTED_TITLES[audience]
    assert result == {"slides": len(expected), "audience": audience}
    assert len(slides) == len(expected)
    for slide, title in zip(slides, expected, strict=True):
        assert title in _texts(slide)


def test_every_audience_in_config_has_a_slide_list():
    assert set(AUDIENCES) <= set(AUDIENCE_SECTIONS)
    assert {"executive", "board", "c_suite", "vp_operations", "strategy"} <= set(AUDIENCE_SECTIONS)


def test_agenda_lists_the_slides_that_follow(decks):
    path, _ = decks["board"]
    agenda = " ".join(_texts(_slide(path, "Agenda")))
    for title in EXPECTED_TITLES["board"][2:]:
        assert title in agenda


def test_kpi_slide_shows_formatted_numbers_and_status_colours(decks):
    path, _ = decks["board"]
    table = _table(_slide(path, "Key metrics"))
    rows = _rows(table)
    assert rows[0] == ["Metric", "Value", "Change", "Target", "Status"]
    by_label = {row[0]: (r, row) for r, row in enumerate(rows[1:], start=1)}
    for kpi in _report().kpis:
        r, row = by_label[kpi.label]
        assert row[1] == format_value(kpi.value, kpi.unit)
        assert row[2] == format_delta(kpi.delta, kpi.unit)
        assert row[3] == format_value(kpi.target, kpi.unit)
        fill = table.cell(r, 4).fill.fore_color.rgb
        assert str(fill) == STATUS_COLOURS[kpi.status][0]
        red, green, blue = fill
        if kpi.status == "green":
            assert green > red and green > blue
        elif kpi.status == "red":
            assert red > green and red > blue
        elif kpi.status == "amber":
            assert red > blue and green > blue
        else:
            assert red == green == blue
        # The status word is readable: dark text on light fills, white on dark ones.
        text = table.cell(r, 4).text_frame.paragraphs[0].runs[0].font.color.rgb
        assert abs(sum(fill) - sum(text)) > 300


def test_every_slide_has_speaker_notes_with_the_narrative(decks):
    report = _report()
    for path, _ in decks.values():
        slides = list(Presentation(path).slides)
        for slide in slides:
            assert _notes(slide).strip()
        for sentence in report.summary:
            assert sentence in _notes(slides[0])
            assert sentence in _notes(_slide(path, "Key metrics"))
    board = decks["board"][0]
    assert "This chart shows" in _notes(_slide(board, CHART_TITLE))
    for alert in report.alerts:
        assert alert.message in _notes(_slide(board, "Alerts and risks"))
        assert any(alert.message in t for t in _texts(_slide(board, "Alerts and risks")))


def test_every_shape_lies_inside_the_slide(decks):
    for path, _ in decks.values():
        for number, slide in enumerate(Presentation(path).slides, start=1):
            for shape in slide.shapes:
                where = f"{path.name} slide {number} {shape.name}"
                assert shape.left >= 0 and shape.top >= 0, where
                assert shape.left + shape.width <= WIDTH, where
                assert shape.top + shape.height <= HEIGHT, where


def test_chart_slides_keep_the_picture_aspect_ratio(decks, charts):
    path, _ = decks["board"]
    for name, title in (("mrr_trend", CHART_TITLE), ("budget_bars", "Budget bars")):
        pictures = [s for s in _slide(path, title).shapes if s.shape_type == 13]
        assert len(pictures) == 1
        with Image.open(charts[name]) as image:
            ratio = image.width / image.height
        assert pictures[0].width / pictures[0].height == pytest.approx(ratio, rel=0.01)


def test_hostile_names_are_plain_text_on_the_detail_slide(decks):
    path, _ = decks["vp_operations"]
    slide = _slide(path, "Accounts at risk")
    cells = [row[0] for row in _rows(_table(slide))]
    assert HOSTILE_NAME in cells
    assert FORMULA_NAME in cells
    with zipfile.ZipFile(path) as archive:
        xml = "".join(
            archive.read(n).decode("utf-8")
            for n in archive.namelist()
            if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)
        )
    assert "<script>" not in xml
    assert "&lt;script&gt;" in xml


def test_detail_tables_are_formatted_and_truncated_with_a_note(charts, tmp_path):
    report = _report(rows=20)  # 25 accounts: 12 shown
    path = tmp_path / "ops.pptx"
    write_deck(report, "vp_operations", charts, path)
    slide = _slide(path, "Accounts at risk")
    rows = _rows(_table(slide))
    assert rows[0] == ["Account", "MRR", "Since"]
    assert len(rows) == 1 + 12
    assert rows[1][1:] == ["$1,200", "2026-01-01"]
    assert "13 more rows in the workbook." in _texts(slide)
    revenue = _rows(_table(_slide(path, "Revenue protection")))
    assert revenue[1] == ["starter", "$150,000", "−$1,200", "$148,800", "50.0%"]
    assert revenue[3][4] == "–"  # a missing value


def test_long_text_is_cut_on_the_slide_and_kept_in_the_notes(charts, tmp_path):
    report = _report()
    long_name = "Very Long Account Name Holdings " * 12
    accounts = report.sections[1].table
    names = [long_name, *accounts["account"].to_list()[1:]]
    table = accounts.with_columns(pl.Series("account", names))
    sections = [report.sections[0], replace(report.sections[1], table=table)]
    path = tmp_path / "long.pptx"
    write_deck(replace(report, sections=sections), "vp_operations", charts, path)
    slide = _slide(path, "Accounts at risk")
    first = _rows(_table(slide))[1][0]
    assert first.endswith("…") and len(first) < len(long_name.strip())
    assert " ".join(long_name.split()) in _notes(slide)


def test_missing_initiatives_and_recommendations_say_so(charts, tmp_path):
    path = tmp_path / "board.pptx"
    write_deck(_report(), "board", charts, path)
    assert "No initiatives reported for this period." in _texts(_slide(path, "Initiatives"))
    recommendations = _texts(_slide(path, "Recommendations"))
    assert "No recommendations were generated for this period." in recommendations


def test_initiatives_and_recommendations_are_shown(decks):
    path, _ = decks["board"]
    rows = _rows(_table(_slide(path, "Initiatives")))
    assert rows[0] == ["Name", "Owner", "Status", "% complete"]
    assert rows[1] == ["Dunning email revamp", "Finance ops", "On track", "60.0%"]
    texts = " ".join(_texts(_slide(path, "Recommendations")))
    for recommendation in RECOMMENDATIONS:
        assert recommendation in texts


def test_appendix_summarises_quality_checks(decks):
    path, _ = decks["strategy"]
    slide = _slide(path, "Appendix: data quality")
    assert (
        "1 of 2 data quality checks passed; 1 raised a warning (see the workbook's Quality "
        "sheet)." in _texts(slide)
    )
    assert "cost_optimization_daily / consistent_with_history" in _notes(slide)
    assert _rows(_table(slide))[1][:2] == ["Warned", "cost_optimization_daily"]


def test_explicit_sections_override_the_audience(charts, tmp_path):
    path = tmp_path / "custom.pptx"
    sections = ["summary", "accounts", "quality", "no_such_section", "summary"]
    result = write_deck(_report(), "c_suite", charts, path, sections=sections)
    slides = list(Presentation(path).slides)
    expected = [
        "Daily Executive Report",
        DECISIONS_TITLE,
        "Agenda",
        "Key metrics",
        "Accounts at risk",
        "Appendix: data quality",
    ]
    assert result == {"slides": len(expected), "audience": "c_suite"}
    for slide, title in zip(slides, expected, strict=True):
        assert title in _texts(slide)


def test_unknown_audience_is_an_error(charts, tmp_path):
    with pytest.raises(ValueError, match="unknown audience"):
        write_deck(_report(), "shareholders", charts, tmp_path / "x.pptx")


def _require_tools() -> None:
    """Skip when LibreOffice or poppler is missing, unless REPORTING_REQUIRE_SOFFICE=1."""
    missing = [tool for tool in ("soffice", "pdfinfo") if shutil.which(tool) is None]
    if not missing:
        return
    message = f"{' and '.join(missing)} not installed, so the PDF conversion check cannot run"
    if os.environ.get("REPORTING_REQUIRE_SOFFICE") == "1":
        pytest.fail(f"{message} (REPORTING_REQUIRE_SOFFICE=1)")
    pytest.skip(message)


def test_libreoffice_converts_each_slide_to_a_page(decks, tmp_path):
    _require_tools()
    paths = [decks[a][0] for a in ("board", "vp_operations")]
    profile = (tmp_path / "lo-profile").as_uri()
    completed = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for path in paths:
        pdf = tmp_path / f"{path.stem}.pdf"
        assert pdf.exists(), completed.stdout + completed.stderr
        info = subprocess.run(
            ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
        assert pages == len(Presentation(path).slides)
        _assert_no_text_overflows(path, pdf)


WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                  r"([^<]*)</word>")  # fmt: skip


def _assert_no_text_overflows(deck: Path, pdf: Path) -> None:
    """Measured in LibreOffice's rendering, not with the deck code's own text metrics: every
    word drawn on a slide lies inside the box of a text shape or table of that slide (a text
    that overflowed its box would be drawn outside it, over other content or off the slide)."""
    prs = Presentation(deck)
    to_pt = 72 / 914_400  # EMU to points
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout  # fmt: skip
    pages = html.split("<page ")[1:]
    slack = 2.0  # points: glyph bounds vs the box edge
    outside = []
    for n, (slide, page) in enumerate(zip(prs.slides, pages, strict=True), start=1):
        boxes = [(s.left * to_pt, s.top * to_pt, (s.left + s.width) * to_pt,
                  (s.top + s.height) * to_pt)
                 for s in slide.shapes if s.has_text_frame or s.has_table]  # fmt: skip
        for x0, y0, x1, y1, word in WORD.findall(page):
            x0, y0, x1, y1 = map(float, (x0, y0, x1, y1))
            if not any(bx0 - slack <= x0 and x1 <= bx1 + slack and by0 - slack <= y0
                       and y1 <= by1 + slack for bx0, by0, bx1, by1 in boxes):  # fmt: skip
                outside.append(f"slide {n}: {word!r} at ({x0:.0f}, {y0:.0f})–({x1:.0f}, {y1:.0f})")
    assert not outside, f"{deck.name}: text outside its box:\n" + "\n".join(outside[:20])


def test_slide_two_is_the_decision_block_with_owner_date_and_stake(decks):
    report = _report()
    ask = report.decisions.asks[0]
    for audience, (path, _) in decks.items():
        slide = list(Presentation(path).slides)[1]
        text = " ".join(" ".join(_texts(slide)).split())
        assert DECISIONS_TITLE in text, audience
        for part in (*report.decisions.takeaways, ask.what, ask.owner, "by Mon 30 Nov",
                     "$8,140 in failed payments"):  # fmt: skip
            assert part in text, (audience, part)
        assert f"Why: {ask.why}" in _notes(slide)


def test_the_overflow_check_catches_text_that_spills_out_of_its_box(tmp_path):
    """The measurement above, on a slide made to overflow: a long paragraph in a box one line
    high is drawn below the box by LibreOffice, and the check says so."""
    _require_tools()
    from pptx.enum.text import MSO_AUTO_SIZE
    from pptx.util import Inches, Pt

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(3), Inches(0.4))
    box.text_frame.word_wrap = True
    box.text_frame.auto_size = MSO_AUTO_SIZE.NONE
    box.text_frame.text = "A sentence far too long for one line of this narrow box " * 4
    box.text_frame.paragraphs[0].runs[0].font.size = Pt(18)
    deck = tmp_path / "overflow.pptx"
    prs.save(deck)
    subprocess.run(["soffice", f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}",
                    "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(deck)],
                   capture_output=True, timeout=240, check=True)  # fmt: skip
    with pytest.raises(AssertionError, match="text outside its box"):
        _assert_no_text_overflows(deck, tmp_path / "overflow.pdf")
