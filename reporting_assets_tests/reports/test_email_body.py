"""The executive email: MIME structure, inline charts, escaping, content, and how it renders."""

from __future__ import annotations

import base64
import email
import email.policy
import io
import re
import shutil
import subprocess
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import polars as pl
import pytest
from PIL import Image, ImageDraw

from reporting_assets.lib.formatting import format_value
from reporting_assets.reports import charts as ch
from reporting_assets.reports.email_body import (
    build_message,
    chart_cid,
    render_email_html,
    render_email_text,
)
from reporting_assets.reports.model import AlertRow, Branding
from reporting_assets_tests.reports.phone import measure
from reporting_assets_tests.reports.sample import HOSTILE_NAME, sample_report

CHROMIUM = "/usr/bin/chromium"
SENDER = "Reports <reports@northwind.example>"
TO = ["ceo@northwind.example", "cfo@northwind.example"]
CC = ["board@northwind.example"]


def _png(seed: int, width: int = 1168, height: int = 520) -> bytes:
    """A small, real-looking bar chart (2x resolution for a 584 px slot)."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.line([(60, height - 50), (width - 20, height - 50)], fill="#9CA3AF", width=2)
    for i in range(12):
        h = 80 + ((i * 37 + seed * 53) % 300)
        x = 80 + i * 88
        draw.rectangle([x, height - 50 - h, x + 56, height - 50], fill="#2E86AB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def charts() -> dict[str, bytes]:
    return {"mrr_trend": _png(1), "cost_by_vendor": _png(2)}


@pytest.fixture(scope="module")
def report():
    report = sample_report()
    sections = [replace(report.sections[0], charts=["mrr_trend"]), *report.sections[1:]]
    return replace(report, sections=sections)


def _build(report, charts, **kw) -> EmailMessage:
    return build_message(report, charts, sender=SENDER, to=TO, cc=CC, **kw)


def _parsed(msg: EmailMessage) -> EmailMessage:
    """The message as a recipient's client would see it (serialised and parsed back)."""
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)


def _parts(msg: EmailMessage) -> tuple[str, str, list[EmailMessage]]:
    alternative, *images = msg.iter_parts()
    plain, html = alternative.iter_parts()
    return plain.get_content(), html.get_content(), images


def test_mime_structure(report, charts):
    msg = _parsed(_build(report, charts))

    assert msg.get_content_type() == "multipart/related"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parts[0].iter_parts()] == ["text/plain", "text/html"]
    images = parts[1:]
    assert [p.get_content_type() for p in images] == ["image/png", "image/png"]
    for part in images:
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", part["Content-ID"])
        assert part.get_content_disposition() == "inline"
        assert part.get_filename().endswith(".png")
        assert part.get_content() in charts.values()


def test_every_cid_resolves_and_every_image_is_referenced(report, charts):
    three = {**charts, "extra_chart": _png(3)}
    msg = _parsed(_build(report, three))
    _, html, images = _parts(msg)

    referenced = set(re.findall(r'src="cid:([^"]+)"', html))
    attached = {p["Content-ID"].strip("<>") for p in images}
    assert referenced == attached
    assert len(attached) == 2  # at most two inline charts; the rest live in the PDF
    assert chart_cid(report, "mrr_trend") in attached
    assert all(re.search(rf'src="cid:{re.escape(c)}"[^>]*alt="[^"]+"', html) for c in attached)


def test_cids_are_deterministic(report, charts):
    first = {p["Content-ID"] for p in _parts(_parsed(_build(report, charts)))[2]}
    second = {p["Content-ID"] for p in _parts(_parsed(_build(report, charts)))[2]}
    assert first == second
    assert chart_cid(report, "mrr_trend") == (
        "chart-mrr-trend.2026-11-26.daily-executive@reports.local"
    )


