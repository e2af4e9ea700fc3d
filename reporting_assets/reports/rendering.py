"""Rendering a report's content into its files: every format its definition asks for, in a
new version of the artifact store, with the review it opens and the asset's metadata. Shared by
the business reports and the platform's own review."""

import base64
import json
from dataclasses import asdict
from datetime import timedelta

import dagster as dg

from reporting_assets.config.audience import recipients
from reporting_assets.lib.formatting import NUMERIC, cell_text
from reporting_assets.partitions import REPORT_TZ
from reporting_assets.records.feed import Feed
from reporting_assets.records.reviews import ReviewBook, build_checklist
from reporting_assets.reports import charts as ch
from reporting_assets.reports.deck import write_deck
from reporting_assets.reports.email_body import build_message
from reporting_assets.reports.excel import write_workbook
from reporting_assets.reports.model import ReportData, Section
from reporting_assets.reports.payloads import (
    encode,
    slack_payload,
    teams_payload,
    webhook_payload,
)
from reporting_assets.reports.pdf import render_pdf
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStoreResource, describe, write_manifest

REPORTS_GROUP = "step5_reports"

# When each report must have been rendered, in the report time zone: an hour after its schedule
# (daily 06:30, weekly Sunday 18:00, monthly 23:59 on the last day). A report still missing at
# its deadline shows as late ("stale") in the Dagster UI.
FRESHNESS_DEADLINES = {"daily": "30 7 * * *", "weekly": "0 19 * * 0", "monthly": "0 1 1 * *"}


def freshness(cadence: str) -> dg.FreshnessPolicy:
    """Due an hour after the schedule; a render in the 90 minutes before the deadline counts."""
    return dg.FreshnessPolicy.cron(
        deadline_cron=FRESHNESS_DEADLINES[cadence],
        lower_bound_delta=timedelta(minutes=90),
        timezone=REPORT_TZ,
    )


def _preview(png: bytes) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![chart](data:image/png;base64,{base64.b64encode(png).decode()})")


def section_content(section: Section) -> dict:
    """A section as the web view shows it: its words, and its table as the PDF writes it."""

    def cells(row: dict) -> list[str]:
        return [cell_text(row[c.name], row[c.unit_from] if c.unit_from else c.unit)
                for c in section.columns]  # fmt: skip

    return {"key": section.key, "title": section.title, "takeaway": section.takeaway,
            "intro": section.intro, "charts": list(section.charts),
            "columns": [{"label": c.label, "numeric": c.unit in NUMERIC or c.unit_from is not None}
                        for c in section.columns],
            "rows": [cells(row) for row in section.table.iter_rows(named=True)]}  # fmt: skip


def report_content(report: ReportData, decks: dict | None = None) -> dict:
    """What the report says, as plain JSON: the dashboard, the review and webhooks read it."""
    content = webhook_payload(report)
    content["checks"] = [asdict(c) for c in report.quality]
    content["sections"] = [section_content(s) for s in report.sections]
    content["chart_titles"] = dict(report.chart_titles)
    content["recommendations"] = [str(r) for r in (decks or {}).get("recommendations", [])]
    return content


def render_report(
    report,
    report_def,
    charts: list[ch.Chart],
    artifacts: ArtifactStoreResource,
    app_db: AppDatabase,
    settings,
    *,
    email_charts: tuple[str, ...],
    decks: dict | None = None,
) -> dg.MaterializeResult:
    """Render every format the report definition asks for into a new draft, publish it as the
    period's current version, and describe the files for the asset's metadata."""
    key, period = report.report_key, report.period_key
    store = artifacts.store()
    draft = store.draft_dir(key, period)
    chart_files = ch.export_charts(charts, draft / "charts")
    files, counts = {}, {}
    if "pdf" in report_def.formats:
        files["pdf"] = draft / f"{key}_{period}.pdf"
        counts["pdf"] = render_pdf(
            report, {n: p["svg"] for n, p in chart_files.items()}, files["pdf"]
        )
    if "xlsx" in report_def.formats:
        files["xlsx"] = draft / f"{key}_{period}.xlsx"
        counts["xlsx"] = {"sheets": len(write_workbook(report, files["xlsx"])["sheets"])}
    to, cc = recipients(settings, key)
    files["json"] = draft / "report.json"
    files["json"].write_text(json.dumps(report_content(report, decks), indent=2, default=str))
    for channel, build in (("slack", slack_payload), ("teams", teams_payload)):
        if channel in report_def.channels:
            files[f"json:{channel}"] = draft / f"{channel}.json"
            files[f"json:{channel}"].write_bytes(encode(build(report)))
    if "email" in report_def.formats:
        pngs = {n: chart_files[n]["mobile"].read_bytes() for n in email_charts if n in chart_files}
        message = build_message(report, pngs, sender=settings.channels.email.sender, to=to, cc=cc)
        files["email"] = draft / "email.eml"
        files["email"].write_bytes(bytes(message))
    if "pptx" in report_def.formats:
        for audience in report_def.audiences:
            kind = f"pptx:{audience}"
            files[kind] = draft / f"{key}_{period}_{audience}.pptx"
            counts[kind] = write_deck(
                report,
                audience,
                {n: p["png"] for n, p in chart_files.items()},
                files[kind],
                sections=report_def.deck_sections.get(audience),
                **(decks or {}),
            )
    version = store.publish(key, period, draft)
    files = {k: version / p.name for k, p in files.items()}
    entries = describe(files, counts)
    write_manifest(version, entries)
    preview = version / "charts" / f"{email_charts[0]}.png" if email_charts else None
    review = {}
    if report_def.approval == "manual":
        checklist = build_checklist(settings, key, period, version, to, cc, app_db.engine)
        opened, new = ReviewBook(app_db.engine).open(key, period, version, checklist)
        if new:
            feed = Feed(app_db.engine)
            feed.publish("review_requested", f"Review requested: {report_def.title}, "
                         f"{report.period_label}", f"Review #{opened.id} waits for a decision: "
                         f"reporting review show {opened.id}", dedupe_key=f"review:{opened.id}",
                         report=key, period=period, audience=[report_def.owner])  # fmt: skip
        review = {"review": f"#{opened.id} {opened.status} (reporting review show {opened.id})"}
    return dg.MaterializeResult(metadata={
        **review,
        "period": period,
        "version": version.name,
        "folder": dg.MetadataValue.path(str(version)),
        "files": dg.MetadataValue.json(entries),
        "pages": counts.get("pdf", {}).get("pages", 0),
        "alerts": len(report.alerts),
        "summary": dg.MetadataValue.md("\n".join(f"- {s}" for s in report.summary)),
        **({"preview": _preview(preview.read_bytes())} if preview and preview.exists() else {}),
    })  # fmt: skip
