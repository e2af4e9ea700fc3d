"""The monthly review's usage figures, from rows written the way the web app and the ledger
write them, each checked against a hand count: reading per person, the sections ranked by use
and rating, the sections nobody opened, feedback per report, and how soon deliveries are
opened and acknowledged per channel."""

import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from reporting_assets.records.acks import acknowledgements
from reporting_assets.records.delivery_rows import SENT, deliveries
from reporting_assets.records.engagement import (
    cobwebs,
    delivery_effectiveness,
    delivery_success,
    feedback_summary,
    reading_by_person,
    section_relevance,
    service_level_month,
)
from reporting_assets.records.usage import feedback, usage_events
from reporting_assets.reports.pdf import render_pdf
from reporting_assets.reports.performance import performance_review
from reporting_assets.resources.app_db import AppDatabase, check_results

CEO, CFO = "ceo@northwind.example", "cfo@northwind.example"
MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
T = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
SECTIONS = {"weekly_business_review": ["revenue", "costs", "operations"]}


def _usage(reader, kind, at, section=None, seconds=None, period="2026-11-08", file=None):
    return dict(reader=reader, kind=kind, report="weekly_business_review", period=period,
                section=section, seconds=seconds, file=file, at=at)  # fmt: skip


@pytest.fixture
def engine(tmp_path):
    engine = AppDatabase(sqlite_path=str(tmp_path / "app.db")).engine
    with engine.begin() as conn:
        conn.execute(usage_events.insert(), [
            _usage(CEO, "view", T),
            _usage(CEO, "section_open", T + timedelta(minutes=1), "revenue"),
            _usage(CEO, "section_open", T + timedelta(minutes=2), "revenue"),  # again
            _usage(CEO, "section_open", T + timedelta(minutes=3), "costs"),
            _usage(CEO, "time_on_report", T + timedelta(minutes=5), seconds=300),
            _usage(CEO, "view", T + timedelta(days=1)),
            _usage(CEO, "time_on_report", T + timedelta(days=1), seconds=90),
            _usage(CFO, "view", T + timedelta(hours=3)),
            _usage(CFO, "download", T + timedelta(hours=3), file="w.pdf"),
            _usage(CFO, "section_open", T + timedelta(hours=3), "revenue"),
            _usage(CFO, "view", datetime(2026, 10, 20, tzinfo=UTC)),  # the month before
            _usage(CFO, "section_open", datetime(2026, 9, 1, tzinfo=UTC), "operations"),
        ])  # fmt: skip
        conn.execute(feedback.insert(), [
            dict(reader=CEO, report="weekly_business_review", period="2026-11-08",
                 section="revenue", rating=5, useful=True, comment="Keep", created_at=T),
            dict(reader=CFO, report="weekly_business_review", period="2026-11-08",
                 section="revenue", rating=3, useful=False, comment=None,
                 created_at=T + timedelta(hours=4)),
            dict(reader=CFO, report="weekly_business_review", period="2026-11-08",
                 section=None, rating=None, useful=True, comment="Shorter please",
                 created_at=T + timedelta(hours=5)),
        ])  # fmt: skip
        sent = T - timedelta(hours=2)
        for target, channel in [(CEO, "email"), (CFO, "email"), ("slack", "slack"),
                                ("board@northwind.example", "email")]:  # fmt: skip
            conn.execute(deliveries.insert().values(
                report="weekly_business_review", period="2026-11-08", channel=channel,
                target=target, generation=0, status=SENT, attempts=1, created_at=sent,
                updated_at=sent, sent_at=sent))  # fmt: skip
        conn.execute(acknowledgements.insert().values(
            subject="report", key="weekly_business_review", period="2026-11-08",
            acknowledged_by=CEO, acknowledged_at=T + timedelta(hours=6), decision=None,
            delivered_at=sent))  # fmt: skip
    return engine


def test_reading_per_person_counts_views_downloads_minutes_and_sections(engine):
    table = reading_by_person(engine, *MONTH).to_dicts()
    assert table == [
        {"reader": CEO, "report": "weekly_business_review", "views": 2, "downloads": 0,
         "minutes": (300 + 90) / 60, "sections": 2},
        {"reader": CFO, "report": "weekly_business_review", "views": 1, "downloads": 1,
         "minutes": 0.0, "sections": 1},
    ]  # fmt: skip


def test_sections_are_ranked_by_use_and_rating_and_the_unused_ones_found(engine):
    table = section_relevance(engine, SECTIONS, *MONTH).to_dicts()
    assert [(r["section"], r["opens"], r["readers"]) for r in table] == [
        ("revenue", 3, 2), ("costs", 1, 1), ("operations", 0, 0)]  # fmt: skip
    revenue = table[0]
    assert revenue["mean_rating"] == 4.0 and revenue["useful_share"] == 0.5
    assert table[1]["mean_rating"] is None
    # Nobody opened "operations" in the 90 days before 1 December (1 September is 91 days).
    unused = cobwebs(engine, SECTIONS, MONTH[1]).to_dicts()
    assert unused == [{"report": "weekly_business_review", "section": "operations"}]
    assert cobwebs(engine, SECTIONS, MONTH[1], days=92).is_empty()


def test_feedback_per_report_with_its_comments(engine):
    [row] = feedback_summary(engine, *MONTH).to_dicts()
    assert (row["responses"], row["readers"], row["ratings"], row["mean_rating"]) == (3, 2, 2, 4.0)
    assert row["useful_share"] == pytest.approx(2 / 3)
    assert row["comments"] == ["Shorter please", "Keep"]  # newest first


