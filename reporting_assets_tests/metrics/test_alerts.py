"""The alert rules engine: each comparison, minimum duration, since-when, and its independent
re-evaluation agreeing with it (and catching it when it is wrong)."""

from datetime import date, timedelta

import polars as pl
import pytest
from pydantic import ValidationError

from reporting_assets.config.models import AlertRule, Metric
from reporting_assets.lib.stats import robust_z
from reporting_assets.metrics.alerts import evaluate_rule, evaluate_rules
from reporting_assets.quality.checks import alerts_match_rules

DAY = date(2026, 3, 10)
METRICS = {m: Metric(label=m, unit="ratio", description=m, valid_range=(0, None))
           for m in ("x", "rate")}  # fmt: skip


def history(values: list[float | None], metric: str = "x") -> pl.DataFrame:
    """values[-1] is DAY, values[-2] the day before, …"""
    n = len(values)
    return pl.DataFrame(
        {
            "date": [DAY - timedelta(days=n - 1 - i) for i in range(n)],
            "metric": [metric] * n,
            "scope": ["total"] * n,
            "value": values,
        },
        schema={"date": pl.Date, "metric": pl.String, "scope": pl.String, "value": pl.Float64},
    )


def rule(**kw) -> AlertRule:
    return AlertRule(
        **{"name": "r", "metric": "x", "comparison": "above", "warning": 5, "critical": 10, **kw}
    )


@pytest.mark.parametrize(
    ("value", "severity"),
    [(4, "info"), (5, "info"), (6, "warning"), (10, "warning"), (11, "critical")],
)
def test_above(value, severity):
    assert evaluate_rule(rule(), history([value]), DAY)["severity"] == severity


@pytest.mark.parametrize(
    ("value", "severity"), [(0.95, "info"), (0.85, "warning"), (0.7, "critical")]
)
def test_below(value, severity):
    r = rule(comparison="below", warning=0.9, critical=0.8)
    assert evaluate_rule(r, history([value]), DAY)["severity"] == severity


def test_change_vs_previous():
    r = rule(comparison="change_vs_previous", warning=0.2, critical=0.5)
    assert evaluate_rule(r, history([100, 130]), DAY)["severity"] == "warning"
    assert evaluate_rule(r, history([100, 160]), DAY)["severity"] == "critical"
    assert evaluate_rule(r, history([100, 105]), DAY)["severity"] == "info"
    assert evaluate_rule(r, history([None, 160]), DAY)["compared_value"] is None


def test_deviation_from_baseline_uses_the_same_weekday():
    r = rule(comparison="deviation_from_baseline", warning=3, critical=6)
    values = [None] * 57
    for w in range(1, 9):
        values[56 - 7 * w] = 100 + w  # same weekday: 101..108
    values[55] = 1000  # the day before, a different weekday, is ignored
    values[56] = 104.5
    assert evaluate_rule(r, history(values), DAY)["severity"] == "info"
    values[56] = 300
    out = evaluate_rule(r, history(values), DAY)
    assert out["severity"] == "critical"
    assert out["compared_value"] == pytest.approx(
        robust_z(300, [101, 102, 103, 104, 105, 106, 107, 108])
    )


def test_min_duration_and_breaching_since():
    r = rule(min_duration_days=3)
    assert evaluate_rule(r, history([1, 6, 7]), DAY)["severity"] == "info"
    out = evaluate_rule(r, history([1, 6, 7, 12]), DAY)
    assert out["severity"] == "critical"
    assert out["breaching_since"] == DAY - timedelta(days=2)
    assert out["consecutive_days"] == 3
    assert "since 2026-03-08" in out["message"]


def test_one_row_per_rule_and_scope():
    rules = [
        rule(name="a"),
        rule(name="b", metric="rate", comparison="below", warning=0.5, critical=0.2),
    ]
    frame = evaluate_rules(rules, pl.concat([history([7]), history([0.1], "rate")]), DAY)
    assert frame.select("rule", "severity").rows() == [("a", "warning"), ("b", "critical")]


def test_inverted_thresholds_are_rejected_at_load():
    with pytest.raises(ValidationError, match=r"critical \(3.0\) must not be below warning"):
        rule(warning=5, critical=3)
    with pytest.raises(ValidationError, match="must not be above warning"):
        rule(comparison="below", warning=0.8, critical=0.9)


def test_independent_re_evaluation_agrees_and_catches_a_wrong_alert():
    rules = [rule(name="a"), rule(name="b", min_duration_days=2)]
    hist = history([6, 12])
    alerts = evaluate_rules(rules, hist, DAY)
    ok = alerts_match_rules(alerts, rules, METRICS, hist, DAY, ["x"])
    assert ok.passed, ok.description
    tampered = alerts.with_columns(severity=pl.lit("info"))
    bad = alerts_match_rules(tampered, rules, METRICS, hist, DAY, ["x"])
    assert not bad.passed
    assert "rule 'a': alert says info, re-evaluation says critical" in bad.description


def test_re_evaluation_flags_insane_rules():
    rules = [rule(name="impossible", metric="rate", warning=-1, critical=-0.5)]
    alerts = evaluate_rules(rules, history([0.1], "rate"), DAY)
    out = alerts_match_rules(alerts, rules, METRICS, history([0.1], "rate"), DAY, ["rate"])
    assert not out.passed
    assert "threshold -1.0 lies outside the metric's valid range" in out.description
