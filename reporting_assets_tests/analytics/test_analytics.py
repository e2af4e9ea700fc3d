"""Weekly and monthly analytics against hand-computed expectations, and the models against their
naive baselines on a 14-month demo company (and on a deliberately broken series)."""

from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from reporting_assets.analytics import models, monthly, recommend, weekly
from reporting_assets.config import get_settings
from reporting_assets.config.models import RecommendationRule
from reporting_assets_tests.conftest import label

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

WEEK = date(2026, 3, 8)


# -- weekly --------------------------------------------------------------------------------------


def test_streak_and_its_words():
    assert weekly.streak([5, 4, 3, 2]) == -3
    assert weekly.streak_text(-3) == "third week down"
    assert weekly.streak([1, 2, 1, 2, 3]) == 2
    assert weekly.streak([1, 1]) == 0 and weekly.streak_text(0) == "flat"
    assert weekly.streak([None, 2, 3]) == 1


def test_trend_slope_and_significance_by_hand():
    # y = 10 + 2x exactly: slope 2, p ≈ 0; a flat noisy series is not significant.
    b, p = weekly.slope([10, 12, 14, 16, 18])
    assert b == pytest.approx(2.0) and p < 1e-6
    b, p = weekly.slope([10, 12, 9, 11, 10])
    assert b == pytest.approx(-0.1) and p > 0.5
    weeks = {WEEK - timedelta(weeks=k): {"mrr": 1000.0 - 10 * k, "total_cost": 50.0}
             for k in range(8)}  # fmt: skip
    t = weekly.metric_trends(weeks, WEEK, window=8, alpha=0.05)
    mrr = t.filter(pl.col("metric") == "mrr").row(0, named=True)
    assert (mrr["value"], mrr["previous"], mrr["wow_change"]) == (1000.0, 990.0, 10.0)
    assert mrr["moving_avg_4w"] == pytest.approx((1000 + 990 + 980 + 970) / 4)
    assert mrr["slope_per_week"] == pytest.approx(10.0) and mrr["significant"]
    assert mrr["window_complete"] and mrr["streak_text"] == "seventh week up"
    assert t.filter(pl.col("metric") == "total_cost")["streak_text"][0] == "flat"


def test_a_trend_over_a_window_with_a_gap_is_never_significant():
    weeks = {WEEK - timedelta(weeks=k): {"mrr": 1000.0 - 10 * k} for k in range(8)}
    gap = WEEK - timedelta(weeks=3)
    missing = weekly.metric_trends({w: v for w, v in weeks.items() if w != gap}, WEEK,
                                   window=8, alpha=0.05)  # fmt: skip
    mrr = missing.filter(pl.col("metric") == "mrr").row(0, named=True)
    assert mrr["slope_per_week"] == pytest.approx(10.0) and not mrr["significant"]
    assert not mrr["window_complete"] and mrr["weeks_in_trend"] == 7
    # An incomplete week (a day missing) is shown but kept out of the slope and the streak: its
    # understated value would otherwise bend the trend.
    skewed = {**weeks, gap: {"mrr": 500.0}}
    t = weekly.metric_trends(skewed, WEEK, window=8, alpha=0.05, incomplete={gap})
    mrr = t.filter(pl.col("metric") == "mrr").row(0, named=True)
    assert mrr["slope_per_week"] == pytest.approx(10.0) and not mrr["significant"]
    assert mrr["streak_text"] == "second week up"  # the gap ends the streak


