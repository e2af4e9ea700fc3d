"""The business-impact metrics: ratings at 0 %, just below, at and above target for direct and
relative metrics both ways, the words for a metric that is not rated, the baseline before
go-live (and the config error for one that is not), and decision speed from hand-written
deliveries and acknowledgements."""

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import yaml

from reporting_assets.analytics import impact
from reporting_assets.analytics.impact import Figure, ImpactMetric, impact_row
from reporting_assets.config import DEFAULT_CONFIG, ConfigError, load_settings
from reporting_assets.config.business import ImpactTargets
from reporting_assets.records.acks import acknowledge
from reporting_assets.records.delivery_rows import SENT, deliveries
from reporting_assets.resources.app_db import AppDatabase

MONTH = date(2026, 3, 1)
NY = ZoneInfo("America/New_York")
# Targets as in the demo config, with the tolerances spelled out.
TARGETS = ImpactTargets(
    go_live=date(2026, 2, 1),
    baseline_start=date(2026, 1, 1),
    baseline_months=1,
    tolerance={"decision_speed": 0.05, "revenue_protection": 0.05, "initiative_success": 0.10},
)


def _rate(metric, now, base=None, targets=TARGETS):
    row = impact_row(
        MONTH,
        metric,
        Figure(now, "not measured"),
        None if base is None else Figure(base),
        targets,
        "by hand",
    )
    return row["status"], row


# -- direct metrics: the rate itself against the target -------------------------------------


@pytest.mark.parametrize(
    ("rate", "status"),
    [
        (0.0, "red"),  # 0 %: Off track (it used to read Watch)
        (0.69, "red"),  # 11 points short: beyond the 10-point tolerance
        (0.70, "amber"),  # exactly the tolerance short
        (0.79, "amber"),  # just below the target
        (0.80, "green"),  # at the target
        (1.00, "green"),  # above it
    ],
)
def test_a_direct_rate_is_rated_against_its_target_both_ways(rate, status):
    got, row = _rate("initiative_success_rate", rate)
    assert got == status
    assert row["rated"] == rate and row["improvement"] is None and row["baseline"] is None
    assert row["comparison"] == "direct" and row["target_text"] == "80.0% or more"
    assert row["change_text"] is None  # a rate is not an improvement over anything


def test_a_direct_rate_without_a_tolerance_gets_ten_percent_of_its_target():
    # cost realization: target 20 %, no tolerance in TARGETS: Watch down to 18 %.
    assert _rate("cost_optimization_realization", 0.0)[0] == "red"
    assert _rate("cost_optimization_realization", 0.18)[0] == "amber"
    assert _rate("cost_optimization_realization", 0.179)[0] == "red"
    assert _rate("cost_optimization_realization", 0.20)[0] == "green"
    assert _rate("cost_optimization_realization", 0.35)[0] == "green"


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.0, "green"), (0.05, "green"), (0.055, "amber"), (0.06, "amber"), (0.07, "red")],
)
def test_a_direct_lower_is_better_rate(value, status):
    # A hypothetical direct metric where less is better: at most 5 %, Watch up to 6 %.
    m = ImpactMetric("late_reports_share", "late_reports", "ratio", False, "lower_is_better")
    targets = SimpleNamespace(late_reports=0.05, tolerance={"late_reports": 0.01})
    got, row = _rate(m, value, targets=targets)
    assert got == status and row["target_text"] == "5.0% or less"


# -- relative metrics: the improvement over the baseline against the target ------------------


@pytest.mark.parametrize(
    ("hours", "status", "improvement", "change"),
    [
        (40.0, "red", 0.0, "0.0% faster"),  # 0 % faster than the baseline
        (48.0, "red", -0.2, "20.0% slower"),  # worse than the baseline
        (31.2, "amber", 0.22, "22.0% faster"),  # just below the 25 % target
        (32.0, "amber", 0.20, "20.0% faster"),  # exactly the tolerance short
        (32.4, "red", 0.19, "19.0% faster"),  # beyond it
        (30.0, "green", 0.25, "25.0% faster"),  # at the target
        (10.0, "green", 0.75, "75.0% faster"),  # above it
    ],
)
def test_decision_speed_lower_is_better_against_its_baseline(hours, status, improvement, change):
    got, row = _rate("executive_decision_speed_hours", hours, base=40.0)
    assert got == status
    assert row["improvement"] == pytest.approx(improvement) and row["rated"] == row["improvement"]
    assert row["change_text"] == change
    assert row["target_text"] == "25.0% faster than the baseline"


