"""The deck's slides, one method per kind, each returning its speaker notes."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from pptx.enum.text import PP_ALIGN
from pptx.util import Emu, Inches

from reporting_assets.lib.formatting import format_delta, format_value, plural
from reporting_assets.reports.deck.canvas import _Canvas
from reporting_assets.reports.deck.plan import (
    _Slide,
)
from reporting_assets.reports.deck.style import (
    _INK,
    _MUTED,
    _SEVERITY_COLOURS,
    _WORD_STATUS,
    BULLET_PT,
    CONTENT_BOTTOM,
    CONTENT_TOP,
    CONTENT_WIDTH,
    KPI_TABLE_PT,
    MARGIN,
    MAX_KPI_ROWS,
    MAX_TABLE_ROWS,
    NOTE_PT,
    SLIDE_WIDTH,
    TABLE_PT,
    _Cell,
    _clean,
    _fit,
    _initiative_cell,
    _label,
    _rect,
    _section_cell,
)
from reporting_assets.reports.model import STATUS_WORDS
from reporting_assets.reports.quality import count_checks, is_warning, quality_sentence


class _Builder(_Canvas):
    """Adds one slide at a time with the deck's shared colours, footer and notes."""

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
        first = next(i for i, s in enumerate(self.plan) if s.kind == "agenda") + 1
        after = self.plan[first:]
        items = [f"{n}.  {s.title}" for n, s in enumerate(after, start=first + 1)]
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
        return "Agenda:\n" + "\n".join(f"- {s.title}" for s in after)

    def decisions_slide(self, slide, planned: _Slide) -> str:
        d = self.report.decisions
        gap = Inches(0.5)
        half = Emu(int((CONTENT_WIDTH - gap) / 2))
        right = MARGIN + half + gap
        body_top = CONTENT_TOP + Inches(0.6)
        for left, heading in ((MARGIN, "What changed"), (right, "What we ask")):
            self._text(slide, left, CONTENT_TOP, half, Inches(0.45), heading, 20, self.primary,
                       True)  # fmt: skip
        self._bullets(slide, MARGIN, body_top, half, d.takeaways,
                      colours=[self.accent] * len(d.takeaways), max_lines=4, size=16)  # fmt: skip
        asks = [
            f"{a.what}. {a.owner}, by {a.by_words}"
            + (f"; {a.stake_text}." if a.at_stake is not None else ".")
            for a in d.asks
        ]
        red = _SEVERITY_COLOURS["red"]
        self._bullets(slide, right, body_top, half, asks or [d.no_asks],
                      colours=[red] * max(len(asks), 1), max_lines=4, size=16)  # fmt: skip
        lines = ["What changed:", *(f"- {t}" for t in d.takeaways), "", "What we ask:"]
        lines += [f"- {text} Why: {a.why}" for text, a in zip(asks, d.asks, strict=True)]
        return "\n".join(lines if asks else [*lines, f"- {d.no_asks}"])

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
        takeaway = self.report.chart_takeaways.get(planned.key, "")
        caption = takeaway or (section.intro if section and section.intro else "")
        box_top = CONTENT_TOP
        box_bottom = CONTENT_BOTTOM - (Inches(0.75) if caption else 0)
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
                box_bottom + Inches(0.08),
                CONTENT_WIDTH,
                Inches(0.65),
                caption,
                NOTE_PT + 2,
                _MUTED,
                align=PP_ALIGN.CENTER,
                lines=2,
            )
        title = planned.title.rstrip(".")
        if title[1:2].islower():  # "MRR trend" keeps its capitals, "Spend by day" does not
            title = title[:1].lower() + title[1:]
        lines = [takeaway] if takeaway else [f"This chart shows {title}."]
        if section and not takeaway:
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
            max_lines=3,
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
        lead = section.takeaway or section.intro  # what it shows, else what it is
        if lead:
            self._text(slide, MARGIN, top, CONTENT_WIDTH, Inches(0.7), lead, 16 if
                       section.takeaway else 14, _INK if section.takeaway else _MUTED,
                       section.takeaway != "", lines=2)  # fmt: skip
            top += Inches(0.75)
        columns = [c for c in section.columns if not section.brief or c.name in section.brief]
        # A table by date or month shows its latest rows; any other its first.
        by_time = bool(columns) and columns[0].unit in ("date", "month")
        head = frame.tail(MAX_TABLE_ROWS) if by_time else frame.head(MAX_TABLE_ROWS)
        rows = [
            [_section_cell(c, record[c.name], record[c.unit_from] if c.unit_from else None)
             for c in columns]
            for record in head.iter_rows(named=True)
        ]  # fmt: skip
        headers = [c.label for c in columns]
        if not columns:
            self._text(slide, MARGIN, top, CONTENT_WIDTH, Inches(0.5), "This section has no table.")
        elif not rows:
            self._text(slide, MARGIN, top, CONTENT_WIDTH, Inches(0.5), "No rows for this period.")
        else:
            numeric = [c.unit not in ("text", "date", "bool", "name", "month") for c in columns]
            bottom = self._table(slide, top, headers, rows, None, TABLE_PT, numeric=numeric)
            if frame.height > MAX_TABLE_ROWS:
                more = plural(frame.height - MAX_TABLE_ROWS, "earlier row" if by_time else
                              "more row")  # fmt: skip
                self._note(slide, bottom, f"{more} in the workbook.")
        lines = [*([section.takeaway] if section.takeaway else []),
                 f"{section.title}: {section.intro}".strip()]  # fmt: skip
        shown = min(frame.height, MAX_TABLE_ROWS)
        lines.append(f"Showing {shown} of {frame.height} rows; the workbook has them all.")
        return "\n".join(lines)

    def appendix_slide(self, slide, planned: _Slide) -> str:
        checks = self.report.quality
        q = count_checks(checks)
        summary = quality_sentence(q, where="the workbook's Quality sheet")
        self._text(slide, MARGIN, CONTENT_TOP, CONTENT_WIDTH, Inches(0.5), summary)
        problems = [(c, "Warned", "amber") if is_warning(c.severity) else (c, "Failed", "red")
                    for c in q.exceptions]  # fmt: skip
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
