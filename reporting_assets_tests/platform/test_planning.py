"""The quarterly backlog's and the annual review's plain figures, each against a hand count: the
comment classifier, the items and their scores, the ranking, month coverage, and the annual
parts (impact months on target, the ROI formula, service-level days, incidents, growth,
alignment with the initiatives)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from reporting_assets.analytics.impact import IMPACT_SCHEMA
from reporting_assets.config.platform import Investment
from reporting_assets.platform import annual, planning
from reporting_assets.platform.figures import RunTiming

NY = ZoneInfo("America/New_York")
Q = "Q4 2025"
TITLES = {"weekly_business_review": "Weekly Business Review"}


@pytest.mark.parametrize(
    ("comment", "asked"),
    [
        ("Please add churn by cohort.", "churn by cohort"),
        ("Would like to see the pipeline by region", "pipeline by region"),
        ("Missing: a cash runway view!", "cash runway view"),
        ("please show the NRR trend", "nrr trend"),
        ("Great report. Can we have a forecast band please?", "forecast band"),
        ("I'd like more detail on support costs", "detail on support costs"),
        ("Keep it as it is", None),
        ("Too long, shorter please", None),
        ("", None),
        (None, None),
    ],
)
def test_the_classifier_finds_what_a_comment_asks_for(comment, asked):
    assert planning.requested_item(comment) == asked


def test_requests_group_by_report_and_thing_and_score_two_per_reader():
    rows = [
        {
            "reader": "a",
            "report": "weekly_business_review",
            "comment": "Please add churn by cohort",
        },
        {"reader": "b", "report": "weekly_business_review", "comment": "add churn by cohort"},
        {"reader": "a", "report": "weekly_business_review", "comment": "Add churn by cohort!"},
        {"reader": "c", "report": "weekly_business_review", "comment": "Nice"},
    ]
    [item] = planning.content_requests(rows, TITLES)
    assert item["proposal"] == "Add to the Weekly Business Review: churn by cohort"
    assert item["score"] == 2 * 2 and item["basis"] == "2 × 2 asking reader"
    assert "asked by 2 readers in 3 comments" in item["evidence"]


def _relevance(rows):
    schema = {
        "report": pl.String,
        "section": pl.String,
        "opens": pl.Int64,
        "readers": pl.Int64,
        "mean_rating": pl.Float64,
        "useful_share": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_sections_to_drop_rework_or_whose_chart_few_open():
    w = "weekly_business_review"
    relevance = _relevance(
        [
            (w, "trends", 9, 5, 4.5, None),  # well read, well rated: nothing to do
            (w, "roi", 0, 0, None, None),  # nobody: drop or merge
            (w, "operations", 2, 1, 2.0, None),  # rarely opened and rated low: drop or merge
            (w, "scorecard", 3, 2, 4.0, None),  # rarely opened, carries a chart: rework the chart
            (w, "alerts", 8, 4, 2.5, None),  # well read but rated low: rework
        ]
    )
    low = {(w, "operations"): 2, (w, "alerts"): 1}
    charts = {(w, "scorecard"): ["mrr_trend"], (w, "roi"): ["roi_bars"]}
    items = planning.section_items(relevance, {w: 6}, low, charts, TITLES, Q)
    got = {i["proposal"]: (i["category"], i["score"]) for i in items}
    assert got == {
        "Drop or merge ROI in the Weekly Business Review": ("Drop or merge", 6),
        "Drop or merge Operations in the Weekly Business Review": ("Drop or merge", 5 + 2 * 2),
        "Rework or drop the chart of Scorecard in the Weekly Business Review": (
            "Rework a chart",
            4,
        ),
        "Rework Alerts in the Weekly Business Review": ("Rework a section", 2),
    }
    roi = next(i for i in items if "ROI" in i["proposal"])
    assert "nobody opened it in Q4 2025" in roi["evidence"] and "roi_bars" in roi["evidence"]
    # A report nobody read in the app says nothing about its sections.
    assert planning.section_items(relevance, {}, low, charts, TITLES, Q) == []


def _run(job, status, minutes, day=10, partition="2025-11-10"):
    start = datetime(2025, 11, day, 12, tzinfo=UTC)
    return RunTiming(
        f"{job}-{day}-{minutes}", job, partition, status, start, start + timedelta(minutes=minutes)
    )


def test_failing_and_slow_stages():
    runs = [
        _run("daily_report_job", "SUCCESS", 3),
        _run("daily_report_job", "SUCCESS", 7),
        _run("daily_report_job", "FAILURE", 1, day=12, partition="2025-11-12"),
        _run("platform_slo_job", "FAILURE", 1),  # no cadence: counted only as a failure
    ]
    items = planning.stage_items(runs, {"daily_executive": "daily"}, {"daily": 5}, Q)
    got = {i["proposal"]: i for i in items}
    assert set(got) == {
        "Fix daily_report_job",
        "Automate or speed up daily_report_job",
        "Fix platform_slo_job",
    }
    assert got["Fix daily_report_job"]["score"] == 3
    assert (
        "1 failed run of 3 in Q4 2025 (the last on 12 November"
        in (got["Fix daily_report_job"]["evidence"])
    )
    slow = got["Automate or speed up daily_report_job"]
    assert slow["score"] == 1 and "1 run of 3 over its 5-minute target" in slow["evidence"]
    assert "slowest 7.0 min, median 3.0 min" in slow["evidence"]


def test_delivery_problems_by_cause():
    def row(target, status, error, channel="email"):
        return {
            "report": "weekly_business_review",
            "channel": channel,
            "target": target,
            "status": status,
            "last_error": error,
            "provider_response": None,
        }

    rows = [
        row("cfo@x.example", "failed_permanent", "550 5.1.1 user unknown"),
        row("old@x.example", "failed_permanent", "550 5.1.1 user unknown"),
        row("coo@x.example", "pending", "421 4.7.0 try later"),
        row("ceo@x.example", "sent", None),
    ]
    items = {i["proposal"]: i for i in planning.delivery_items(rows, TITLES, Q)}
    bounce = items["Fix Email delivery: unknown recipient"]
    assert bounce["score"] == 3 * 2
    assert (
        "2 deliveries in Q4 2025 (2 refused for good, bounce) to 2 recipients"
        in (bounce["evidence"])
    )
    [pending] = [i for p, i in items.items() if p != "Fix Email delivery: unknown recipient"]
    assert pending["score"] == 1


def test_the_backlog_is_ranked_by_score_then_category():
    items = [
        planning._item("Add", "Add b", None, "", [("asking_reader", 1)]),  # 2
        planning._item("Fix delivery", "Fix a", None, "", [("pending_delivery", 2)]),  # 2
        planning._item("Fix a failing stage", "Fix c", None, "", [("failed_run", 2)]),  # 6
        planning._item("Drop or merge", "Drop d", None, "", [("skipping_reader", 0)]),  # 0
    ]
    table = planning.ranked(items)
    assert table.select("rank", "proposal", "score").rows() == [
        (1, "Fix c", 6),
        (2, "Fix a", 2),
        (3, "Add b", 2),
    ]


def test_a_month_is_complete_when_over_and_measured_every_day():
    months = [date(2025, 10, 1), date(2025, 11, 1), date(2025, 12, 1)]
    measured = {f"2025-11-{d:02d}" for d in range(1, 31)} | {"2025-12-01"}
    cover = planning.month_coverage(months, measured, due=date(2025, 12, 15))
    assert [(c["complete"], c["why"]) for c in cover] == [
        (False, "platform measured on 0 of 31 days"),
        (True, ""),
        (False, "not over: data through 15 December"),
    ]


def _impact(month, metric, status, rated, target=0.2, value=None, baseline=None):
    row = {k: None for k in IMPACT_SCHEMA}
    row.update(
        month=date.fromisoformat(month),
        metric=metric,
        status=status,
        rated=rated,
        target=target,
        value=value,
        baseline=baseline,
        reason="why",
    )
    return row


def test_framework_effectiveness_counts_months_on_target():
    impact = {
        m: pl.DataFrame(
            [_impact(m, "cost_optimization_realization", s, r)], schema=IMPACT_SCHEMA, orient="row"
        )
        for m, s, r in (
            ("2026-01-01", "green", 0.3),
            ("2026-02-01", "red", 0.05),
            ("2026-03-01", "grey", None),
        )
    }
    rows = annual.framework_effectiveness(impact, "2026")
    [year] = [r for r in rows if r["period"] == "2026"]
    assert (year["value"], year["target"], year["met"]) == (1.0, 2.0, False)
    assert year["detail"] == (
        "On track in 1 of 2 months rated; not on target in February; not rated in 1"
    )
    assert [r["met"] for r in rows if r["period"] != "2026"] == [True, False, None]


def test_the_return_on_the_reporting_investment_by_hand():
    invest = Investment(platform_usd_per_month=1000, people_hours_per_month=10, hourly_rate_usd=50)
    months = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    impact = {
        "2026-01-01": pl.DataFrame(
            [
                _impact(
                    "2026-01-01", "revenue_protection_share", "green", 0.5, value=0.6, baseline=0.4
                )
            ],
            schema=IMPACT_SCHEMA,
            orient="row",
        ),
        "2026-02-01": pl.DataFrame(
            [
                _impact(
                    "2026-02-01", "revenue_protection_share", "red", -0.5, value=0.2, baseline=0.4
                )
            ],
            schema=IMPACT_SCHEMA,
            orient="row",
        ),
    }
    kpis = {
        "2026-01-01": {"mrr_at_risk_flagged": 10_000.0, "revenue_recovered": 6_000.0},
        "2026-02-01": {"mrr_at_risk_flagged": 5_000.0, "revenue_recovered": 1_000.0},
    }
    savings = pl.DataFrame(
        {
            "realized_date": [date(2026, 2, 10), None, date(2026, 4, 1)],
            "realized_monthly_savings_usd": [800.0, None, 999.0],
        }
    )
    rows = {
        r["subject"]: r
        for r in annual.reporting_roi(
            invest, months, impact, kpis, savings, date(2026, 3, 15), "2026"
        )
    }
    cost = 3 * (1000 + 10 * 50)
    recovered = (6000 - 0.4 * 10_000) + (1000 - 0.4 * 5000)  # 2000 − 1000
    realized = 800 * 2  # February and March
    assert rows["Cost of the reporting"]["value"] == cost == 4500
    assert rows["Revenue recovered beyond the baseline"]["value"] == pytest.approx(recovered)
    assert rows["Savings realized"]["value"] == realized
    value = recovered + realized
    assert rows["Value attributed"]["value"] == pytest.approx(value)
    roi = rows["Return on the reporting investment"]
    assert roi["value"] == pytest.approx((value - cost) / cost) and roi["met"] is False


def test_service_level_days_incidents_and_growth():
    at = datetime(2026, 1, 5, tzinfo=UTC)
    results = [
        {
            "asset": "slo_availability",
            "check_name": "availability_met",
            "partition_key": "2026-01-02",
            "passed": False,
            "evaluated_at": at,
        },
        {
            "asset": "slo_availability",
            "check_name": "availability_met",
            "partition_key": "2026-01-02",
            "passed": True,
            "evaluated_at": at + timedelta(1),
        },
        {
            "asset": "slo_availability",
            "check_name": "availability_met",
            "partition_key": "2026-01-03",
            "passed": False,
            "evaluated_at": at,
        },
    ]
    [slo] = annual.slo_history(results, ["2026-01-01", "2026-01-02", "2026-01-03"], "2026")
    assert (slo["subject"], slo["value"], slo["target"], slo["met"]) == (
        "Availability",
        1.0,
        2.0,
        False,
    )
    months = [date(2026, 1, 1), date(2026, 2, 1)]
    runs = [
        _run("daily_report_job", "FAILURE", 1),
        RunTiming(
            "r",
            "weekly_report_job",
            "2026-02-01",
            "FAILURE",
            datetime(2026, 2, 2, 4, tzinfo=UTC),
            datetime(2026, 2, 2, 5, tzinfo=UTC),
        ),
    ]
    by = {r["period"]: r["value"] for r in annual.incidents(runs, months, "2026")}
    assert by == {"2026-01-01": 0.0, "2026-02-01": 1.0, "2026": 2.0}
    sent = [datetime(2026, 1, 10, tzinfo=UTC)] * 4 + [datetime(2026, 2, 1, 3, tzinfo=UTC)] * 2
    events = {"2026-01-01": 100, "2026-01-31": 100, "2026-02-01": 300}
    rows = annual.volume_growth(events, sent, months, 1000.0, NY)
    got = {(r["subject"], r["period"]): (r["value"], r["detail"]) for r in rows}
    # 1 February 03:00 UTC is still 31 January in New York.
    assert got[("Reports delivered", "2026-01-01")][0] == 6
    assert got[("Reports delivered", "2026-02-01")] == (0, "−100.0% on the month before")
    assert got[("Events loaded", "2026-02-01")] == (300, "+50.0% on the month before")
    assert got[("Cost per report delivered", "2026-01-01")][0] == pytest.approx(1000 / 6)
    assert got[("Cost per report delivered", "2026-02-01")][0] is None


def test_each_initiative_is_aligned_when_a_delivered_report_shows_it_and_its_ledger_books():
    reports = {
        "weekly_business_review": {
            "title": "Weekly Business Review",
            "sections": ["summary", "initiatives"],
            "deck_sections": {"vp_operations": ["initiatives"]},
        },
        "daily_executive": {"title": "Daily Executive Report", "sections": ["summary"]},
    }
    initiatives = pl.DataFrame(
        {
            "initiative_id": ["i1", "i2", "i3"],
            "name": ["Pricing", "Self-serve", "Old CRM"],
            "start_date": [date(2025, 6, 1), date(2026, 2, 1), date(2024, 1, 1)],
            "actual_end_date": [None, None, date(2025, 6, 30)],
        }
    )
    ledger = pl.DataFrame(
        {
            "initiative_id": ["i1", "i1", "i2"],
            "month_start": [date(2025, 12, 1), date(2026, 1, 1), date(2025, 12, 1)],
            "spend_usd": [5.0, 10.0, 7.0],
            "realized_benefit_usd": [0.0, 4.0, None],
        }
    )
    rows = annual.alignment(
        reports,
        initiatives,
        ledger,
        {"weekly_business_review": 3},
        date(2026, 1, 1),
        date(2026, 3, 15),
        "2026",
    )
    got = {r["subject"]: r for r in rows}
    assert set(got) == {"Pricing", "Self-serve"}  # Old CRM ended before the year
    assert got["Pricing"]["met"] is True and got["Pricing"]["value"] == 2
    assert "1 month booked, $10 spent, $4 benefit" in got["Pricing"]["detail"]
    assert got["Self-serve"]["met"] is False  # nothing booked this year
    assert (
        "Weekly Business Review (section Initiatives, VP operations deck, delivered 3 times)"
        in (got["Pricing"]["detail"])
    )
