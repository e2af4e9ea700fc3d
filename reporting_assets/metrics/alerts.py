"""The alert rules engine: business rules from config evaluated over metric history.

A rule watches one metric in one scope and compares it with a warning and a critical threshold:
`above` / `below` compare the value itself, `change_vs_previous` the relative change from the day
before, `deviation_from_baseline` a robust z-score against the same weekday over the trailing 8
weeks. A rule fires only once the breach has lasted `min_duration_days`. The engine is plain
Python over Polars frames; the daily alert asset and the real-time sensor both use it.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from reporting_assets.config.models import AlertRule
from reporting_assets.lib.formatting import plural
from reporting_assets.lib.stats import robust_z
from reporting_assets.metrics.layer import METRICS

SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
BASELINE_WEEKS = 8
ALERT_SCHEMA = {
    "date": pl.Date, "rule": pl.String, "metric": pl.String, "scope": pl.String,
    "comparison": pl.String, "value": pl.Float64, "compared_value": pl.Float64,
    "warning_threshold": pl.Float64, "critical_threshold": pl.Float64,
    "threshold": pl.Float64, "severity": pl.String, "breaching_since": pl.Date,
    "consecutive_days": pl.Int64, "message": pl.String,
}  # fmt: skip


def compared_value(rule: AlertRule, series: dict[date, float | None], day: date) -> float | None:
    """The number the rule compares with its thresholds on `day` (None: cannot be evaluated)."""
    value = series.get(day)
    if value is None:
        return None
    if rule.comparison in ("above", "below"):
        return value
    if rule.comparison == "change_vs_previous":
        prev = series.get(day - timedelta(days=1))
        if prev is None or prev == 0:
            return None
        return (value - prev) / abs(prev)
    baseline = [
        v for w in range(1, BASELINE_WEEKS + 1)
        if (v := series.get(day - timedelta(weeks=w))) is not None
    ]  # fmt: skip
    z = robust_z(value, baseline)
    return None if z is None else abs(z)


def level(rule: AlertRule, x: float | None) -> str:
    """The severity of one compared value against the rule's thresholds."""
    if x is None:
        return "info"
    if rule.comparison == "below":
        if x < rule.critical:
            return "critical"
        return "warning" if x < rule.warning else "info"
    if x > rule.critical:
        return "critical"
    return "warning" if x > rule.warning else "info"


def _series(history: pl.DataFrame, rule: AlertRule) -> dict[date, float | None]:
    rows = history.filter((pl.col("metric") == rule.metric) & (pl.col("scope") == rule.scope))
    return dict(zip(rows.get_column("date"), rows.get_column("value"), strict=True))


def evaluate_rule(rule: AlertRule, history: pl.DataFrame, day: date) -> dict:
    """One rule on one day: its severity, the threshold crossed, and since when it breaches."""
    series = _series(history, rule)
    x = compared_value(rule, series, day)
    today = level(rule, x)
    streak, since = 0, None
    d = day
    while level(rule, compared_value(rule, series, d)) != "info":
        streak, since = streak + 1, d
        d -= timedelta(days=1)
    severity = today if streak >= rule.min_duration_days else "info"
    threshold = rule.critical if severity == "critical" else rule.warning
    value = series.get(day)
    if value is None:
        why = METRICS[rule.metric].when_missing if rule.metric in METRICS else "no data"
        message = f"{rule.metric} has no value on {day} ({why}); the rule could not be evaluated"
    elif severity == "info":
        message = f"{rule.metric} is within its thresholds"
        if today != "info":
            message = (
                f"{rule.metric} breaches its {today} threshold for {plural(streak, 'day')}; "
                f"the rule fires after {rule.min_duration_days}"
            )
    else:
        what = {
            "above": "above",
            "below": "below",
            "change_vs_previous": "changed by more than",
            "deviation_from_baseline": "deviates by more than",
        }[rule.comparison]
        message = (
            f"{rule.metric} = {value:,.4g} is {what} its {severity} threshold "
            f"{threshold:,.4g} (for {plural(streak, 'day')}, since {since})"
        )
    return {
        "date": day, "rule": rule.name, "metric": rule.metric, "scope": rule.scope,
        "comparison": rule.comparison, "value": value, "compared_value": x,
        "warning_threshold": rule.warning, "critical_threshold": rule.critical,
        "threshold": threshold, "severity": severity,
        "breaching_since": since if severity != "info" else None,
        "consecutive_days": streak, "message": message,
    }  # fmt: skip


def evaluate_rules(rules: list[AlertRule], history: pl.DataFrame, day: date) -> pl.DataFrame:
    """Every rule evaluated on `day`, one row per rule and scope (de-duplicated)."""
    rows = {(r.name, r.scope): evaluate_rule(r, history, day) for r in rules}
    return pl.DataFrame(list(rows.values()), schema=ALERT_SCHEMA, orient="row")