def test_scorecard_status_and_score_by_hand():
    s = get_settings()
    values = {
        "net_new_mrr": 3500.0,  # target 500/day × 7 = 3,500: attainment 1.0, green (weight 3)
        "payment_failure_rate": 0.044,  # 0.04 / 0.044 = 0.909: amber (weight 2)
        "payment_recovery_rate": 0.5,  # 0.5 / 0.65 = 0.769: red (weight 2)
        "first_response_sla_rate": 0.96,  # green (weight 2)
        "mttr_hours": None,  # nothing resolved: grey, left out of the score (weight 1)
        "pipeline_success_rate": 0.98,  # green (weight 1)
    }
    card = weekly.scorecard(values, None, s, WEEK)
    status = dict(zip(card["metric"], card["status"], strict=True))
    assert status == {"net_new_mrr": "green", "payment_failure_rate": "amber",
                      "payment_recovery_rate": "red", "first_response_sla_rate": "green",
                      "mttr_hours": "grey", "pipeline_success_rate": "green",
                      "overall": "amber"}  # fmt: skip
    # (3×1 + 2×0.5 + 2×0 + 2×1 + 1×1) / (3 + 2 + 2 + 2 + 1) × 100 = 70
    overall = card.filter(pl.col("metric") == "overall").row(0, named=True)
    assert overall["value"] == pytest.approx(70.0)
    assert overall["status"] == "amber"  # 60 ≤ 70 < 80
    assert card.filter(pl.col("metric") == "net_new_mrr")["target"][0] == 3500.0
    assert card.filter(pl.col("metric") == "mttr_hours")["contribution"][0] is None
    # Next week the recovery rate recovers: +20 points, the biggest mover.
    better = weekly.scorecard({**values, "payment_recovery_rate": 0.7}, card, s, WEEK)
    moved = weekly.score_movers(better, {m: s.metrics[m].label for m in s.metrics})
    assert moved[0].startswith("Payment recovery rate +20.0 points")


def _initiatives():
    ini = pl.DataFrame({
        "initiative_id": ["a", "b", "c", "d"], "name": ["A", "B", "C", "D"],
        "owner": ["x@n.example"] * 4,
        "start_date": [date(2026, 1, 1)] * 4,
        "planned_end_date": [date(2026, 2, 1), date(2026, 2, 1), date(2026, 6, 1),
                             date(2026, 6, 1)],
        "actual_end_date": [date(2026, 1, 30), date(2026, 2, 11), None, None],
        "investment_usd": [1000.0] * 4, "expected_annual_benefit_usd": [12_000.0] * 4,
    })  # fmt: skip
    ms = pl.DataFrame({
        "initiative_id": ["c", "c", "d", "d"], "milestone_id": ["M1", "M2", "M1", "M2"],
        "milestone": ["Design", "Build"] * 2,
        "planned_date": [date(2026, 2, 1), date(2026, 5, 1), date(2026, 2, 1), date(2026, 5, 1)],
        "actual_date": [date(2026, 2, 1), None, None, None],
    })  # fmt: skip
    return ini, ms


def test_initiative_progress_statuses():
    ini, ms = _initiatives()
    p = weekly.initiative_progress(ini, ms, WEEK, date(2026, 3, 14))
    rows = {r["initiative_id"]: r for r in p.iter_rows(named=True)}
    assert rows["a"]["status"] == "done" and rows["b"]["status"] == "done late"
    assert rows["c"]["status"] == "on track" and rows["c"]["percent_complete"] == 0.5
    assert rows["d"]["status"] == "behind"
    assert rows["d"]["schedule_variance_days"] == (date(2026, 3, 14) - date(2026, 2, 1)).days
    assert "Design was due 1 February 2026" in rows["d"]["reason"]


def test_an_initiative_with_every_milestone_reached_is_done_not_behind():
    """All its milestones reached but no end date recorded, past its planned end: done (late
    when the last milestone came after the planned end), never "4 of 4 reached, behind"."""
    ini, ms = _initiatives()
    ini = ini.with_columns(actual_end_date=pl.lit(None, pl.Date))
    ms = ms.with_columns(
        actual_date=pl.Series(
            [date(2026, 2, 1), date(2026, 4, 20), date(2026, 1, 20), date(2026, 1, 25)]
        )
    )
    ms = ms.with_columns(initiative_id=pl.Series(["a", "a", "b", "b"]))  # planned end 1 Feb
    p = weekly.initiative_progress(ini, ms, WEEK, date(2026, 5, 2))
    rows = {r["initiative_id"]: r for r in p.iter_rows(named=True)}
    assert rows["a"]["status"] == "done late" and rows["a"]["milestones_done"] == 2
    assert rows["a"]["reason"] == ("all 2 milestones reached, the last on 20 April 2026, "
                                   "78 days after the planned end")  # fmt: skip
    assert rows["b"]["status"] == "done"
    assert rows["b"]["reason"] == "all 2 milestones reached, the last on 25 January 2026"


