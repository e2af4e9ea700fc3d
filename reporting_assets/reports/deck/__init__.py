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

from pathlib import Path

from reporting_assets.reports.deck.plan import AUDIENCE_SECTIONS, _plan
from reporting_assets.reports.deck.slides import _Builder
from reporting_assets.reports.deck.style import STATUS_COLOURS, _clean, _template
from reporting_assets.reports.model import ReportData

__all__ = ["AUDIENCE_SECTIONS", "STATUS_COLOURS", "write_deck"]


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
