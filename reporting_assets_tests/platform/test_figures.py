"""The platform's service-level figures, worked by hand: which periods a day closes and when
they are due, run times, landing to delivery, delivery success and its causes, latency,
availability, and freshness judged by each period's first materialization."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reporting_assets.platform import figures as fig
from reporting_assets.platform.causes import BOUNCE, OTHER, REFUSED, TRANSIENT, failure_cause

NY = ZoneInfo("America/New_York")
CADENCES = {
    "daily_executive": "daily",
    "weekly_business_review": "weekly",
    "monthly_board_report": "monthly",
}
TARGETS = {"daily": 5, "weekly": 15, "monthly": 45}


def test_a_day_closes_its_own_day_the_week_on_saturday_and_the_month_on_its_last_day():
    assert fig.periods_ending_on(date(2026, 3, 10)) == {"daily": "2026-03-10"}
    assert fig.periods_ending_on(date(2026, 3, 14)) == {
        "daily": "2026-03-14",
        "weekly": "2026-03-08",
    }
    assert fig.periods_ending_on(date(2026, 2, 28)) == {
        "daily": "2026-02-28",
        "weekly": "2026-02-22",
        "monthly": "2026-02-01",
    }
    assert fig.periods_ending_on(date(2028, 2, 28)) == {"daily": "2028-02-28"}  # leap year
    assert len(fig.period_days("monthly", "2028-02-01")) == 29
    assert fig.period_days("weekly", "2026-03-08")[-1] == date(2026, 3, 14)


def test_deadlines_are_new_york_times_on_the_day_after_across_dst():
    # The daily report of Saturday 7 March is due at 07:30 on Sunday 8 March, the morning the
    # clocks go forward: 11:30 UTC (EDT), not 12:30.
    due = fig.deadline(date(2026, 3, 7), "30 7 * * *", "America/New_York")
    assert due.astimezone(UTC) == datetime(2026, 3, 8, 11, 30, tzinfo=UTC)
    assert fig.deadline(date(2026, 3, 14), "0 19 * * 0", "America/New_York") == datetime(
        2026, 3, 15, 19, 0, tzinfo=NY
    )
    assert fig.deadline(date(2026, 2, 28), "0 1 1 * *", "America/New_York").astimezone(
        UTC
    ) == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def test_jobs_have_the_cadence_and_report_their_names_say():
    assert fig.job_cadence("daily_report_job", CADENCES) == "daily"
    assert fig.job_cadence("monthly_board_report_delivery_job", CADENCES) == "monthly"
    assert fig.job_cadence("weekly_analytics_job", CADENCES) == "weekly"
    assert fig.job_cadence("platform_slo_job", CADENCES) is None
    assert fig.job_cadence("__ASSET_JOB", CADENCES) is None
    assert fig.job_report("weekly_report_job", CADENCES) == "weekly_business_review"
    assert fig.job_report("daily_executive_delivery_job", CADENCES) == "daily_executive"
    assert fig.job_report("daily_metrics_job", CADENCES) is None


def _run(job, partition, minutes, run_id="r"):
    start = datetime(2026, 3, 15, 11, 30, tzinfo=UTC)
    return fig.RunTiming(
        run_id, job, partition, "SUCCESS", start, start + timedelta(minutes=minutes)
    )


def test_generation_times_judge_each_run_for_the_periods_ending_on_the_day():
    runs = [
        _run("daily_report_job", "2026-03-14", 4.5, "a"),
        _run("daily_report_job", "2026-03-14", 6.0, "b"),  # slow
        _run("weekly_report_job", "2026-03-08", 14.0, "c"),
        _run("daily_report_job", "2026-03-13", 9.0, "d"),  # another day
        _run("monthly_report_job", "2026-03-01", 50.0, "e"),  # month not over on the 14th
        _run("platform_slo_job", "2026-03-14", 99.0, "f"),  # not a report job
        fig.RunTiming("g", "daily_report_job", "2026-03-14", "STARTED", None, None),
    ]
    frame = fig.generation_times(runs, date(2026, 3, 14), CADENCES, TARGETS)
    rows = {r["run_id"]: r for r in frame.iter_rows(named=True)}
    assert set(rows) == {"a", "b", "c"}
    assert rows["a"]["within_target"] and not rows["b"]["within_target"]
    assert rows["b"]["minutes"] == pytest.approx(6.0)
    assert rows["c"]["report"] == "weekly_business_review" and rows["c"]["target_minutes"] == 15


def test_landing_to_delivery_counts_from_the_data_the_delivery_carried():
    t0 = datetime(2026, 3, 15, 11, 30, tzinfo=UTC)
    landings = {
        ("daily_executive", "2026-03-14"): [t0, t0 + timedelta(minutes=2), t0 + timedelta(hours=5)]
    }
    sent = [
        {
            "report": "daily_executive",
            "cadence": "daily",
            "period": "2026-03-14",
            "channel": "email",
            "sent_at": t0 + timedelta(minutes=6),
        },
        {
            "report": "daily_executive",
            "cadence": "daily",
            "period": "2026-03-14",
            "channel": "slack",
            "sent_at": t0 + timedelta(minutes=92),
        },
    ]
    frame = fig.landing_to_delivery(landings, sent, {"daily": 60})
    rows = {r["channel"]: r for r in frame.iter_rows(named=True)}
    # A re-load five hours later does not count: it landed after both deliveries.
    assert rows["email"]["minutes"] == pytest.approx(4.0) and rows["email"]["within_target"]
    assert rows["slack"]["minutes"] == pytest.approx(90.0) and not rows["slack"]["within_target"]


def _row(report, channel, status, error=None):
    return {
        "report": report,
        "channel": channel,
        "status": status,
        "last_error": error,
        "provider_response": None,
    }


def test_delivery_success_per_channel_and_report_with_the_causes():
    rows = [_row("daily_executive", "email", "sent") for _ in range(199)]
    rows += [
        _row(
            "daily_executive",
            "email",
            "failed_permanent",
            "cfo@northwind.example: (550, b'5.1.1 <cfo@northwind.example>: user unknown')",
        ),
        _row("daily_executive", "email", "pending", "(451, b'4.3.0 try again later')"),
        _row("daily_executive", "slack", "sent"),
        _row("weekly_business_review", "teams", "failed_permanent", "teams: HTTP 404 gone"),
    ]
    frame, causes = fig.delivery_success(rows, 0.995)
    got = {(r["scope"], r["name"]): r for r in frame.iter_rows(named=True)}
    email = got[("channel", "email")]
    assert (email["sent"], email["failed"], email["open"]) == (199, 1, 1)
    assert email["success_rate"] == pytest.approx(0.995) and email["meets_target"]
    assert (
        got[("channel", "teams")]["success_rate"] == 0
        and not got[("channel", "teams")]["meets_target"]
    )
    assert got[("report", "daily_executive")]["success_rate"] == pytest.approx(200 / 201)
    assert not got[("report", "weekly_business_review")]["meets_target"]
    assert {(r["channel"], r["kind"], r["cause"]) for r in causes.iter_rows(named=True)} == {
        ("email", BOUNCE, "unknown recipient"),
        ("email", TRANSIENT, "temporary failure (4.3.0, retried)"),
        ("teams", REFUSED, "webhook not found (removed or mistyped)"),
    }


@pytest.mark.parametrize(
    ("answer", "kind", "cause"),
    [
        ("a@x.example: (550, b'5.1.1 user unknown')", BOUNCE, "unknown recipient"),
        ("b@x.example: (552, b'5.2.2 mailbox full')", BOUNCE, "mailbox full"),
        ("(554, b'5.7.1 relay denied')", BOUNCE, "rejected by the recipient's policy"),
        ("550 no such user here", BOUNCE, "mailbox unavailable"),
        ("(421, b'service closing')", TRANSIENT, "service not available"),
        ("slack: HTTP 404 no_service", REFUSED, "webhook not found (removed or mistyped)"),
        ("teams: HTTP 403 forbidden", REFUSED, "forbidden (check the webhook secret)"),
        ("webhook: HTTP 503 down", TRANSIENT, "HTTP 503 (server error)"),
        ("webhook: HTTP 429 slow down", TRANSIENT, "rate limited"),
        ("ConnectTimeout", TRANSIENT, "timed out"),
        ("ConnectionError", TRANSIENT, "could not connect"),
        (
            "not attempted: SMTP session refused: (554, b'5.7.1 sender blocked')",
            BOUNCE,
            "rejected by the recipient's policy",
        ),
        ("ConnectionRefusedError: [Errno 111]", TRANSIENT, "could not connect"),
        ("something odd", OTHER, "something odd"),
        (None, OTHER, "no reason recorded"),
    ],
)
def test_a_failure_cause_from_what_the_channel_answered(answer, kind, cause):
    assert failure_cause(answer) == (kind, cause)


def test_latency_percentile_and_availability():
    seconds = [0.2] * 94 + [1.9, 3.0, 3.0, 3.0, 3.0, 3.0]
    assert fig.percentile(seconds, 0.95) == 1.9  # the 95th of 100 values
    summary = fig.latency_summary(seconds, 0.95, 2.0)
    assert summary["within_target"] and summary["max_seconds"] == 3.0
    assert not fig.latency_summary([*seconds[:90], *[3.0] * 10], 0.95, 2.0)["within_target"]
    assert fig.latency_summary([], 0.95, 2.0)["within_target"]  # nothing measured: no miss
    day = [True] * 1436 + [False] * 4  # four minutes down out of 1,440
    assert fig.availability_summary(day, 0.995)["availability"] == pytest.approx(1436 / 1440)
    assert fig.availability_summary(day, 0.995)["meets_target"]
    assert not fig.availability_summary([True] * 1400 + [False] * 40, 0.995)["meets_target"]


def test_freshness_is_judged_by_the_first_materialization_against_the_periods_own_deadline():
    """A period first rendered after its deadline stays late whatever happens later (only the
    first materialization is passed in); a period still absent after its deadline is missing;
    before its deadline it is not due yet."""
    due = datetime(2026, 3, 11, 7, 30, tzinfo=NY)
    now = datetime(2026, 3, 16, 9, 0, tzinfo=NY)
    items = [
        {
            "report": "a_on_time",
            "period": "2026-03-10",
            "first_materialized": due - timedelta(minutes=20),
        },
        {
            "report": "b_late",
            "period": "2026-03-10",
            "first_materialized": due + timedelta(minutes=45),
        },
        {"report": "c_missing", "period": "2026-03-10", "first_materialized": None},
        {
            "report": "d_not_due",
            "period": "2026-03-16",
            "first_materialized": None,
            "deadline": datetime(2026, 3, 17, 7, 30, tzinfo=NY),
        },
    ]
    frame = fig.freshness([{"cadence": "daily", "deadline": due, **i} for i in items], now)
    got = {r["report"]: (r["status"], r["minutes_late"]) for r in frame.iter_rows(named=True)}
    assert got == {
        "a_on_time": (fig.ON_TIME, 0.0),
        "b_late": (fig.LATE, 45.0),
        "c_missing": (fig.MISSING, pytest.approx(5 * 24 * 60 + 90)),
        "d_not_due": (fig.NOT_DUE, 0.0),
    }
