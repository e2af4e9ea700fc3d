"""What each page shows, as plain data from the artifact store and the app database: the
reports a reader may see, today's figures and open alerts, and a report's web view."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from reporting_assets.config.audience import list_addresses
from reporting_assets.config.models import Settings
from reporting_assets.distribution.realtime import alert_states
from reporting_assets.lib.formatting import display_name
from reporting_assets.lib.links import alert_path, report_path
from reporting_assets.partitions import today as today_in
from reporting_assets.records.acks import acknowledgements
from reporting_assets.records.feed import notifications
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
         "label": content(v)["period_label"], "url": report_path(k, p)}
        for k, found in latest.items() for p, v in found
    ]  # fmt: skip
    daily = next((k for k in keys if settings.reports[k].cadence == "daily"), None)
    body = content(latest[daily][0][1]) if daily and latest[daily] else {}
    with engine.connect() as conn:
        firing = conn.execute(
            sa.select(alert_states).where(alert_states.c.firing.is_(True))
        ).mappings().all()  # fmt: skip
        noticed = dict(conn.execute(  # each rule's newest notified day: its alert page
            sa.select(notifications.c.report, sa.func.max(notifications.c.period))
            .where(notifications.c.kind == "critical_alert").group_by(notifications.c.report)
        ).all())  # fmt: skip
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
            "url": alert_path(state["rule"], noticed[state["rule"]])
            if state["rule"] in noticed else None,
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


def archive(settings: Settings, store: ArtifactStore, reader: str) -> list[dict]:
    """Every report the reader may open, each period newest first with its versions."""
    out = []
    for key in visible_reports(settings, reader):
        periods = []
        for period, latest in _versions(store, key):
            periods.append({"period": period, "label": content(latest)["period_label"],
                            "latest": latest.name,
                            "versions": period_versions(store, key, period),
                            "url": report_path(key, period)})  # fmt: skip
        out.append({"key": key, "title": settings.reports[key].title,
                    "cadence": settings.reports[key].cadence, "periods": periods})  # fmt: skip
    return out


def period_versions(store: ArtifactStore, report: str, period: str) -> list[str]:
    """A report period's rendered versions, oldest first (v1, v2, …)."""
    return [v.name for v in store.versions(report, period) if (v / "manifest.json").exists()]


def version_dir(store: ArtifactStore, report: str, period: str, version: str | None) -> Path | None:
    """A report period's named version folder (`v2`), or its latest; None when there is none."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", period):
        return None
    if version is None:
        return store.latest(report, period)
    folder = store.period_dir(report, period) / version
    ok = re.fullmatch(r"v\d+", version) and (folder / "manifest.json").exists()
    return folder if ok else None


def sparkline(values: list[float | None], width: int = 120, height: int = 28) -> str:
    """An inline SVG line of the values (gaps where a day has none); "" for fewer than 3."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(values) < 3 or len(points) < 2:
        return ""
    low, high = min(v for _, v in points), max(v for _, v in points)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)

    def xy(i: int, v: float) -> str:
        return f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"

    line = " ".join(xy(i, v) for i, v in points)
    last = xy(*points[-1]).split(",")
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="the last {len(values)} days">'
            f'<polyline fill="none" stroke="#1F3A5F" stroke-width="1.5" points="{line}"/>'
            f'<circle cx="{last[0]}" cy="{last[1]}" r="2.5" fill="#1F3A5F"/></svg>')  # fmt: skip


def chart_file(version: Path, name: str) -> Path | None:
    """A report chart as rendered with the report: `mrr_trend.svg` (the page's), or
    `mrr_trend.mobile.png` (drawn for a phone's width); None when there is no such chart."""
    if not re.fullmatch(r"[a-z0-9_]+\.(svg|mobile\.png)", name):
        return None
    path = version / "charts" / name
    return path if path.exists() else None


def alert_audience(settings: Settings, rule: str) -> set[str]:
    """Who may open an alert's page and acknowledge it: the critical-alert list, the rule's
    owner, the data team, and the readers of a daily report."""
    cfg = settings.notifications.critical_alerts
    names = [cfg.distribution_list] if cfg.distribution_list else []
    data_team = settings.notifications.data_team
    names += [data_team] if data_team else []
    names += [n for r in settings.reports.values() if r.cadence == "daily"
              for n in r.distribution_lists]  # fmt: skip
    to, cc = list_addresses(settings, names)
    owners = [r.owner for r in settings.alert_rules if r.name == rule and r.owner]
    return {a.lower() for a in [*to, *cc, *owners]}


def alert_view(settings: Settings, engine: sa.Engine, rule: str, day: str) -> dict | None:
    """An alert's page: its newest notice for that day (what fired, at stake, who is asked),
    the episode's state now, and who acknowledged it; None when it never fired that day."""
    with engine.connect() as conn:
        notice = conn.execute(
            sa.select(notifications).where(
                notifications.c.kind == "critical_alert", notifications.c.report == rule,
                notifications.c.period == day).order_by(notifications.c.id.desc())
        ).mappings().first()  # fmt: skip
        state = conn.execute(sa.select(alert_states).where(alert_states.c.rule == rule))
        state = state.mappings().first()
        acked = conn.execute(
            sa.select(acknowledgements).where(
                acknowledgements.c.subject == "alert", acknowledgements.c.key == rule,
                acknowledgements.c.period == day).order_by(acknowledgements.c.id)
        ).mappings().all()  # fmt: skip
    if notice is None:
        return None
    rules = {r.name: r for r in settings.alert_rules}
    cfg = rules.get(rule)
    return {
        "rule": rule, "day": day, "title": notice["title"],
        # The notice's words without its links (this page has its own buttons).
        "body": "\n".join(line for line in notice["body"].splitlines()
                          if not re.fullmatch(r"[\w' ]+: https?://\S+", line)).strip(),
        "label": settings.metrics[cfg.metric].label if cfg else display_name(rule),
        "owner": settings.person(cfg.owner) if cfg and cfg.owner else "",
        "runbook_url": cfg.runbook_url if cfg else None,
        "firing": bool(state and state["firing"]), "since": state["since"] if state else None,
        "acks": [{"who": settings.person(a["acknowledged_by"]), "address": a["acknowledged_by"],
                  "at": a["acknowledged_at"], "decision": a["decision"]} for a in acked],
        "report_url": next((report_path(k, day) for k, r in settings.reports.items()
                            if r.cadence == "daily"), None),
    }  # fmt: skip