@pytest.mark.parametrize(
    ("share", "status"),
    [
        (0.50, "red"),
        (0.40, "red"),
        (0.55, "amber"),
        (0.57, "amber"),
        (0.575, "green"),
        (0.70, "green"),
    ],
)
def test_revenue_protection_higher_is_better_against_its_baseline(share, status):
    # Baseline 50 % recovered; target 15 % more (57.5 %), Watch from 10 % more (55 %).
    assert _rate("revenue_protection_share", share, base=0.5)[0] == status


def test_a_metric_not_rated_says_why():
    status, row = _rate("executive_decision_speed_hours", None, base=40.0)
    assert status == "grey" and row["reason"] == "not measured"
    no_base = impact_row(
        MONTH,
        "executive_decision_speed_hours",
        Figure(3.0),
        Figure(None, "nothing delivered was acknowledged in January 2026"),
        TARGETS,
        "x",
    )
    assert no_base["status"] == "grey" and no_base["value"] == 3.0
    assert no_base["reason"] == "nothing delivered was acknowledged in January 2026"
    zero = impact_row(MONTH, "revenue_protection_share", Figure(0.4), Figure(0.0), TARGETS, "x")
    assert zero["status"] == "grey" and "baseline is 0" in zero["reason"]


def test_a_status_that_does_not_follow_from_the_figures_is_a_problem():
    rows = [
        _rate("initiative_success_rate", 0.0)[1],
        _rate("executive_decision_speed_hours", 30.0, base=40.0)[1],
    ]
    table = pl.DataFrame(rows, schema=impact.IMPACT_SCHEMA, orient="row")
    assert impact.status_problems(table) == []
    forged = table.with_columns(status=pl.lit("amber"))
    assert [p.split(":")[0] for p in impact.status_problems(forged)] == [
        "initiative_success_rate",
        "executive_decision_speed_hours",
    ]


# -- the baseline lies before go-live ---------------------------------------------------------


def test_the_default_baseline_is_the_whole_months_before_go_live():
    t = ImpactTargets(go_live=date(2026, 8, 23), baseline_months=3)
    assert t.baseline(date(2026, 12, 1)) == (date(2026, 5, 1), date(2026, 7, 31))
    demo = ImpactTargets(go_live="100 days ago")
    assert demo.go_live_day(date(2026, 12, 1)) == date(2026, 8, 23)
    assert demo.baseline(date(2026, 12, 1)) == (date(2026, 5, 1), date(2026, 7, 31))
    assert ImpactTargets().baseline(date(2026, 12, 1)) is None  # no go-live: no baseline
    ok = ImpactTargets(go_live=date(2026, 8, 1), baseline_start=date(2026, 5, 1))
    assert ok.baseline(date(2026, 12, 1)) == (date(2026, 5, 1), date(2026, 7, 31))


def _config(tmp_path, **impact_keys):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["impact"].update(impact_keys)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (
            {"go_live": date(2026, 8, 23), "baseline_start": date(2026, 6, 1)},
            "baseline_start June 2026 with baseline_months 3 ends on 2026-08-31, not before "
            "go_live (2026-08-23)",
        ),
        ({"go_live": date(2026, 8, 1), "baseline_start": date(2026, 6, 1)}, "not before go_live"),
        (
            {"go_live": "100 days ago", "baseline_start": date(2026, 1, 1)},
            "baseline_start needs go_live as a date",
        ),
        (
            {"go_live": None, "baseline_start": date(2026, 1, 1)},
            "baseline_start needs go_live as a date",
        ),
    ],
)
def test_a_baseline_that_ends_after_go_live_is_refused_naming_file_and_key(tmp_path, keys, problem):
    path = _config(tmp_path, **keys)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}: impact: "), err.value
    assert problem in str(err.value)


def test_a_tolerance_for_an_unknown_metric_is_refused(tmp_path):
    path = _config(tmp_path, tolerance={"decision_sped": 0.1})
    with pytest.raises(ConfigError, match=r"impact\.tolerance\.decision_sped"):
        load_settings(path)


# -- the month's figures from the raw deliveries and acknowledgements --------------------------


