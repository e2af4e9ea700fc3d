"""What each page shows, as plain data from the artifact store and the app database: the
reports a reader may see, today's figures and open alerts, and a report's web view."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from reporting_assets.config.audience import list_addresses
from reporting_assets.config.models import Settings
from reporting_assets.distribution.realtime import alert_states
from reporting_assets.partitions import today as today_in
from reporting_assets.resources.artifacts import ArtifactStore


def visible_reports(settings: Settings, reader: str) -> list[str]:
    """The reports a reader may open: those on whose lists they are, that they own or review,
    or every report for the data team."""
    reader = reader.strip().lower()
    data_team = settings.notifications.data_team
    team, _ = list_addresses(settings, [data_team]) if data_team else ([], [])
    out = []
    for key, r in settings.reports.items():
        to, cc = list_addresses(settings, r.distribution_lists)
        people = {a.lower() for a in [*to, *cc, r.owner, *r.reviewers, *team]}
        if reader in people:
            out.append(key)
    return out


def _versions(store: ArtifactStore, report: str) -> list[tuple[str, Path]]:
    """(period, latest version folder) of a report, newest period first."""
    root = store.root / report
    if not root.exists():
        return []
    out = []
    for period in sorted((p.name for p in root.iterdir() if p.is_dir()), reverse=True):
        version = store.latest(report, period)
        if version is not None:
            out.append((period, version))
    return out


@dataclass(frozen=True)
class Today:
    """The Today page: the latest daily report's KPI cards and decision block, the alerts open
    now, and the latest report of each kind the reader may see."""

    period_label: str
    data_through: str
    kpis: list[dict]
    takeaways: list[str]
    asks: list[dict]
    alerts: list[dict]
    reports: list[dict]


def content(version: Path) -> dict:
    return json.loads((version / "report.json").read_text())


def today(settings: Settings, store: ArtifactStore, engine: sa.Engine, reader: str,
          *, on: date | None = None) -> Today:  # fmt: skip
    """The Today page for `reader` (as of `on`, for the alerts' age; default: today)."""
    keys = visible_reports(settings, reader)
    latest = {k: _versions(store, k)[:1] for k in keys}
    reports = [
        {"key": k, "title": settings.reports[k].title, "period": p,
         "label": content(v)["period_label"], "url": f"/reports/{k}/{p}"}
        for k, found in latest.items() for p, v in found
    ]  # fmt: skip
    daily = next((k for k in keys if settings.reports[k].cadence == "daily"), None)
    body = content(latest[daily][0][1]) if daily and latest[daily] else {}
    with engine.connect() as conn:
        firing = conn.execute(
            sa.select(alert_states).where(alert_states.c.firing.is_(True))
        ).mappings().all()  # fmt: skip
    shown = {a["rule"]: a for a in body.get("alerts", [])}
    rules = {r.name: r for r in settings.alert_rules}
    on = on or today_in(settings.calendar.report_timezone)
    alerts = []
    for state in firing:
        rule = rules.get(state["rule"])
        row = shown.get(state["rule"], {})
        since = date.fromisoformat(state["since"]) if state["since"] else None
        alerts.append({
            "rule": state["rule"],
            "label": settings.metrics[rule.metric].label if rule else state["rule"],
            "message": row.get("message", ""),
            "at_stake": row.get("at_stake"),
            "owner": settings.person(rule.owner) if rule else "",
            "age_days": (on - since).days if since else None,
        })  # fmt: skip
    decisions = body.get("decisions", {})
    return Today(
        period_label=body.get("period_label", ""),
        data_through=body.get("data_through", ""),
        kpis=body.get("kpis", []),
        takeaways=decisions.get("takeaways", []),
        asks=decisions.get("asks", []),
        alerts=alerts,
        reports=reports,
    )


def report_files(version: Path) -> list[dict]:
    """The files a reader can download from a report version (PDF, workbook, decks)."""
    manifest = json.loads((version / "manifest.json").read_text())
    return [f for f in manifest if f["file"].endswith((".pdf", ".xlsx", ".pptx"))]