def test_delivery_effectiveness_per_channel(engine):
    november = ("2026-11-01", "2026-11-30")  # the report periods of the month
    table = {r["channel"]: r for r in delivery_effectiveness(engine, *november).to_dicts()}
    email = table["email"]
    # Sent at 12:00: the CEO opened at 14:00 (2 h), the CFO at 17:00 (5 h), the board never.
    assert (email["deliveries"], email["unopened"]) == (3, 1)
    assert email["median_hours_to_open"] == 3.5
    assert email["median_hours_to_ack"] == 8.0  # only the CEO acknowledged, at 20:00
    slack = table["slack"]  # a shared channel: the first reader's open counts
    assert (slack["deliveries"], slack["unopened"], slack["median_hours_to_open"]) == (1, 0, 2.0)
    assert delivery_effectiveness(engine, "2026-10-01", "2026-10-31").is_empty()
    assert delivery_success(engine, *november) == 1.0
    assert delivery_success(engine, "2026-10-01", "2026-10-31") is None


def test_the_performance_review_says_what_the_records_say_and_reads_back_from_its_pdf(
    engine, tmp_path, config_with
):
    settings = config_with(lambda c: None)
    sections = {"weekly_business_review": SECTIONS["weekly_business_review"]}
    levels = [{"measure": "Delivery success", "target": "met every day",
               "actual": "met on 2 of 2 days", "met": True, "why": ""},
              {"measure": "Report freshness", "target": "met every day",
               "actual": "met on 0 of 2 days", "met": False,
               "why": "daily_executive [2026-11-29] late: 2 h past its deadline"}]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("reporting_assets.reports.performance.report_sections", lambda s: sections)
        report = performance_review(settings, engine, "performance_review", date(2026, 11, 1),
                                    date(2026, 11, 30), service_levels=levels)  # fmt: skip
    cards = {k.key: k for k in report.kpis}
    assert cards["delivery_success"].value == 1.0 and cards["delivery_success"].status == "green"
    assert cards["readers"].value == 2 and cards["cobwebs"].value == 1
    assert cards["hours_to_open"].value == 3.5 and cards["hours_to_ack"].value == 8.0
    assert cards["mean_rating"].value == 4.0
    assert cards["service_levels_met"].value == 1 and cards["service_levels_met"].status == "red"
    asks = [a.what for a in report.decisions.asks]
    assert asks == [
        "Drop or merge the section nobody opened in 90 days",
        "Restore report freshness: met on 0 of 2 days this month",
    ]
    pdf = tmp_path / "review.pdf"
    render_pdf(report, {}, pdf)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    text = " ".join(text.split())
    for words in (
        "Delivery success",
        "100.0%",
        "Operations",
        "Shorter please",
        "Maya Chen",
        "Drop or merge the section nobody opened in 90 days",
        "met on 0 of 2 days",
    ):
        assert words in text, words


def test_a_service_level_is_met_for_the_month_only_when_every_day_met_it(engine):
    day = datetime(2026, 11, 2, 12, tzinfo=UTC)
    gen, ok = "slo_generation_time", "runs within target"
    rows = [(gen, "runs_within_target", "2026-11-01", True, ok),
            (gen, "runs_within_target", "2026-11-02", False, "daily_report_job took 6 min"),
            (gen, "runs_within_target", "2026-11-02", True, ok),  # re-evaluated: passed
            ("slo_delivery_success", "success_rate_met", "2026-11-01", True, "100%"),
            ("slo_delivery_success", "success_rate_met", "2026-11-02", False, "email 98.0%"),
            ("slo_delivery_success", "success_rate_met", "2026-10-31", False, "email 90.0%"),
            ("posthog_events", "complete", "2026-11-02", False, "all rows")]  # fmt: skip
    with engine.begin() as conn:
        for n, (asset, check, key, passed, words) in enumerate(rows):
            conn.execute(check_results.insert().values(
                asset=asset, check_name=check, partition_key=key, run_id=f"r{n}", passed=passed,
                severity="WARN", description=words,
                evaluated_at=day + timedelta(minutes=n)))  # fmt: skip
    month = [f"2026-11-{d:02d}" for d in range(1, 31)]
    levels = {s["measure"]: s for s in
              service_level_month(engine, [gen, "slo_delivery_success"], month)}  # fmt: skip
    assert set(levels) == {"Generation time", "Delivery success"}
    assert levels["Generation time"]["met"] is True  # the last evaluation of a day counts
    assert levels["Generation time"]["actual"] == "met on 2 of 2 days"
    missed = levels["Delivery success"]  # 31 October is not November
    assert (missed["met"], missed["actual"], missed["why"]) == (
        False, "met on 1 of 2 days", "email 98.0%")  # fmt: skip


def test_without_any_section_opened_the_review_asks_nothing_about_sections(tmp_path, config_with):
    """Nobody used the app's sections (readers read the PDF): that is not 22 unused sections."""
    engine = AppDatabase(sqlite_path=str(tmp_path / "empty.db")).engine
    report = performance_review(config_with(lambda c: None), engine, "performance_review",
                                date(2026, 11, 1), date(2026, 11, 29))  # fmt: skip
    cards = {k.key: k for k in report.kpis}
    assert cards["cobwebs"].value is None and cards["cobwebs"].status == "grey"
    assert cards["delivery_success"].value is None  # nothing delivered: not 0 %
    assert not report.decisions.asks
    [cobweb] = [s for s in report.sections if s.key == "cobwebs"]
    assert cobweb.table.is_empty() and "not measured yet" in cobweb.takeaway