def _deliver(engine, report, period, sent, readers):
    with engine.begin() as conn:
        conn.execute(
            deliveries.insert(),
            [
                dict(
                    report=report,
                    period=period,
                    channel="email",
                    target=r,
                    generation=0,
                    status=SENT,
                    attempts=1,
                    created_at=sent,
                    updated_at=sent,
                    sent_at=sent,
                )
                for r in readers
            ],
        )


def _utc(y, m, d, h):
    return datetime(y, m, d, h, tzinfo=UTC)


CEO, CFO, COO = "ceo@northwind.example", "cfo@northwind.example", "coo@northwind.example"


def acks_by_hand(engine) -> dict:
    """Baseline January 2026: two weekly packs; March 2026: two daily reports."""
    _deliver(engine, "weekly_business_review", "2026-01-04", _utc(2026, 1, 5, 14), [CEO, CFO])
    acknowledge(
        engine, "report", "weekly_business_review", "2026-01-04", CEO, at=_utc(2026, 1, 6, 20)
    )  # 30 h: the first, the one that counts
    acknowledge(
        engine, "report", "weekly_business_review", "2026-01-04", CFO, at=_utc(2026, 1, 7, 16)
    )  # 50 h: not the first
    _deliver(engine, "weekly_business_review", "2026-01-11", _utc(2026, 1, 12, 14), [COO])
    acknowledge(
        engine, "report", "weekly_business_review", "2026-01-11", COO, at=_utc(2026, 1, 14, 8)
    )  # 42 h
    _deliver(engine, "daily_executive", "2026-03-10", _utc(2026, 3, 11, 11), [CEO])
    acknowledge(
        engine, "report", "daily_executive", "2026-03-10", CEO, at=_utc(2026, 3, 11, 14)
    )  # 3 h
    _deliver(engine, "daily_executive", "2026-03-11", _utc(2026, 3, 12, 11), [CFO])
    acknowledge(
        engine, "report", "daily_executive", "2026-03-11", CFO, at=_utc(2026, 3, 12, 17)
    )  # 6 h
    return {"baseline": (30 + 42) / 2, "month": (3 + 6) / 2}


def test_decision_speed_is_the_median_first_acknowledgement_of_each_window(tmp_path):
    engine = AppDatabase(sqlite_path=str(tmp_path / "app.db")).engine
    hand = acks_by_hand(engine)
    base = impact.decision_hours(engine, date(2026, 1, 1), date(2026, 1, 31), NY)
    month = impact.decision_hours(engine, date(2026, 3, 1), date(2026, 3, 31), NY)
    assert base.value == pytest.approx(hand["baseline"]) and month.value == pytest.approx(4.5)
    feb = impact.decision_hours(engine, date(2026, 2, 1), date(2026, 2, 28), NY)
    assert feb.value is None and feb.why_none == (
        "nothing delivered was acknowledged in February 2026"
    )