def test_every_kpi_value_is_in_html_and_text(report, charts):
    plain, html, _ = _parts(_parsed(_build(report, charts)))
    for kpi in report.kpis:
        value = format_value(kpi.value, kpi.unit)
        assert value in html, kpi.key
        assert value in plain, kpi.key
        assert kpi.label in html and kpi.label in plain
    # the target is shown where set, formatted the same way
    assert "Target 4.0%" in html and "Target: 4.0%" in plain
    for sentence in report.summary:
        assert sentence in html
    assert report.alerts[0].message in html
    assert report.data_through in html and report.data_through in plain


def test_the_decision_block_comes_first_in_html_and_text(report, charts):
    """What changed and what is asked of whom, before the summary and the KPI cards: the ask
    with its owner, date and dollars at stake."""
    text, html, _ = _parts(_parsed(_build(report, charts)))
    ask = report.decisions.asks[0]
    for body, words in (
        (html, ("What changed", "What we ask", "Summary", "Key metrics")),
        (text, ("WHAT CHANGED", "WHAT WE ASK", "SUMMARY", "KEY METRICS")),
    ):
        places = [body.index(w) for w in words]
        assert places == sorted(places), body
        for t in report.decisions.takeaways:
            assert t in " ".join(body.split())
        for part in (ask.what, ask.owner, "Mon 30 Nov", "$8,140 in failed payments"):
            assert part in " ".join(body.split()), part


def test_change_arrows_are_coloured_by_direction(report):
    html = render_email_html(report, {})
    plain = render_email_text(report)
    # Spend fell and lower is better: green ▼. Backlog rose and lower is better: red ▲.
    assert re.search(r'color: #1B6E2E;[^"]*">▼ −\$264 vs previous day', html)
    assert re.search(r'color: #B42318;[^"]*">▲ \+7 vs previous day', html)
    assert "▼ −$264 vs previous day (better)" in plain
    assert "▲ +7 vs previous day (worse)" in plain


def test_message_size_is_reasonable(report, charts):
    raw = _build(report, charts).as_bytes()
    assert len(raw) < 1_000_000


def test_hostile_text_is_escaped_in_html_and_plain_in_text(report, charts):
    hostile = replace(
        report,
        title=f"Report for {HOSTILE_NAME}",
        branding=Branding(HOSTILE_NAME, '#000"; background:url(x)', "#2E86AB"),
        kpis=[replace(report.kpis[0], label=HOSTILE_NAME), *report.kpis[1:]],
        summary=[f"{HOSTILE_NAME} paid late.", *report.summary],
        alerts=[replace(report.alerts[0], message=f"{HOSTILE_NAME} is over its limit")],
        sections=[replace(s, title=HOSTILE_NAME) for s in report.sections],
    )
    plain, html, _ = _parts(_parsed(_build(hostile, charts)))

    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    assert "url(x)" not in html  # a non-colour branding value is not written into CSS
    assert html.count("&lt;script&gt;") >= 5  # company, title, KPI, summary, alert
    assert HOSTILE_NAME in plain
    assert "&lt;" not in plain and "&amp;" not in plain


def test_link_to_full_report(report, charts):
    plain, html, _ = _parts(_parsed(_build(report, charts)))
    assert re.search(
        rf'<a [^>]*href="{re.escape(report.report_url)}"[^>]*>Open the full report', html
    )
    assert report.report_url in plain


def test_unsafe_or_missing_url_gives_no_button(report):
    for url in ("", "javascript:alert(1)"):
        html = render_email_html(replace(report, report_url=url), {})
        assert "Open the full report" not in html
        assert "javascript:" not in html


def test_headers_and_subject(report, charts):
    msg = _build(report, charts)
    assert msg["MIME-Version"] == "1.0"
    assert msg["Subject"] == "Daily Executive Report — Thursday, 26 November 2026"
    assert msg["From"] == SENDER
    assert msg["To"] == ", ".join(TO) and msg["Cc"] == ", ".join(CC)
    # the distribution step adds these, with the PDF and workbook
    assert msg["Message-ID"] is None and msg["List-Unsubscribe"] is None
    assert _build(report, charts, subject="Custom")["Subject"] == "Custom"
    assert _parsed(msg)["Subject"] == msg["Subject"]


