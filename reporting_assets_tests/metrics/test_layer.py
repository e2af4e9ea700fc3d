"""The metric layer by hand: each measure rolls up as its definition says (ratios from summed
parts, levels at the last day), one rating rule with its reasons, and the README's definitions
generated from it."""

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from reporting_assets.config import get_settings
from reporting_assets.metrics.docs import definitions_markdown, with_definitions
from reporting_assets.metrics.layer import METRICS, coverage, period_values
from reporting_assets.metrics.periods import period_table
from reporting_assets.metrics.rating import rate

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
README = Path(__file__).resolve().parents[2] / "README.md"


def _ops(rows: list[dict]) -> pl.DataFrame:
    base = {"incidents_opened": 0, "ticket_backlog": 0, "first_responses": 0,
            "first_responses_within_sla": 0, "tickets_opened": 0, "active_accounts": 100,
            "sev12_resolved": 0, "sev12_resolution_hours": 0.0, "runs_finished": 0,
            "runs_succeeded": 0, "incidents_resolved": 0}  # fmt: skip
    return pl.DataFrame([{**base, **r} for r in rows])


def _revenue(rows: list[dict]) -> pl.DataFrame:
    base = {"plan": "total", "closing_mrr": 0.0, "net_new_mrr": 0.0, "payments_failed": 0,
            "payment_attempts": 0, "payments_recovered": 0, "failed_payments_settled": 0,
            "mrr_at_risk": 0.0, "new_mrr": 0.0, "reactivation_mrr": 0.0, "expansion_mrr": 0.0,
            "contraction_mrr": 0.0, "churned_mrr": 0.0, "failed_payment_amount": 0.0,
            "revenue_recovered": 0.0}  # fmt: skip
    return pl.DataFrame([{**base, **r} for r in rows])


def test_ratios_roll_up_from_their_summed_parts_not_daily_averages():
    ops = _ops([
        # Day 1: 9 of 10 runs succeed (90 %), one sev1-2 incident resolved in 10 h, and two
        # other incidents resolved that MTTR does not count.
        {"date": D1, "runs_finished": 10, "runs_succeeded": 9, "sev12_resolved": 1,
         "sev12_resolution_hours": 10.0, "incidents_resolved": 3, "first_responses": 20,
         "first_responses_within_sla": 19},
        # Day 2: 1 of 2 (50 %), two sev1-2 incidents in 4 h together.
        {"date": D2, "runs_finished": 2, "runs_succeeded": 1, "sev12_resolved": 2,
         "sev12_resolution_hours": 4.0, "incidents_resolved": 2, "first_responses": 5,
         "first_responses_within_sla": 2},
    ])  # fmt: skip
    v = period_values({"operational_efficiency_daily": ops})
    assert v["pipeline_success_rate"] == pytest.approx(10 / 12)  # not (0.9 + 0.5) / 2 = 0.7
    assert v["mttr_hours"] == pytest.approx(14 / 3)  # not weighted by all 5 resolved
    assert v["first_response_sla_rate"] == pytest.approx(21 / 25)
    assert v["tickets_per_100_accounts"] == pytest.approx(0.0)


def test_payment_failure_rate_over_all_attempts_and_a_day_without_any():
    rev = _revenue([
        {"date": D1, "payments_failed": 1, "payment_attempts": 10, "closing_mrr": 100.0,
         "net_new_mrr": 5.0, "mrr_at_risk": 40.0},
        {"date": D2, "payments_failed": 0, "payment_attempts": 0, "closing_mrr": 90.0,
         "net_new_mrr": -10.0, "mrr_at_risk": 30.0},
    ])  # fmt: skip
    day2 = rev.filter(pl.col("date") == D2)
    assert period_values({"revenue_protection_daily": day2})["payment_failure_rate"] is None
    v = period_values({"revenue_protection_daily": rev})
    assert v["payment_failure_rate"] == pytest.approx(0.1)
    assert v["mrr"] == 90.0 and v["mrr_at_risk"] == 30.0  # levels: the last day
    assert v["net_new_mrr"] == -5.0 and v["mrr_at_risk_flagged"] == 70.0  # flows: the sum
    cfg = get_settings().metrics["payment_failure_rate"]
    r = rate("payment_failure_rate", None, cfg)
    assert (r.words, r.reason) == ("Not rated", "no payments attempted")


