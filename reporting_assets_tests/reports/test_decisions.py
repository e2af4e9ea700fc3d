"""The decision block's rules, on hand-made frames: who is asked, by when, and the dollars at
stake measured on exactly the days of the breach."""

from __future__ import annotations

from datetime import date

import polars as pl

from reporting_assets.config import get_settings
from reporting_assets.reports.decisions import (
    alert_asks,
    alerts_takeaway,
    business_day_after,
    decision_block,
    recommendation_asks,
    stake_of,
    status_takeaway,
)
from reporting_assets.reports.model import Ask, Kpi

SETTINGS = get_settings()


def _revenue(days: dict[date, float], at_risk: dict[date, float] | None = None) -> pl.DataFrame:
    return pl.DataFrame({
        "date": list(days), "plan": ["total"] * len(days),
        "failed_payment_amount": list(days.values()),
        "mrr_at_risk": list((at_risk or dict.fromkeys(days, 0.0)).values()),
    })  # fmt: skip


def _costs(days: dict[date, tuple[float, float]]) -> pl.DataFrame:
    return pl.DataFrame({
        "date": list(days), "level": ["total"] * len(days),
        "cost_usd": [c for c, _ in days.values()],
        "daily_budget_usd": [b for _, b in days.values()],
    })  # fmt: skip


def _critical(rule: str, metric: str, days: list[date], value: float, threshold: float):
    return pl.DataFrame({
        "date": days, "rule": [rule] * len(days), "metric": [metric] * len(days),
        "severity": ["critical"] * len(days), "value": [value] * len(days),
        "threshold": [threshold] * len(days), "breaching_since": [days[0]] * len(days),
    })  # fmt: skip


def test_a_due_date_on_a_weekend_moves_to_monday():
    assert business_day_after(date(2026, 11, 26), 1) == date(2026, 11, 27)  # Thu -> Fri
    assert business_day_after(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Fri -> Mon
    assert business_day_after(date(2026, 11, 29), 0) == date(2026, 11, 30)  # Sun -> Mon


def test_stakes_add_up_over_the_days_given_and_mrr_at_risk_is_the_last_days():
    d1, d2 = date(2026, 11, 27), date(2026, 11, 28)
    revenue = _revenue({d1: 1200.0, d2: 800.5}, {d1: 50_000.0, d2: 61_000.0})
    costs = _costs({d1: (5_000.0, 4_000.0), d2: (3_000.0, 4_000.0)})
    assert stake_of("failed_payments", revenue, costs) == 2000.5
    assert stake_of("overspend", revenue, costs) == 1000.0  # an under-budget day adds nothing
    assert stake_of("mrr_at_risk", revenue, costs) == 61_000.0
    assert stake_of(None, revenue, costs) is None


def test_a_critical_alert_asks_its_owner_with_the_breach_days_failed_payments_at_stake():
    d1, d2, d3 = date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 28)
    revenue = _revenue({d1: 9_999.0, d2: 1_500.0, d3: 2_250.0})  # d1 is not a breach day
    critical = _critical("payment_failures_high", "payment_failure_rate", [d2, d3], 0.31, 0.25)
    [ask] = alert_asks(critical, revenue, _costs({}), date(2026, 11, 29), SETTINGS)
    rule = next(r for r in SETTINGS.alert_rules if r.name == "payment_failures_high")
    assert ask.owner == SETTINGS.person(rule.owner) == "Daniel Okafor, CFO"
    assert ask.what.startswith("Have billing retry")
    assert ask.at_stake == 3_750.0 and ask.stake_text == "$3,750 in failed payments"
    assert ask.by == date(2026, 11, 30)  # published Sunday 29th, one day: Monday
    assert ask.why == ("Payment failure rate at 31.0% against the critical threshold of 25.0%, "
                       "since 27 November.")  # fmt: skip


def test_a_rule_without_a_stake_still_asks_and_ranks_after_the_dollars():
    day = date(2026, 11, 28)
    critical = pl.concat([
        _critical("incident_surge", "incidents_opened", [day], 7.0, 5.0),
        _critical("payment_failures_high", "payment_failure_rate", [day], 0.4, 0.25),
    ])  # fmt: skip
    asks = alert_asks(critical, _revenue({day: 500.0}), _costs({}), day, SETTINGS)
    block = decision_block(["One.", "", "Two.", "Three.", "Four."], asks)
    assert block.takeaways == ["One.", "Two.", "Three."]
    assert [a.at_stake for a in block.asks] == [500.0, None]
    assert block.asks[1].stake_text == "—"


def test_recommendations_are_asked_of_their_owner_by_the_end_of_next_month():
    recs = pl.DataFrame({
        "rank": [1], "rule": ["prioritise_dunning"], "value": [0.5], "unit": ["ratio"],
        "estimated_impact_usd": [12_000.0],
    })  # fmt: skip
    [ask] = recommendation_asks(recs, date(2027, 1, 31), SETTINGS)
    assert ask.owner == "Daniel Okafor, CFO" and ask.by == date(2027, 2, 28)
    assert ask.at_stake == 12_000.0 and "Payment recovery rate at 50.0%" in ask.why
    assert recommendation_asks(None, date(2027, 1, 31), SETTINGS) == []


def _kpi(label: str, status: str) -> Kpi:
    return Kpi(label.lower(), label, "count", 1.0, 1.0, 1.0, "higher_is_better", status)


def test_takeaways_count_what_is_on_and_off_track_and_name_the_worst_alert():
    kpis = [_kpi("A", "green"), _kpi("B", "red"), _kpi("C", "amber"), _kpi("D", "grey")]
    assert status_takeaway(kpis) == "1 of 3 headline figures on track; off track: B; watch: C."
    worst = pl.DataFrame({
        "rule": ["sla_slipping", "payment_failures_high"], "metric": ["first_response_sla_rate",
        "payment_failure_rate"], "severity": ["warning", "critical"], "value": [0.8, 0.3],
        "threshold": [0.85, 0.25],
    })  # fmt: skip
    assert alerts_takeaway(worst, SETTINGS, {}) == (
        "Payment failure rate is in critical breach at 30.0% (threshold 25.0%); 1 other alert "
        "fired."
    )
    assert alerts_takeaway(worst.head(0), SETTINGS, {}) == "No alert rule is breached."


def test_an_ask_reads_its_date_and_stake():
    ask = Ask("Do it", "Someone", date(2026, 12, 1), 1234.6, "at stake", "because")
    assert (ask.by_words, ask.stake_text) == ("Tue 1 Dec", "$1,235 at stake")
