"""The shared pieces every slide draws with: title bar, footer, notes line, text boxes, bullet
lists and tables, each fitted to its box."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pptx.dml.color import RGBColor
from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
from pptx.presentation import Presentation as PresentationPart
from pptx.util import Emu, Inches, Pt

from reporting_assets.reports.deck.plan import (
    _Slide,
)
from reporting_assets.reports.deck.style import (
    _BAND,
    _CELL_MARGIN_X,
    _DEFAULT_ACCENT,
    _DEFAULT_PRIMARY,
    _FILL,
    _INK,
    _LINE,
    _MUTED,
    _RULE,
    _WHITE,
    BULLET_PT,
    CONTENT_BOTTOM,
    CONTENT_WIDTH,
    FOOTER_HEIGHT,
    FOOTER_PT,
    FOOTER_TOP,
    MARGIN,
    NOTE_PT,
    SLIDE_WIDTH,
    STATUS_COLOURS,
    TITLE_BAR_HEIGHT,
    TITLE_PT,
    _as_rgb,
    _blank_layout,
    _bullet,
    _Cell,
    _clean,
    _column_widths,
    _fit,
    _hex,
    _readable_on,
    _rect,
    _text_width,
)
from reporting_assets.reports.model import ReportData


class _Canvas:
    """A deck being built: its colours, layout and the shared pieces every slide draws with
    (title bar, footer, text boxes, bullet lists, tables)."""

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
