"""The executive email: an HTML body with inline charts, a plain-text twin, and the MIME message.

Plain functions, no Dagster. Every number is written by `formatting.format_value` /
`format_delta`, so the email reads the same as the PDF and the workbook.

`build_message` returns the *body* of the email only::

    multipart/related
    ├── multipart/alternative
    │   ├── text/plain   (render_email_text)
    │   └── text/html    (render_email_html, CSS inlined)
    └── image/png …      (inline charts, Content-ID matching the `cid:` URLs in the HTML)

The distribution step adds the PDF and XLSX attachments (wrapping this in multipart/mixed) and
the Message-ID / List-Unsubscribe headers; nothing here sets them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from functools import cache
from pathlib import Path

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from reporting_assets.lib.formatting import format_delta, format_value
from reporting_assets.reports.model import STATUS_WORDS, Kpi, ReportData

__all__ = [
    "MAX_INLINE_CHARTS",
    "build_message",
    "chart_cid",
    "render_email_html",
    "render_email_text",
]

TEMPLATES = Path(__file__).parent / "templates"
MAX_INLINE_CHARTS = 2
CID_DOMAIN = "reports.local"

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_DEFAULT_PRIMARY = "#1F3A5F"

# Status pill: (label, text colour, background).
_STATUS = {
    "green": (STATUS_WORDS["green"], "#1B6E2E", "#E2F3E6"),
    "amber": (STATUS_WORDS["amber"], "#7A4F00", "#FFF0D1"),
    "red": (STATUS_WORDS["red"], "#A8201A", "#FCE3E0"),
    "grey": (STATUS_WORDS["grey"], "#4B5563", "#ECEEF1"),
}
# Alert severity badge: (text colour, background).
_SEVERITY = {
    "critical": ("#FFFFFF", "#B42318"),
    "error": ("#FFFFFF", "#B42318"),
    "warning": ("#5C3B00", "#FDD88A"),
    "warn": ("#5C3B00", "#FDD88A"),
}
_SEVERITY_DEFAULT = ("#374151", "#E5E7EB")
_GOOD, _BAD, _NEUTRAL = "#1B6E2E", "#B42318", "#6B7280"
_PREVIOUS = {
    "daily": "previous day",
    "weekly": "previous week",
    "monthly": "previous month",
    "quarterly": "previous quarter",
    "yearly": "previous year",
    "annual": "previous year",
}


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # email.html.j2 is escaped; email.txt.j2 is plain text and must not be.
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "html.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class _KpiView:
    label: str
    value: str
    change: str  # "−$255 vs previous day", or "No comparison"
    arrow: str  # "▲", "▼" or ""
    change_color: str
    change_word: str  # "better" / "worse" / "" (the text part has no colours)
    target: str  # "" when there is no target
    status_label: str
    status_color: str
    status_bg: str
    note: str = ""  # why it is not rated, and the days missing from the period


def _kpi_view(kpi: Kpi, cadence: str) -> _KpiView:
    delta = kpi.delta
    previous = _PREVIOUS.get(cadence.lower(), "previous period")
    arrow, color, word = "", _NEUTRAL, ""
    if delta is None:
        change = f"No comparison with the {previous}"
    else:
        change = f"{format_delta(delta, kpi.unit)} vs {previous}"
        if delta:
            arrow = "▲" if delta > 0 else "▼"
            if kpi.direction != "neutral":
                good = (delta > 0) == (kpi.direction == "higher_is_better")
                color, word = (_GOOD, "better") if good else (_BAD, "worse")
    label, fg, bg = _STATUS.get(kpi.status, _STATUS["grey"])
    return _KpiView(
        label=kpi.label,
        value=format_value(kpi.value, kpi.unit),
        change=change,
        arrow=arrow,
        change_color=color,
        change_word=word,
        target=format_value(kpi.target, kpi.unit) if kpi.target is not None else "",
        status_label=label,
        status_color=fg,
        status_bg=bg,
        note="; ".join(
            x for x in (kpi.status_reason[:1].upper() + kpi.status_reason[1:], kpi.gap) if x
        ),
    )


def _text_on(hex_color: str) -> str:
    """White or near-black, whichever reads better on `hex_color`."""
    h = hex_color.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    return "#FFFFFF" if (1.05 / (lum + 0.05)) >= ((lum + 0.05) / 0.05) else "#111827"


def _safe_url(url: str) -> str:
    """Only http(s) links make a button; anything else (javascript:, blanks) is dropped."""
    url = (url or "").strip()
    return url if re.match(r"^https?://[^\s<>\"']+$", url) else ""


def _cid_atom(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "x"


def chart_cid(report: ReportData, name: str) -> str:
    """The Content-ID (without angle brackets) of chart `name` in this report's email.

    Deterministic, so re-rendering the same report gives the same message:
    ``chart-<name>.<period>.<report>@reports.local``.
    """
    parts = (f"chart-{_cid_atom(name)}", _cid_atom(report.period_key), _cid_atom(report.report_key))
    return f"{'.'.join(parts)}@{CID_DOMAIN}"


def _chart_title(report: ReportData, name: str) -> str:
    """Alt text for a chart. It goes in an attribute, where css_inline writes `<` back unescaped
    (valid HTML, but no reason to carry markup-looking text there), so angle brackets go."""
    pretty = name.replace("_", " ").replace("-", " ").strip().capitalize() or "Chart"
    if name in report.chart_titles:
        return re.sub(r"[<>]", "", report.chart_titles[name])
    title = pretty
    for section in report.sections:
        if name in section.charts:
            title = f"{section.title}: {pretty.lower()}"
            break
    return re.sub(r"[<>]", "", title)


def _context(report: ReportData) -> dict:
    primary = report.branding.primary_color
    primary = primary if _HEX_COLOR.match(primary or "") else _DEFAULT_PRIMARY
    alerts = []
    for alert in report.alerts:
        fg, bg = _SEVERITY.get(alert.severity.lower(), _SEVERITY_DEFAULT)
        alerts.append({
            "severity": alert.severity.upper(),
            "message": alert.message,
            "since": alert.since or "",
            "color": fg,
            "bg": bg,
        })  # fmt: skip
    return {
        "report": report,
        "company": report.branding.company_name,
        "primary": primary,
        "on_primary": _text_on(primary),
        "kpis": [_kpi_view(k, report.cadence) for k in report.kpis],
        "alerts": alerts,
        "summary": report.summary,
        "takeaways": report.decisions.takeaways,
        "asks": report.decisions.asks,
        "no_asks": report.decisions.no_asks,
        "url": _safe_url(report.report_url),
    }


def render_email_html(report: ReportData, chart_cids: dict[str, str]) -> str:
    """The HTML body, CSS inlined into style attributes (the phone @media block stays in <head>).

    `chart_cids` maps chart name → Content-ID (with or without <>); the first
    `MAX_INLINE_CHARTS` of them are shown as ``<img src="cid:…">``.
    """
    charts = [
        {"cid": cid.strip().strip("<>"), "alt": _chart_title(report, name)}
        for name, cid in list(chart_cids.items())[:MAX_INLINE_CHARTS]
    ]
    html = _env().get_template("email.html.j2").render(**_context(report), charts=charts)
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return inliner.inline(html)


def render_email_text(report: ReportData) -> str:
    """The plain-text alternative: the same content as the HTML, no markup."""
    return _env().get_template("email.txt.j2").render(**_context(report))


def build_message(
    report: ReportData,
    charts: dict[str, bytes],
    *,
    sender: str,
    to: list[str],
    cc: list[str],
    subject: str | None = None,
) -> EmailMessage:
    """The email body as `multipart/related`: text + HTML alternatives, then the inline charts.

    `charts` maps chart name → PNG bytes; the first `MAX_INLINE_CHARTS` are embedded (the rest
    live in the PDF). Content-IDs come from `chart_cid`, so every `cid:` in the HTML has its part
    and every image part is referenced.

    Not done here, on purpose: the PDF/XLSX attachments and the Message-ID / List-Unsubscribe
    headers — the distribution step adds them (wrapping this message in multipart/mixed).
    """
    inline = list(charts.items())[:MAX_INLINE_CHARTS]
    cids = {name: chart_cid(report, name) for name, _ in inline}

    msg = EmailMessage()
    msg["MIME-Version"] = "1.0"
    msg["Subject"] = subject or f"{report.title} — {report.period_label}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)

    body = MIMEPart()
    body.set_content(render_email_text(report), subtype="plain", cte="quoted-printable")
    body.add_alternative(render_email_html(report, cids), subtype="html", cte="quoted-printable")

    msg.make_related()  # empty multipart/related; the alternative goes first, then the images
    msg.attach(body)
    for name, png in inline:
        image = MIMEPart()  # MIMEPart, not EmailMessage: no MIME-Version header on sub-parts
        image.set_content(
            png,
            maintype="image",
            subtype="png",
            cid=f"<{cids[name]}>",
            filename=f"{_cid_atom(name)}.png",
            disposition="inline",
        )
        msg.attach(image)
    return msg
