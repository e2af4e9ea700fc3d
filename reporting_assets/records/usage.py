"""What readers do with the reports, from the web app's signed-in pages: their feedback (a
rating, "was this useful", a comment) on a report or one of its sections, and first-party usage
events (a view, a download, the time spent on a report, a section opened). No tracking pixels:
an event is only ever recorded for a signed-in reader, by the page they have open.

Both feed the monthly performance review (which sections are used and rated, and which nobody
opens)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from reporting_assets.resources.app_db import metadata

USAGE_KINDS = ("view", "download", "time_on_report", "section_open")

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reader", sa.String(320), nullable=False),
    sa.Column("report", sa.String(200), nullable=False),
    sa.Column("period", sa.String(64), nullable=False),
    sa.Column("section", sa.String(200), nullable=True),  # None: the report as a whole
    sa.Column("rating", sa.Integer, nullable=True),  # 1 to 5
    sa.Column("useful", sa.Boolean, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_feedback_report", "report", "period"),
)

usage_events = sa.Table(
    "usage_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reader", sa.String(320), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("report", sa.String(200), nullable=True),
    sa.Column("period", sa.String(64), nullable=True),
    sa.Column("section", sa.String(200), nullable=True),
    sa.Column("file", sa.String(300), nullable=True),
    sa.Column("seconds", sa.Float, nullable=True),  # time_on_report only
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_usage_events_at", "at"),
)


class FeedbackError(ValueError):
    """Feedback or a usage event that cannot be recorded as given."""


@dataclass(frozen=True)
class Feedback:
    id: int
    reader: str
    report: str
    period: str
    section: str | None
    rating: int | None
    useful: bool | None
    comment: str | None
    created_at: datetime


def record_feedback(
    engine: sa.Engine,
    reader: str,
    report: str,
    period: str,
    *,
    section: str | None = None,
    rating: int | None = None,
    useful: bool | None = None,
    comment: str | None = None,
) -> int:
    """Store one reader's feedback on a report (or one section of it); return its id."""
    if rating is not None and not 1 <= rating <= 5:
        raise FeedbackError(f"a rating is 1 to 5 stars, not {rating}")
    comment = (comment or "").strip()[:4000] or None
    if rating is None and useful is None and comment is None:
        raise FeedbackError("give a rating, say whether it was useful, or write a comment")
    row = dict(reader=reader.strip().lower(), report=report, period=period,
               section=section or None, rating=rating, useful=useful, comment=comment,
               created_at=datetime.now(UTC))  # fmt: skip
    with engine.begin() as conn:
        return int(conn.execute(feedback.insert().values(**row)).inserted_primary_key[0])


def feedback_rows(engine: sa.Engine, report: str | None = None) -> list[Feedback]:
    """Feedback given, oldest first (on one report, when `report` is given)."""
    query = sa.select(feedback).order_by(feedback.c.id)
    if report is not None:
        query = query.where(feedback.c.report == report)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [Feedback(**dict(r)) for r in rows]


def record_usage(
    engine: sa.Engine,
    reader: str,
    kind: str,
    *,
    report: str | None = None,
    period: str | None = None,
    section: str | None = None,
    file: str | None = None,
    seconds: float | None = None,
) -> int:
    """Store one usage event of a signed-in reader; return its id."""
    if kind not in USAGE_KINDS:
        raise FeedbackError(f"unknown usage event '{kind}' (one of {', '.join(USAGE_KINDS)})")
    if seconds is not None and not 0 <= seconds <= 24 * 3600:
        raise FeedbackError(f"time on a report is 0 to 24 hours, not {seconds} s")
    row = dict(reader=reader.strip().lower(), kind=kind, report=report, period=period,
               section=section, file=file, seconds=seconds, at=datetime.now(UTC))  # fmt: skip
    with engine.begin() as conn:
        return int(conn.execute(usage_events.insert().values(**row)).inserted_primary_key[0])


def usage_rows(engine: sa.Engine, kind: str | None = None) -> list[dict]:
    """Usage events, oldest first (of one kind, when `kind` is given)."""
    query = sa.select(usage_events).order_by(usage_events.c.id)
    if kind is not None:
        query = query.where(usage_events.c.kind == kind)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
