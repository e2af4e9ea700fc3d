"""The demo's generated use of the web app, so its monthly performance review has something to
review: over the 90 days before today, the executives on each report's lists open some of its
periods in the app, open some sections (a few much more than others; some never), spend a few
minutes, download the PDF now and then, and leave a rating or a comment on a few.

Every row is written the way the web app writes it (`usage_events`, `feedback`), dated in the
past, and generated only once (a demo run finds them and writes nothing). The readers' habits
are seeded, so every demo run tells the same story."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from reporting_assets.config.audience import recipients
from reporting_assets.config.models import Settings
from reporting_assets.records.usage import feedback, usage_events

DAYS = 90
# How likely a reader opens a period of a report in the app, by cadence.
OPENS = {"daily": 0.35, "weekly": 0.75, "monthly": 0.9}
# How likely an opened report's section is opened: the decision-ready ones most, the appendix
# rarely, and a few never (the review's cobwebs).
SECTION_HABIT = {"summary": 0.6, "revenue_protection": 0.5, "business_analysis": 0.55,
                 "trends": 0.5, "scorecard": 0.45, "forecasts": 0.4, "recommendations": 0.45,
                 "alerts": 0.3, "cost_optimization": 0.3, "operations": 0.25,
                 "initiatives": 0.2, "benchmarks": 0.15, "initiative_roi": 0.15,
                 "operational_efficiency": 0.1, "impact": 0.05, "roi": 0.0,
                 "quality": 0.0}  # fmt: skip
COMMENTS = [
    ("summary", 5, "The three takeaways are exactly what I need on Monday."),
    ("revenue_protection", 4, "Please add churn by region next to the plans."),
    ("business_analysis", 4, "Would like the cohort retention as a chart, not only a table."),
    ("forecasts", 3, "Missing a forecast for the next quarter, not only three months."),
    ("benchmarks", 2, "Hard to act on; merge it into the business analysis?"),
    ("operations", 3, "Show the backlog trend, the day's number alone says little."),
    ("trends", 4, "Useful, but put MRR first."),
]


@dataclass(frozen=True)
class GeneratedUsage:
    views: int
    sections: int
    feedback: int
    written: bool  # False when an earlier demo run wrote them


def _periods(cadence: str, first: date, last: date) -> list[str]:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if cadence == "daily":
        return [d.isoformat() for d in days]
    if cadence == "weekly":  # weeks start on Sunday
        return sorted({(d - timedelta(days=(d.weekday() + 1) % 7)).isoformat() for d in days})
    return sorted({d.replace(day=1).isoformat() for d in days})


def _visit(rng: random.Random, reader: str, key: str, sections: list[str], period: str,
           at: datetime, events: list[dict], notes: list[dict]) -> None:  # fmt: skip
    """One reader opening one period of a report in the app: the view, the sections they open,
    perhaps the PDF, the minutes spent, and now and then a rating with a comment."""
    row = dict(reader=reader, report=key, period=period, section=None, file=None, seconds=None)
    events.append({**row, "kind": "view", "at": at})
    for n, section in enumerate(sections):
        if rng.random() < SECTION_HABIT.get(section, 0.2):
            events.append({**row, "kind": "section_open", "section": section,
                           "at": at + timedelta(seconds=20 + 15 * n)})  # fmt: skip
    if rng.random() < 0.2:
        events.append({**row, "kind": "download", "file": f"{key}_{period}.pdf",
                       "at": at + timedelta(seconds=30)})  # fmt: skip
    minutes = rng.lognormvariate(1.2, 0.6)
    events.append({**row, "kind": "time_on_report", "seconds": round(minutes * 60),
                   "at": at + timedelta(minutes=minutes)})  # fmt: skip
    if rng.random() < 0.12:
        section, rating, words = rng.choice(COMMENTS)
        if section in sections:
            notes.append(dict(reader=reader, report=key, period=period, section=section,
                              rating=rating, useful=rating >= 3, comment=words,
                              created_at=at + timedelta(minutes=3)))  # fmt: skip


def generate_usage(settings: Settings, engine: sa.Engine, today: date, seed: int) -> GeneratedUsage:
    """Write the demo's use of the web app over the `DAYS` before `today` (once)."""
    zone = ZoneInfo(settings.calendar.report_timezone)
    before_today = datetime.combine(today, time(), zone).astimezone(UTC)
    with engine.connect() as conn:  # today's are the demo's own clicks, not a generated past
        present = conn.execute(sa.select(sa.func.count()).select_from(usage_events)
                               .where(usage_events.c.at < before_today)).scalar()  # fmt: skip
    if present:
        return GeneratedUsage(0, 0, 0, written=False)
    rng = random.Random(seed)
    first, last = today - timedelta(days=DAYS), today - timedelta(days=1)
    events, notes = [], []
    for key, report in settings.reports.items():
        if report.kind != "business":
            continue
        to, cc = recipients(settings, key)
        readers = sorted({a.lower() for a in [*to, *cc]})
        for period in _periods(report.cadence, first, last):
            opened_on = max(date.fromisoformat(period), first) + timedelta(
                days=1 if report.cadence == "daily" else 7 if report.cadence == "weekly" else 28
            )
            if opened_on > last:
                continue
            for reader in readers:
                if rng.random() <= OPENS[report.cadence]:
                    at = datetime.combine(opened_on, time(7 + rng.randrange(12),
                                                          rng.randrange(60)), zone)  # fmt: skip
                    _visit(rng, reader, key, report.sections, period, at.astimezone(UTC),
                           events, notes)  # fmt: skip
    with engine.begin() as conn:
        if events:
            conn.execute(usage_events.insert(), events)
        if notes:
            conn.execute(feedback.insert(), notes)
    views = sum(1 for e in events if e["kind"] == "view")
    sections = sum(1 for e in events if e["kind"] == "section_open")
    return GeneratedUsage(views, sections, len(notes), written=True)
