"""The monthly performance review of the reporting itself, for the data team: are the reports
read, which parts are used and rated, what executives say, how soon a delivered report is
opened and acknowledged, whether the service levels held, and what to change as a result.

Built from the web app's records (`records.engagement`), the delivery ledger and the month's
service-level results, as a `ReportData` like any report, so the PDF, the web view and the
review are the same machinery."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

from reporting_assets.config.models import Settings
from reporting_assets.lib.formatting import clip, display_name, format_value, plural
from reporting_assets.records.engagement import (
    COBWEB_DAYS,
    cobwebs,
    delivery_effectiveness,
    delivery_success,
    feedback_summary,
    reading_by_person,
    section_relevance,
)
from reporting_assets.reports.decisions import business_day_after, decision_block
from reporting_assets.reports.model import Ask, Branding, Column, Kpi, ReportData, Section

DELIVERY_TARGET = 0.995  # the seed's delivery success goal


def _window(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """The month's days [start, end] in the reports' time zone, as a UTC window."""
    zone = ZoneInfo(tz)
    return (datetime.combine(start, time(), zone).astimezone(UTC),
            datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC))  # fmt: skip


def report_sections(settings: Settings) -> dict[str, list[str]]:
    """Every business report's sections (the ones readers can open and rate)."""
    return {k: list(r.sections) for k, r in settings.reports.items() if r.kind == "business"}