def test_monthly_impact_by_hand(tmp_path):
    engine = AppDatabase(sqlite_path=str(tmp_path / "app.db")).engine
    hand = acks_by_hand(engine)

    def kpis(at_risk, recovered, complete=True):
        return pl.DataFrame(
            {
                "metric": ["mrr_at_risk_flagged", "revenue_recovered"],
                "value": [at_risk, recovered],
                "complete": [complete] * 2,
                "days_counted": [15] * 2,
            }
        )

    frames = {"2026-01-01": kpis(1000.0, 500.0), "2026-03-01": kpis(2000.0, 1120.0)}
    savings = pl.DataFrame(
        {"monthly_savings_usd": [600.0, 400.0], "realized_monthly_savings_usd": [None, None]}
    )
    planned = [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 10),
        date(2026, 3, 14),
        date(2026, 3, 15),
        date(2026, 6, 30),
    ]  # the last not yet due
    actual = [date(2026, 1, 30), date(2026, 2, 28), date(2026, 3, 9), None, date(2026, 3, 15), None]
    initiatives = pl.DataFrame({"planned_end_date": planned, "actual_end_date": actual})
    table, notes = impact.monthly_impact(
        MONTH,
        date(2026, 3, 31),
        date(2026, 3, 15),
        TARGETS,
        date(2026, 3, 16),
        frames,
        savings,
        initiatives,
        engine,
        NY,
    )
    rows = {r["metric"]: r for r in table.iter_rows(named=True)}
    speed = rows["executive_decision_speed_hours"]
    assert (speed["value"], speed["baseline"]) == (hand["month"], hand["baseline"])
    assert speed["improvement"] == pytest.approx(1 - 4.5 / 36) and speed["status"] == "green"
    protection = rows["revenue_protection_share"]
    assert (protection["value"], protection["baseline"]) == (0.56, 0.5)
    assert protection["improvement"] == pytest.approx(0.12) and protection["status"] == "amber"
    cost = rows["cost_optimization_realization"]
    assert cost["value"] == 0.0 and cost["status"] == "red"  # 0 % realized: Off track
    success = rows["initiative_success_rate"]
    assert success["value"] == 0.8 and success["status"] == "green"  # 4 of the 5 due
    assert "of the 5 due by 15 March 2026" in success["basis"]
    assert notes == {
        "go_live": "2026-02-01",
        "baseline": "January 2026",
        "baseline_left_out": "none",
    }
    assert impact.status_problems(table) == []
    # The baseline month's KPIs with days missing: left out, and revenue protection says why.
    frames["2026-01-01"] = kpis(1000.0, 500.0, complete=False)
    table, notes = impact.monthly_impact(
        MONTH,
        date(2026, 3, 31),
        date(2026, 3, 15),
        TARGETS,
        date(2026, 3, 16),
        frames,
        savings,
        initiatives,
        engine,
        NY,
    )
    protection = table.filter(pl.col("metric") == "revenue_protection_share").row(0, named=True)
    assert protection["status"] == "grey" and protection["reason"] == (
        "no complete monthly KPIs for the baseline months (January 2026)"
    )
    assert notes["baseline_left_out"] == "January 2026 (days missing)"
    # A month before go-live is not compared with the baseline; without go-live nothing is.
    jan, _ = impact.monthly_impact(
        date(2026, 1, 1),
        date(2026, 1, 31),
        date(2026, 1, 31),
        TARGETS,
        date(2026, 3, 16),
        frames,
        None,
        None,
        engine,
        NY,
    )
    assert set(jan["status"]) == {"grey"}
    assert "January 2026 is before go-live (1 February 2026)" in jan["reason"][0]
    unset, _ = impact.monthly_impact(
        MONTH,
        date(2026, 3, 31),
        date(2026, 3, 15),
        ImpactTargets(),
        date(2026, 3, 16),
        frames,
        savings,
        initiatives,
        engine,
        NY,
    )
    assert unset["reason"][0] == (
        "no go-live date in config (impact.go_live), so no baseline before it"
    )


def test_acknowledgements_made_today_count_in_the_month_in_progress(tmp_path):
    engine = AppDatabase(sqlite_path=str(tmp_path / "app.db")).engine
    now = datetime.now(UTC)
    _deliver(engine, "daily_executive", "2026-03-15", now - timedelta(hours=2), [CEO])
    acknowledge(engine, "report", "daily_executive", "2026-03-15", CEO, at=now)
    today = now.astimezone(NY).date()
    month = impact.decision_hours(engine, today.replace(day=1), today, NY)
    assert month.value == pytest.approx(2.0)


def test_the_report_says_what_is_short_and_why_a_metric_is_not_rated():
    from reporting_assets.reports.impact_content import impact_section, impact_takeaway

    rows = [
        _rate("executive_decision_speed_hours", 10.0, base=40.0)[1],
        impact_row(MONTH, "revenue_protection_share", Figure(0.6),
                   Figure(None, "no complete monthly KPIs for the baseline months (January 2026)"),
                   TARGETS, "x"),
        _rate("cost_optimization_realization", 0.0)[1],
        _rate("initiative_success_rate", 0.75)[1],
    ]  # fmt: skip
    table = pl.DataFrame(rows, schema=impact.IMPACT_SCHEMA, orient="row")
    assert impact_takeaway(table) == (
        "Business impact: 1 of 3 rated targets met; Identified savings realized 0.0% against "
        "20.0% or more (Off track), Initiatives finished on plan 75.0% against 80.0% or more "
        "(Watch); not rated: At-risk revenue recovered (no complete monthly KPIs for the "
        "baseline months (January 2026))."
    )
    section = impact_section(table)
    shown = section.table.select("label", "change_text", "target_text", "rating").rows()
    assert shown[0] == (
        "Executive decision speed (hours)", "75.0% faster", "25.0% faster than the baseline",
        "On track")  # fmt: skip
    assert shown[2][1] is None and shown[2][3] == "Off track"  # a rate, not a change
    assert shown[1][3] == "Not rated"
