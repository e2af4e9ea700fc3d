"""The deck's look: slide geometry, colours, the 16:9 template, and the text measuring, fitting
and drawing helpers every slide uses."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from PIL import ImageFont
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import MSO_SHAPE
from pptx.oxml.ns import qn
from pptx.presentation import Presentation as PresentationPart
from pptx.slide import SlideLayout
from pptx.util import Emu, Inches, Pt

from reporting_assets.lib.formatting import display_name, format_value, month_name
from reporting_assets.reports.model import WORD_STATUS, Column

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
_WORD_STATUS = WORD_STATUS  # the reports' one map of status words
# Bullet colours for alert severities (text on white, so darker than the status fills).
_SEVERITY_COLOURS = {"red": "C00000", "amber": "9C5700", "grey": "595959", "green": "1E7B34"}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_HEX = re.compile(r"#?([0-9A-Fa-f]{6})")


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


def _section_cell(column: Column, value: Any, unit: str | None = None) -> _Cell:
    """A section table value as a cell (in `unit` when its row says, else its column's); a
    `status`/`rag`/`result` column gets its colour."""
    text = _section_text(value, unit or column.unit)
    status = None
    if isinstance(value, str) and column.name.lower() in ("status", "rag", "result"):
        status = _WORD_STATUS.get(value.strip().lower())
    return _Cell(text, right=_number(value) is not None, status=status)


def _section_text(value: Any, unit: str) -> str:
    """A table value as text, numbers through `format_value` so they match the other formats."""
    if value is None:
        return "–"
    if unit == "name" and isinstance(value, str):
        return display_name(value)
    if unit == "month" and isinstance(value, date):
        return month_name(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    number = _number(value)
    if number is not None:
        if unit in ("text", "date", "bool", "name", "month"):
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