def test_roi_by_hand():
    ini, _ = _initiatives()
    ledger = pl.DataFrame({
        "initiative_id": ["a", "a", "a", "b"],
        "month_start": [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 1, 1)],
        "spend_usd": [600.0, 400.0, 0.0, 500.0],
        "realized_benefit_usd": [0.0, 900.0, 1100.0, 0.0],
    })  # fmt: skip
    r = weekly.roi(ini, ledger, WEEK, date(2026, 3, 14))
    a = r.filter(pl.col("initiative_id") == "a").row(0, named=True)
    assert a["investment_to_date"] == 1000.0 and a["realized_benefit_to_date"] == 2000.0
    assert a["roi"] == pytest.approx(1.0)  # (2000 − 1000) / 1000
    assert a["payback_months"] == pytest.approx(1000 / 1000)  # mean of 900 and 1100
    # Live from February (its planned end): two booked months (Feb, Mar) × $1,000 expected.
    assert a["expected_benefit_to_date"] == pytest.approx(2000.0)
    total = r.filter(pl.col("initiative_id") == "total").row(0, named=True)
    assert total["investment_to_date"] == 1500.0 and total["roi"] == pytest.approx(500 / 1500)


# -- monthly -------------------------------------------------------------------------------------


def _history():
    """Four accounts over March: one new, one expands, one churns, one comes back."""
    d = date
    rows = [
        ("new", "active", 100.0, d(2026, 3, 10), None),
        ("grow", "active", 200.0, d(2026, 1, 1), d(2026, 3, 5)),
        ("grow", "active", 300.0, d(2026, 3, 5), None),
        ("gone", "active", 150.0, d(2026, 1, 1), d(2026, 3, 20)),
        ("gone", "churned", 0.0, d(2026, 3, 20), None),
        ("back", "active", 80.0, d(2025, 12, 1), d(2026, 1, 15)),
        ("back", "churned", 0.0, d(2026, 1, 15), d(2026, 3, 25)),
        ("back", "active", 90.0, d(2026, 3, 25), None),
    ]
    return pl.DataFrame(rows, schema={"account_id": pl.String, "status": pl.String,
                                      "mrr": pl.Float64, "valid_from": pl.Date,
                                      "valid_to": pl.Date}, orient="row")  # fmt: skip


def test_mrr_bridge_by_hand():
    b = monthly.mrr_bridge(_history(), date(2026, 3, 1), date(2026, 3, 31))
    assert b["opening_mrr"] == 350.0  # grow 200 + gone 150
    assert (b["new_mrr"], b["reactivation_mrr"], b["expansion_mrr"]) == (100.0, 90.0, 100.0)
    assert (b["contraction_mrr"], b["churned_mrr"]) == (0.0, 150.0)
    assert b["closing_mrr"] == 490.0 == 350 + 100 + 90 + 100 - 0 - 150
    assert (b["paying_accounts_open"], b["paying_accounts"], b["churned_accounts"]) == (2, 3, 1)


def test_benchmark_percentiles():
    assert monthly.percentile_of(0.25, 0.12, 0.25, 0.42, 0.65) == 50.0
    assert monthly.percentile_of(0.335, 0.12, 0.25, 0.42, 0.65) == pytest.approx(62.5)
    # Lower is better (CAC payback 26 → 9 months): 13 months is the 75th percentile.
    assert monthly.percentile_of(13, 26, 18, 13, 9) == pytest.approx(75.0)
    assert monthly.percentile_of(40, 26, 18, 13, 9) == 0.0
    assert monthly.position(96) == "top decile" and monthly.position(None) == "not measured"
    assert monthly.annualized([0.99] * 12) == pytest.approx(0.99**12)


