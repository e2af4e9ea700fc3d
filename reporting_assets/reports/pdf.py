"""PDF reports: Jinja2 HTML/CSS templates laid out for print by WeasyPrint."""

from __future__ import annotations

from pathlib import Path

from reporting_assets.config import resolve
from reporting_assets.lib.formatting import (
    NUMERIC,
    cell_text,
    format_delta,
    format_value,
    unit_words,
)
from reporting_assets.lib.templating import templates
from reporting_assets.reports.model import STATUS_WORDS, Kpi, ReportData
from reporting_assets.reports.quality import check_words, count_checks, quality_sentence

TEMPLATES = Path(__file__).parent / "templates"
_env = templates(TEMPLATES)


def _delta_class(k: Kpi) -> str:
    if k.delta is None or k.delta == 0 or k.direction == "neutral":
        return "flat"
    better = k.delta > 0 if k.direction == "higher_is_better" else k.delta < 0
    return "good" if better else "bad"


def render_html(report: ReportData, charts: dict[str, str]) -> str:
    """The report as print HTML; `charts` maps chart names to image URLs (file:// or data:)."""
    logo = None
    if report.branding.logo_path:
        path = resolve(report.branding.logo_path)
        logo = path.resolve().as_uri() if path.exists() else None
    quality = count_checks(report.quality)
    return _env.get_template("report.html.j2").render(
        r=report,
        logo=logo, charts=charts, css=(TEMPLATES / "report.css").read_text(), fmt=format_value,
        fmt_delta=format_delta, cell=cell_text, delta_class=_delta_class, numeric=NUMERIC,
        words=STATUS_WORDS, quality=quality, quality_sentence=quality_sentence(quality),
        quality_intro=quality_sentence(quality, where=None),
        check_words=check_words, unit_words=unit_words,
    )  # fmt: skip


def render_pdf(report: ReportData, charts: dict[str, Path], path: Path) -> dict:
    """Write the report to `path`; return its page count."""
    from weasyprint import HTML

    html = render_html(report, {name: p.resolve().as_uri() for name, p in charts.items()})
    document = HTML(string=html, base_url=str(TEMPLATES)).render()
    path.parent.mkdir(parents=True, exist_ok=True)
    document.write_pdf(path)
    return {"pages": len(document.pages)}