def performance_review(
    settings: Settings,
    engine: sa.Engine,
    key: str,
    start: date,
    end: date,
    *,
    service_levels: list[dict] | None = None,
    generated_at: datetime | None = None,
    report_url: str = "",
) -> ReportData:
    """The review of the month [start, end]. `service_levels`: the month's SLO results, each
    {"measure", "target", "actual", "met"} in words and a flag."""
    tz = settings.calendar.report_timezone
    since, until = _window(start, _month_end(start), tz)
    now = generated_at or datetime.now(UTC)
    until = min(until, now)  # the month in progress: everything recorded so far
    titles = {k: r.title for k, r in settings.reports.items()}
    sections = report_sections(settings)
    reading = reading_by_person(engine, since, until)
    relevance = section_relevance(engine, sections, since, until)
    unused = cobwebs(engine, sections, until)
    said = feedback_summary(engine, since, until)
    before = feedback_summary(engine, *_window(_month_before(start), start - timedelta(1), tz))
    first, last = start.isoformat(), end.isoformat()  # the report periods of the month
    effect = delivery_effectiveness(engine, first, last)
    delivered = delivery_success(engine, first, last)
    measured = not section_relevance(engine, sections, until - timedelta(days=COBWEB_DAYS),
                                     until).filter(pl.col("opens") > 0).is_empty()  # fmt: skip
    if not measured:  # nobody opened any section: their use is not measured, not nil
        unused = unused.clear()
    levels = service_levels or []
    missed = [s for s in levels if not s["met"]]
    mean_rating = _mean(said)
    email = effect.filter(pl.col("channel") == "email").to_dicts()
    to_open = email[0]["median_hours_to_open"] if email else None
    to_ack = email[0]["median_hours_to_ack"] if email else None

    def status_of(value, target, higher=True):
        if value is None or target is None:
            return "grey"
        return "green" if (value >= target if higher else value <= target) else "red"

    kpis = [
        Kpi("delivery_success", "Delivery success", "ratio", delivered, None, DELIVERY_TARGET,
            "higher_is_better", status_of(delivered, DELIVERY_TARGET)),
        Kpi("service_levels_met", "Service levels met", "count",
            float(len(levels) - len(missed)) if levels else None, None, float(len(levels))
            if levels else None, "higher_is_better",
            status_of(len(levels) - len(missed), len(levels)) if levels else "grey"),
        Kpi("readers", "Readers in the app", "count", float(reading["reader"].n_unique()),
            None, None, "higher_is_better", "grey"),
        Kpi("hours_to_open", "Email to first open (median)", "hours", to_open, None, None,
            "lower_is_better", "grey"),
        Kpi("hours_to_ack", "Email to acknowledgement (median)", "hours", to_ack, None, None,
            "lower_is_better", "grey"),
        Kpi("mean_rating", "Mean rating (1–5)", "count", mean_rating, _mean(before), None,
            "higher_is_better", "grey"),
        Kpi("cobwebs", f"Sections unopened in {COBWEB_DAYS} days", "count",
            float(unused.height) if measured else None, None, 0.0, "lower_is_better",
            status_of(unused.height, 0, higher=False) if measured else "grey"),
    ]  # fmt: skip

    def name(report: str) -> str:
        return titles.get(report, display_name(report))

    by_person = reading.with_columns(
        pl.col("reader").map_elements(settings.person, return_dtype=pl.String),
        pl.col("report").map_elements(name, return_dtype=pl.String),
    )
    ranked = relevance.with_columns(
        pl.col("report").map_elements(name, return_dtype=pl.String),
        pl.col("section").map_elements(display_name, return_dtype=pl.String),
    )
    cobweb_rows = unused.with_columns(
        pl.col("report").map_elements(name, return_dtype=pl.String),
        pl.col("section").map_elements(display_name, return_dtype=pl.String),
    )
    feedback_rows = said.with_columns(
        pl.col("report").map_elements(name, return_dtype=pl.String),
        pl.col("comments").list.join(" · ").alias("comments"),
    )
    top = ranked.row(0, named=True) if not ranked.is_empty() and ranked["opens"][0] else None
    out_sections = [
        Section("reading", "Who reads what",
                "Views, downloads, minutes and sections opened in the web app, per reader and "
                "report, this month.", by_person,
                [Column("reader", "Reader"), Column("report", "Report"),
                 Column("views", "Views", "count"), Column("downloads", "Downloads", "count"),
                 Column("minutes", "Minutes", "count"),
                 Column("sections", "Sections opened", "count")],
                takeaway=f"{plural(reading['reader'].n_unique(), 'reader')} opened reports in "
                f"the app; {int(reading['views'].sum())} views, "
                f"{int(reading['downloads'].sum())} downloads."),
        Section("relevance", "Content relevance",
                "Every report section, ranked by how often it was opened, then by its rating.",
                ranked,
                [Column("report", "Report"), Column("section", "Section"),
                 Column("opens", "Opens", "count"), Column("readers", "Readers", "count"),
                 Column("mean_rating", "Mean rating", "count"),
                 Column("useful_share", "Found it useful", "ratio")],
                takeaway=(f"Most opened: {top['section']} in {top['report']} "
                          f"({plural(top['opens'], 'time')})." if top
                          else "No section was opened in the app this month.")),
        Section("cobwebs", f"Sections nobody opened in {COBWEB_DAYS} days",
                "Candidates to drop or merge into another section.", cobweb_rows,
                [Column("report", "Report"), Column("section", "Section")],
                takeaway=(f"{plural(unused.height, 'section')} unopened in {COBWEB_DAYS} days."
                          if measured else f"No section was opened in the app in {COBWEB_DAYS} "
                          "days: readers use the PDF and the email, so which sections they "
                          "use is not measured yet.")),
        Section("feedback", "Executive feedback",
                "Ratings (1–5), whether it was useful, and the comments, per report.",
                feedback_rows,
                [Column("report", "Report"), Column("responses", "Responses", "count"),
                 Column("readers", "Readers", "count"),
                 Column("mean_rating", "Mean rating", "count"),
                 Column("useful_share", "Found it useful", "ratio"),
                 Column("comments", "Comments")],
                takeaway=_feedback_takeaway(mean_rating, _mean(before), said)),
        Section("delivery", "Delivery effectiveness",
                "Per channel: reports delivered this month, how many were never opened in the "
                "app, and the median hours to the first open and to the acknowledgement.",
                effect,
                [Column("channel", "Channel", "name"),
                 Column("deliveries", "Deliveries", "count"),
                 Column("unopened", "Never opened", "count"),
                 Column("median_hours_to_open", "Hours to open", "hours"),
                 Column("median_hours_to_ack", "Hours to acknowledge", "hours")],
                takeaway=f"Delivery success {format_value(delivered, 'ratio')} against "
                f"{format_value(DELIVERY_TARGET, 'ratio')}."),
    ]  # fmt: skip
    if levels:
        table = pl.DataFrame(levels, schema={"measure": pl.String, "target": pl.String,
                                             "actual": pl.String, "met": pl.Boolean})  # fmt: skip
        out_sections.append(Section(
            "service_levels", "Service levels",
            "Each service level of the month against its target.", table,
            [Column("measure", "Measure"), Column("target", "Target"),
             Column("actual", "This month"), Column("met", "Met", "bool")],
            takeaway=f"{len(levels) - len(missed)} of {len(levels)} service levels met.",
        ))  # fmt: skip
    review_owner = settings.reports[key].owner if key in settings.reports else ""
    asks = []
    due = business_day_after(end + timedelta(days=1), 10)
    if unused.height:
        which = "the section" if unused.height == 1 else f"the {unused.height} sections"
        asks.append(Ask(f"Drop or merge {which} nobody opened in {COBWEB_DAYS} days",
                        settings.person(review_owner), due, None, "",
                        "usage in the web app"))  # fmt: skip
    for s in missed:
        asks.append(Ask(f"Restore {s['measure'].lower()}: {s['actual']} this month",
                        settings.person(review_owner), due, None, "",
                        clip(s.get("why") or "the service-level checks", 160)))  # fmt: skip
    takeaways = [
        f"Delivery success {format_value(delivered, 'ratio')} against "
        f"{format_value(DELIVERY_TARGET, 'ratio')}" + ("." if delivered is not None else
                                                       " (nothing delivered)."),
        f"{plural(reading['reader'].n_unique(), 'reader')} used the web app"
        + (f"; {plural(unused.height, 'section')} unopened in {COBWEB_DAYS} days." if measured
           else "; no section was opened there yet."),
        f"{len(levels) - len(missed)} of {len(levels)} service levels met." if levels else "",
    ]  # fmt: skip
    b = settings.branding
    local = (generated_at or datetime.now(UTC)).astimezone(ZoneInfo(tz))
    return ReportData(
        report_key=key,
        title=settings.reports[key].title if key in settings.reports else "Performance review",
        cadence="monthly",
        period_key=start.isoformat(),
        period_label=f"{start:%B %Y}" + (f", to {end.day} {end:%B}" if end.day < _last(start)
                                         else ""),
        data_through=f"Records through {end.day} {end:%B %Y}",
        generated_at=f"{local:%Y-%m-%d %H:%M} {local.tzname()}",
        branding=Branding(b.company_name, b.primary_color, b.accent_color, b.logo_path),
        kpis=kpis,
        summary=[t for t in takeaways if t],
        alerts=[],
        sections=_in_config_order(out_sections, settings, key),
        quality=[],
        definitions=[],
        report_url=report_url,
        decisions=decision_block(takeaways, asks),
    )  # fmt: skip