def test_one_rating_rule_against_the_target_shown():
    s = get_settings().metrics
    sla = s["first_response_sla_rate"]  # target 95 %, tolerance 3 pts
    assert rate("first_response_sla_rate", 0.857, sla).words == "Off track"
    assert rate("first_response_sla_rate", 0.93, sla).words == "Watch"
    assert rate("first_response_sla_rate", 0.95, sla).words == "On track"
    assert rate("first_response_sla_rate", 0.857, sla).target == 0.95
    # Flows scale with the period: $500 a day is $3,500 a week, Watch within $1,750.
    week = rate("net_new_mrr", 2000.0, s["net_new_mrr"], days=7)
    assert (week.target, week.words) == (3500.0, "Watch")
    assert rate("net_new_mrr", 1700.0, s["net_new_mrr"], days=7).words == "Off track"
    # No target: not rated, and it says why; the alert rules play no part.
    assert rate("total_cost", 1e9, s["total_cost"]).reason == "no target set"
    assert rate("mrr", 1.0, s["mrr"]).words == "Not rated"


def test_period_table_names_the_days_missing_and_rates_each_metric():
    tables = {
        "revenue_protection_daily": _revenue([
            {"date": D1, "payments_failed": 1, "payment_attempts": 4},
            {"date": D3, "payments_failed": 0, "payment_attempts": 4}]),
        "cost_optimization_daily": pl.DataFrame({
            "date": [D1, D3], "level": ["total", "total"], "cost_usd": [10.0, 30.0],
            "daily_budget_usd": [20.0, 20.0], "active_accounts": [10, 30]}),
        "operational_efficiency_daily": _ops([{"date": D1}, {"date": D3}]),
    }  # fmt: skip
    cover = coverage(tables, D1, D3)
    assert cover.missing == (D2,) and cover.missing_words() == "1 of 3 days missing: 2 March 2026"
    table, _ = period_table(tables, D1, D3, get_settings().metrics)
    row = {r["metric"]: r for r in table.iter_rows(named=True)}
    assert row["payment_failure_rate"]["value"] == pytest.approx(1 / 8)
    assert (row["payment_failure_rate"]["numerator"], row["payment_failure_rate"]["denominator"]) \
        == (1.0, 8.0)  # fmt: skip
    assert row["budget_variance"]["value"] == pytest.approx(40 / 40 - 1)
    assert row["cost_per_active_account"]["value"] == pytest.approx(40 / 20)  # average accounts
    assert row["payment_failure_rate"]["status"] == "red"  # 12.5 % against 4 % ± 2 pts
    assert not row["mrr"]["complete"] and row["mrr"]["missing_days"] == "2026-03-02"


def test_every_configured_metric_is_defined_in_the_layer():
    assert set(get_settings().metrics) <= set(METRICS)


def test_the_readme_definitions_are_generated_from_the_layer():
    readme = README.read_text()
    assert definitions_markdown(get_settings().metrics) in readme, (
        "README.md's metric definitions are stale: run `reporting metrics-doc --readme README.md`"
    )
    assert with_definitions(readme, get_settings().metrics) == readme


def test_a_day_list_reads_like_a_person_wrote_it():
    from reporting_assets.metrics.layer import day_list

    days = [D1 + timedelta(days=k) for k in (0, 1, 16)] + [date(2026, 4, 2)]
    assert day_list(days) == "1, 2, 17 March 2026 and 2 April 2026"