def test_recommendations_ranked_and_traced():
    rules = [
        RecommendationRule(name="dunning", metric="recovery", label="Recovery", comparison="below",
                           threshold=0.6, action="prioritise dunning", impact_basis="failed"),
        RecommendationRule(name="spend", metric="over", label="Spend vs budget",
                           comparison="above", threshold=0.05, action="cap spend",
                           impact_basis="overspend", impact_scale="full"),
        RecommendationRule(name="quiet", metric="sla", label="SLA", comparison="below",
                           threshold=0.9, action="x", impact_basis="failed"),
    ]  # fmt: skip
    found = {"recovery": (0.45, "ratio", "daily"), "failed": (40_000.0, "usd", "daily"),
             "over": (0.12, "ratio", "analysis"), "overspend": (9_000.0, "usd", "analysis"),
             "sla": (0.95, "ratio", "daily")}  # fmt: skip
    r = recommend.recommendations(date(2026, 3, 1), found, rules)
    assert r["rule"].to_list() == ["dunning", "spend"]  # $10,000 at stake, then $9,000
    first = r.row(0, named=True)
    assert first["estimated_impact_usd"] == pytest.approx(40_000 * 0.15 / 0.6)
    assert first["recommendation"] == (
        "Recovery 45.0% is 15.0 points under the 60.0% threshold: prioritise dunning; "
        "estimated MRR at stake $10,000."
    )


# -- the models on a long history ----------------------------------------------------------------


@pytest.fixture(scope="module")
def long_company(tmp_path_factory):
    """The demo company over 14 months (the demo's seed), few events: the models' test bed."""
    from reporting_assets.demo.generator import DemoSpec, generate_demo_company

    out = tmp_path_factory.mktemp("long")
    spec = DemoSpec(seed=7, start=date(2025, 10, 1), end=date(2026, 11, 27), events_per_day=1000,
                    starting_accounts=400, export_format="parquet")  # fmt: skip
    generate_demo_company(spec, out, progress=False)
    import duckdb

    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    accounts = con.sql("SELECT * FROM v_account_history").pl()
    costs = con.sql("SELECT * FROM v_daily_cloud_cost").pl()
    con.close()
    history = monthly.daily_history(accounts, costs, spec.start, spec.end)
    return {"path": out, "accounts": accounts, "history": history, "end": spec.end}


def test_forecasts_beat_the_naive_baseline_on_the_demo_history(long_company):
    h = long_company["history"]
    for name, column, level in (("mrr", "mrr", True), ("cost", "cost_usd", False)):
        frame, meta = models.forecast_series(
            name, h["date"].to_list(), h[column].to_numpy(), level=level, months=3,
            interval=0.8, origins=4)  # fmt: skip
        assert frame.height == 3 and frame["beats_baseline"].all(), (name, meta)
        assert (frame["lower"] <= frame["forecast"]).all()
        assert (frame["forecast"] <= frame["upper"]).all()
        assert frame["month"].to_list() == [date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]
        assert len(meta["origins"]) == 4 and "smoothing_level" in meta["params"]


def test_a_level_shift_makes_the_model_lose_to_the_baseline(long_company):
    h = long_company["history"]
    cost = h["cost_usd"].to_numpy().copy()
    cost[-75:] *= 1.4  # spend jumps 40 % inside the backtest window and stays there
    frame, _ = models.forecast_series("cost", h["date"].to_list(), cost, level=False, months=3,
                                      interval=0.8, origins=4)  # fmt: skip
    assert not frame["beats_baseline"].any()
    assert frame["backtest_mape"][0] > frame["baseline_mape"][0]


def _activity(root, start: date, end: date) -> pl.DataFrame:
    from reporting_assets.lib.days import day_bounds_utc
    from reporting_assets.lib.events import read_batch_export, typed_events
    from reporting_assets.metrics.compute import account_activity
    from reporting_assets.metrics.event_aggregates import RawAggregates

    tz, frames, day = ZoneInfo("America/New_York"), [], start
    while day <= end:
        lo, hi = day_bounds_utc(day, tz)
        events = typed_events(read_batch_export(str(root), lo, hi))
        frames.append(account_activity(RawAggregates(events).activity(), day))
        day += timedelta(days=1)
    return pl.concat(frames)