def _in_config_order(sections: list[Section], settings: Settings, key: str) -> list[Section]:
    """The sections the report's definition names, in its order (all of them without one)."""
    if key not in settings.reports:
        return sections
    by_key = {s.key: s for s in sections}
    return [by_key[k] for k in settings.reports[key].sections if k in by_key]


def _month_end(start: date) -> date:
    return start.replace(day=_last(start))


def _month_before(start: date) -> date:
    return (start - timedelta(days=1)).replace(day=1)


def _last(start: date) -> int:
    return ((start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day


def _mean(said: pl.DataFrame) -> float | None:
    """The mean of every rating given (each report's mean weighted by its ratings)."""
    rated = said.filter(pl.col("ratings") > 0)
    if rated.is_empty():
        return None
    return float((rated["mean_rating"] * rated["ratings"]).sum() / rated["ratings"].sum())


def _feedback_takeaway(now: float | None, before: float | None, said: pl.DataFrame) -> str:
    if said.is_empty():
        return "No feedback this month."
    text = f"{plural(int(said['responses'].sum()), 'response')}"
    if now is not None:
        text += f", mean rating {now:.1f} of 5"
        if before is not None:
            text += f" ({'up' if now > before else 'down' if now < before else 'level'} from "
            text += f"{before:.1f} the month before)"
    return text + "."