def test_css_is_inlined_and_phone_block_kept(report):
    html = render_email_html(report, {})
    head, body = html.split("<body", 1)
    assert "@media (max-width: 480px)" in head
    assert "<style" not in body
    assert 'style="' in body and "max-width: 640px" in body
    assert "display: flex" not in html and "display: grid" not in html


def test_empty_report_still_renders(report):
    bare = replace(report, kpis=[], alerts=[], summary=[], report_url="")
    msg = _parsed(build_message(bare, {}, sender=SENDER, to=TO, cc=[]))
    plain, html, images = _parts(msg)
    assert images == [] and "cid:" not in html
    assert bare.period_label in html and bare.period_label in plain
    assert msg["Cc"] is None


# ---------------------------------------------------------------- rendering in a real browser


def _screenshot(html_file: Path, out: Path, width: int, height: int, profile: Path) -> Image.Image:
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            html_file.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.exists() and out.stat().st_size > 10_000
    img = Image.open(out).convert("RGB")
    assert img.width == width
    assert len(img.getcolors(maxcolors=1 << 20) or []) > 50  # text, charts, colours: not blank
    return img


def _close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 3) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def _hex(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _stress(report):
    """Worst case for layout: hostile and very long text, an unbreakable token, odd KPI count."""
    long_token = "payment_failure_rate_for_the_enterprise_annual_plan_in_the_emea_region"
    return replace(
        report,
        title="Daily Executive Report for the Board of Directors and the Audit Committee",
        branding=replace(report.branding, company_name=HOSTILE_NAME),
        kpis=[
            *report.kpis,
            replace(report.kpis[0], key="arr", label=long_token, value=-17_277_000_000.0),
        ],
        alerts=[
            *report.alerts,
            AlertRow("r", "m", "warning", 1.0, 0.5, None, f"{long_token} is {HOSTILE_NAME}"),
        ],
        summary=[*report.summary, f"{HOSTILE_NAME} {long_token} " * 3],
    )


@pytest.mark.integration
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Chromium")
@pytest.mark.parametrize("variant", ["sample", "stress"])
def test_renders_on_phone_and_desktop(report, charts, tmp_path, variant):
    if variant == "stress":
        report = _stress(report)
    msg = _build(report, charts)
    _, html, images = _parts(msg)
    for part in images:
        data = base64.b64encode(part.get_content()).decode()
        html = html.replace(
            f"cid:{part['Content-ID'].strip('<>')}", f"data:image/png;base64,{data}"
        )
    assert "cid:" not in html
    page = tmp_path / "email.html"
    page.write_text(html, encoding="utf-8")

    phone = _screenshot(page, tmp_path / "375.png", 375, 2600, tmp_path / "profile-375")
    desktop = _screenshot(page, tmp_path / "1200.png", 1200, 1800, tmp_path / "profile-1200")
    suffix = "" if variant == "sample" else f"-{variant}"
    shutil.copy(tmp_path / "375.png", f"/tmp/email{suffix}-375.png")
    shutil.copy(tmp_path / "1200.png", f"/tmp/email{suffix}-1200.png")

    # Phone: nothing runs off the right edge. Every row's rightmost strip is one flat colour,
    # and that colour is one of the page's backgrounds (never text, a card border or a chart);
    # the only exception is a full-width horizontal rule (the footer's top border).
    backgrounds = [_hex(c) for c in ("#FFFFFF", "#F3F4F6", "#F9FAFB", "#FAFBFC")]
    backgrounds.append(_hex(report.branding.primary_color))
    px = phone.load()
    for y in range(phone.height):
        edge = px[phone.width - 1, y]
        assert all(_close(px[x, y], edge) for x in range(phone.width - 8, phone.width)), y
        if not any(_close(edge, bg) for bg in backgrounds):
            assert all(_close(px[x, y], edge) for x in range(phone.width)), (y, edge)

    # Desktop: the email is a centred column of at most 640 px on the grey page background.
    grey = _hex("#F3F4F6")
    dpx = desktop.load()
    row = [dpx[x, 200] for x in range(desktop.width)]
    inside = [x for x, c in enumerate(row) if not _close(c, grey)]
    assert inside, "no email column found"
    left, right = inside[0], inside[-1]
    assert 600 <= right - left + 1 <= 642
    assert abs(left - (desktop.width - 1 - right)) <= 2  # centred

    # KPI cards: two per row on the phone and on the desktop. Walk down a line through the
    # right padding of the right-hand cards (no text there) and count the cards crossed.
    def cards_crossed(img: Image.Image, x: int) -> int:
        card = _hex("#FAFBFC")
        col = [img.getpixel((x, y)) == card for y in range(img.height)]
        runs = [len(r) for r in "".join("1" if c else "0" for c in col).split("0") if r]
        return sum(1 for r in runs if r >= 40)

    n = len(report.kpis)
    assert cards_crossed(phone, phone.width - 16 - 4) == n // 2  # 16 px gutter on phones
    # right-hand column on desktop (28 px gutter): an odd last card has a blank neighbour
    assert cards_crossed(desktop, right - 28 - 8) == n // 2


def _smallest_font(fig) -> float:
    """The smallest type a figure sets: its base font, axis ticks, legend and trace labels."""
    base = fig.layout.font.size
    sizes = [base]
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        sizes.append(axis.tickfont.size or base)
    sizes.append(fig.layout.legend.font.size or base)
    sizes += [(getattr(t, "textfont", None) and t.textfont.size) or base for t in fig.data]
    return min(s for s in sizes if s)


def test_on_a_phone_nothing_scrolls_sideways_and_chart_text_is_legible(report, tmp_path):
    """The email with its real charts (exported for the phone, as the pipeline does), shown
    at 375 px: the content is no wider than the screen, no text is under 11 px, and the
    charts' smallest type, scaled to the width they are shown at, is at least 11 px."""
    day = {"opening_mrr": 1_441_430.0, "new_mrr": 1_260.0, "reactivation_mrr": 0.0,
           "expansion_mrr": 1_260.0, "contraction_mrr": 0.0, "churned_mrr": 0.0,
           "closing_mrr": 1_443_950.0}  # fmt: skip
    costs = pl.DataFrame({
        "level": ["line"] * 6,
        "service": ["compute", "database", "data_warehouse", "observability", "cdn",
                    "email_delivery"],
        "cost_usd": [2_150.0, 915.0, 594.0, 379.0, 170.0, 49.0],
        "daily_budget_usd": [3_300.0, 1_158.0, 822.0, 478.0, 243.0, 70.0],
    })  # fmt: skip
    figures = [
        ch.Chart("mrr_waterfall", ch.mrr_waterfall(day, "MRR bridge for the day")),
        ch.Chart("budget_bars", ch.budget_bars(costs, "Spend vs budget by service")),
    ]
    files = ch.export_charts(figures, tmp_path / "charts", formats=("mobile",))
    pngs = {name: f["mobile"].read_bytes() for name, f in files.items()}
    _, html, images = _parts(_parsed(_build(report, pngs)))
    for part in images:
        data = base64.b64encode(part.get_content()).decode()
        html = html.replace(
            f"cid:{part['Content-ID'].strip('<>')}", f"data:image/png;base64,{data}"
        )
    page = measure(html, 375, tmp_path)
    assert page["viewport"] == 375
    assert page["content_width"] <= 375, page
    assert page["smallest"]["size"] >= 11, page["smallest"]
    shown = [i for i in page["images"] if i["natural"]]
    assert len(shown) == len(figures)
    for image, chart in zip(shown, figures, strict=True):
        smallest = _smallest_font(ch.mobile_figure(chart.figure))
        # exported at scale 2: `smallest` layout px are 2 × smallest image px
        on_screen = smallest * 2 * image["width"] / image["natural"]
        assert on_screen >= 11, (chart.name, smallest, image)