def test_churn_model_beats_the_plan_rate_baseline(long_company):
    accounts, end = long_company["accounts"], long_company["end"]
    t0 = end - timedelta(days=30)
    activity = _activity(long_company["path"] / "posthog" / "events", t0 - timedelta(days=27), end)
    train = models.churn_features(accounts, activity, t0)
    labels = models.churn_labels(accounts, train, end)
    test = models.churn_backtest(train, labels)
    assert test.churned >= 10 and "log_events_per_seat" in test.features
    assert test.auc > test.baseline_auc and test.auc > 0.6, test
    now = models.churn_features(accounts, activity, end)
    scores, fit = models.churn_scores(train, labels, now, date(2026, 11, 1))
    assert scores["churn_probability"].is_between(0, 1).all()
    assert fit["coefficients"]["log_events_per_seat"] < 0  # more use, less churn


# -- partitions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("week", ["2026-03-08", "2026-10-25", "2026-11-01", "2026-11-15"])
def test_a_week_is_exactly_its_seven_new_york_days(week):
    from reporting_assets.partitions import daily_partitions, weekly_partitions

    window = weekly_partitions.time_window_for_partition_key(week)
    days = daily_partitions.get_partition_keys_in_time_window(window)
    start = date.fromisoformat(week)
    assert days == [(start + timedelta(days=k)).isoformat() for k in range(7)]
    assert start.weekday() == 6  # a Sunday
    hours = (window.end.astimezone(UTC) - window.start.astimezone(UTC)).total_seconds() / 3600
    # The DST weeks are an hour short (March) or long (November).
    assert hours == {"2026-03-08": 167, "2026-11-01": 169}.get(week, 168)


@pytest.mark.parametrize("month", ["2026-03-01", "2026-11-01", "2026-02-01"])
def test_a_month_is_exactly_its_days(month):
    from reporting_assets.partitions import daily_partitions, monthly_partitions

    window = monthly_partitions.time_window_for_partition_key(month)
    days = daily_partitions.get_partition_keys_in_time_window(window)
    start = date.fromisoformat(month)
    assert days[0] == month and days[-1] == monthly.month_end(start).isoformat()
    assert len(days) == monthly.month_end(start).day
    assert np.all(np.diff([date.fromisoformat(d).toordinal() for d in days]) == 1)


def _check(result, name):
    [evaluation] = [c for c in result.get_asset_check_evaluations() if label(c) == name]
    return evaluation


@pytest.mark.parametrize("broken", [False, True])
def test_the_forecast_asset_flags_a_model_worse_than_its_baseline(
    long_company, config_with, tmp_path, broken, monkeypatch
):
    """The asset's WARN check fails on the broken series, without blocking what follows."""
    import dagster as dg

    from reporting_assets.analytics.business_assets import business_history_monthly
    from reporting_assets.analytics.model_assets import forecasts_monthly
    from reporting_assets.resources import build_resources

    settings = config_with(lambda c: c.update(storage={"data_root": str(tmp_path / "data")}))
    assets = tmp_path / "data" / "assets"
    history = long_company["history"]
    if broken:
        shifted = history["cost_usd"].to_numpy().copy()
        shifted[-75:] *= 1.4
        history = history.with_columns(cost_usd=pl.Series(shifted))
    (assets / "business_history_monthly").mkdir(parents=True)
    history.write_parquet(assets / "business_history_monthly" / "2026-11-01.parquet")
    monkeypatch.setenv("REPORTING_TODAY", "2026-11-28")  # November is due to the 27th
    history_spec = dg.AssetSpec("business_history_monthly",
                                partitions_def=business_history_monthly.partitions_def)  # fmt: skip
    result = dg.materialize([history_spec, forecasts_monthly], partition_key="2026-11-01",
                            resources=build_resources(settings))  # fmt: skip
    assert result.success  # a WARN never blocks
    check = _check(result, "forecasts_monthly:beats_naive_baseline")
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.passed is (not broken)
    if broken:
        assert "cost: model MAPE" in check.description
    stored = pl.read_parquet(assets / "forecasts_monthly" / "2026-11-01.parquet")
    assert stored.filter(pl.col("series") == "mrr")["beats_baseline"].all()
