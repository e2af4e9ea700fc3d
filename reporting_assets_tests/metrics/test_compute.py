"""Each daily metric against numbers worked out by hand on a small fixture."""

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from reporting_assets.lib.events import TYPED_SCHEMA
from reporting_assets.metrics import compute, operations
from reporting_assets.metrics.event_aggregates import RawAggregates

DAY = date(2026, 3, 10)


def _events(rows: list[dict]) -> pl.DataFrame:
    base = {k: None for k in TYPED_SCHEMA}
    full = [
        {
            **base,
            "uuid": f"e{i}",
            "distinct_id": "u",
            "reactivation": False,
            "timestamp": datetime(2026, 3, 10, 15),
            **r,
        }
        for i, r in enumerate(rows)
    ]
    return pl.DataFrame(full, schema=TYPED_SCHEMA)


EVENTS = _events([
    {"event": "subscription_created", "account_id": "C", "plan": "scale", "mrr": 300.0},
    {"event": "subscription_cancelled", "account_id": "B", "plan": "starter", "mrr": 0.0,
     "previous_mrr": 150.0, "reason": "voluntary"},
    {"event": "subscription_upgraded", "account_id": "D", "plan": "growth", "mrr": 600.0,
     "previous_mrr": 350.0},
    {"event": "payment_failed", "account_id": "E", "plan": "enterprise", "amount_minor": 100_000},
    {"event": "subscription_renewed", "account_id": "A", "plan": "growth", "mrr": 700.0},
    {"event": "purchase_completed", "account_id": "A", "plan": "growth", "amount_minor": 70_000},
    {"event": "payment_recovered", "account_id": "F", "plan": "starter", "amount_minor": 20_000},
    {"event": "subscription_downgraded", "account_id": "G", "plan": "starter", "mrr": 100.0,
     "previous_mrr": 150.0},
    {"event": "payment_failed", "account_id": "G", "plan": "starter", "amount_minor": 12_000},
    {"event": "$pageview", "account_id": "A", "plan": "growth"},
])  # fmt: skip

ACCOUNTS = pl.DataFrame(
    [
        ("A", "growth", "active", 700.0, "growth", 700.0),
        ("B", "starter", "churned", 0.0, "starter", 150.0),
        ("C", "scale", "active", 300.0, None, None),
        ("D", "growth", "active", 600.0, "starter", 350.0),  # moved up from starter
        ("E", "enterprise", "past_due", 1000.0, "enterprise", 1000.0),
        ("F", "starter", "active", 200.0, "starter", 200.0),
        ("G", "starter", "active", 100.0, "starter", 150.0),
    ],
    schema=["account_id", "plan", "status", "mrr", "opening_plan", "opening_mrr"],
    orient="row",
)
DROPS = pl.DataFrame({"account_id": ["A"], "recent": [3], "weekly_before": [40.0]})
AGGREGATES = RawAggregates(EVENTS)
REVENUE_INPUTS = (AGGREGATES.revenue_events(), AGGREGATES.events_by_plan())


def test_revenue_protection_total_by_hand():
    table, at_risk = compute.revenue_protection(*REVENUE_INPUTS, ACCOUNTS, DROPS, DAY)
    total = table.filter(pl.col("plan") == "total").row(0, named=True)
    assert total["opening_mrr"] == 2550  # 700 + 150 + 350 + 1000 + 200 + 150
    assert total["closing_mrr"] == 2900  # 700 + 0 + 300 + 600 + 1000 + 200 + 100
    assert total["new_mrr"] == 300
    assert total["expansion_mrr"] == 250
    assert total["contraction_mrr"] == 50
    assert total["churned_mrr"] == 150
    assert total["net_new_mrr"] == 350  # 300 + 250 - 50 - 150
    assert total["plan_transfer_mrr"] == 0  # moves between plans cancel out in the total
    assert total["opening_mrr"] + total["net_new_mrr"] == total["closing_mrr"]
    # Attempts are every charge: A's renewal (one purchase_completed) and two failures.
    assert total["payments_failed"] == 2 and total["payments_succeeded"] == 1
    assert total["payment_attempts"] == 3
    assert total["payment_failure_rate"] == pytest.approx(2 / 3)
    assert total["payment_recovery_rate"] == 1.0  # one recovered, no dunning cancellation
    assert total["failed_payment_amount"] == 1120
    assert total["usage_drop_mrr"] == 700 and total["usage_drop_accounts"] == 1
    # Each account once, at its largest amount: G's failed $120 payment, not also its $50
    # downgrade.
    assert total["mrr_at_risk"] == 1000 + 150 + 120 + 700
    assert total["accounts_at_risk"] == 4
    assert dict(zip(at_risk["account_id"], at_risk["reason"], strict=True)) == {
        "E": "payment failed", "A": "usage fell sharply", "B": "cancelled",
        "G": "payment failed",
    }  # fmt: skip
    assert total["revenue_recovered"] == 200
    assert total["events_received"] == 10
    assert total["paying_accounts"] == 6


def test_revenue_protection_by_plan_adds_up_for_every_plan():
    table, _ = compute.revenue_protection(*REVENUE_INPUTS, ACCOUNTS, DROPS, DAY)
    assert table.get_column("plan").to_list() == [
        "starter",
        "growth",
        "scale",
        "enterprise",
        "total",
    ]
    growth = table.filter(pl.col("plan") == "growth").row(0, named=True)
    # D opened on starter at $350 and upgraded to growth at $600: its opening MRR moves to
    # growth, its $250 expansion is counted there.
    assert (growth["opening_mrr"], growth["plan_transfer_mrr"], growth["expansion_mrr"],
            growth["closing_mrr"]) == (700, 350, 250, 1300)  # fmt: skip
    starter = table.filter(pl.col("plan") == "starter").row(0, named=True)
    assert (starter["opening_mrr"], starter["plan_transfer_mrr"], starter["closing_mrr"]) == (
        850, -350, 300)  # fmt: skip
    for row in table.iter_rows(named=True):
        assert row["opening_mrr"] + row["net_new_mrr"] + row["plan_transfer_mrr"] == pytest.approx(
            row["closing_mrr"]
        ), row["plan"]
    plans = table.filter(pl.col("plan") != "total")
    total = table.filter(pl.col("plan") == "total")
    for col in ("opening_mrr", "closing_mrr", "churned_mrr", "mrr_at_risk", "payment_attempts"):
        assert plans.get_column(col).sum() == total.get_column(col)[0]
    # No payments at all for scale: the rate is unknown, not zero.
    assert table.filter(pl.col("plan") == "scale").get_column("payment_failure_rate")[0] is None


def test_usage_drops_by_hand():
    rows = []
    for k in range(28):
        d = DAY - timedelta(days=k)
        recent = k < 7
        rows += [("X", d, 1 if recent else 5), ("Y", d, 5), ("Z", d, 0 if recent else 1)]
    activity = pl.DataFrame(rows, schema=["account_id", "date", "events"], orient="row")
    drops = compute.usage_drops(activity, DAY)
    # X: 7 recent vs 35 a week before (< 40 %); Y steady; Z too small to judge (7 a week).
    assert drops.get_column("account_id").to_list() == ["X"]
    assert drops.get_column("weekly_before")[0] == pytest.approx(35.0)


def test_cost_optimization_by_hand():
    costs = pl.DataFrame({
        "cost_date": [DAY] * 3, "service": ["compute", "search", "cdn"],
        "vendor": ["AWS", "Elastic", "Cloudflare"], "team": ["data", "product", "platform"],
        "cost_usd": [300.0, 80.0, 100.0], "utilization": [0.6, 0.03, 0.5],
        "daily_budget_usd": [120.0, 80.0, 100.0],
    })  # fmt: skip
    history = pl.concat(
        [
            costs.with_columns(cost_date=pl.lit(DAY - timedelta(days=k)), cost_usd=pl.lit(100.0))
            for k in range(1, 29)
        ]
    )
    savings = pl.DataFrame(
        {"monthly_savings_usd": [1000.0, 500.0], "realized_monthly_savings_usd": [400.0, None]}
    )
    table = operations.cost_optimization(
        costs, history, savings, active_accounts=40, events=8000, day=DAY
    )
    total = table.filter(pl.col("level") == "total").row(0, named=True)
    assert total["cost_usd"] == 480
    assert total["daily_budget_usd"] == 300
    assert total["budget_variance"] == pytest.approx(0.6)
    assert total["cost_per_active_account"] == 12  # 480 / 40
    assert total["cost_per_1k_events"] == 60  # 480 / 8 thousand
    assert total["savings_identified_monthly_usd"] == 1500
    assert total["savings_realized_monthly_usd"] == 400
    assert total["savings_realization_rate"] == pytest.approx(400 / 1500)
    compute_line = table.filter(pl.col("service") == "compute").row(0, named=True)
    assert compute_line["anomalous"] and compute_line["anomalous_excess_usd"] == 200
    search = table.filter(pl.col("service") == "search").row(0, named=True)
    assert search["idle_candidate"] and not search["anomalous"]
    assert total["idle_spend_usd"] == 80
    assert total["anomalous_excess_usd"] == 200


def test_operational_efficiency_by_hand():
    start, end = datetime(2026, 3, 10, 4), datetime(2026, 3, 11, 4)
    h = lambda x: start + timedelta(hours=x)  # noqa: E731
    incidents = pl.DataFrame({
        "opened_at": [h(-10), h(2), h(5)], "resolved_at": [h(1), h(8), None],
        "severity": ["sev2", "sev1", "sev3"], "resolution_hours": [11.0, 6.0, None],
    })  # fmt: skip
    tickets = pl.DataFrame({
        "opened_at": [h(-30), h(1), h(2), h(3)],
        "first_response_at": [h(-29), h(2), h(10), None],
        "resolved_at": [h(4), None, h(20), None],
        "first_response_hours": [1.0, 1.0, 8.0, None],
        "sla_first_response_hours": [4.0, 4.0, 4.0, 4.0],
        "resolution_hours": [34.0, None, 18.0, None],
        "sla_resolution_hours": [24.0, 24.0, 24.0, 24.0],
    })  # fmt: skip
    runs = pl.DataFrame({
        "kind": ["deploy", "deploy", "pipeline", "pipeline"],
        "status": ["success", "failed", "success", "success"],
    })  # fmt: skip
    row = operations.operational_efficiency(incidents, tickets, runs, 50, DAY, start, end).row(
        0, named=True
    )
    assert row["incidents_opened"] == 2 and row["sev1_opened"] == 1
    assert row["incidents_resolved"] == 2
    assert row["mttr_hours"] == pytest.approx(8.5)  # (11 + 6) / 2
    assert row["sev12_resolved"] == 2 and row["sev12_resolution_hours"] == 17
    assert row["open_incidents"] == 1
    assert row["tickets_opened"] == 3 and row["tickets_resolved"] == 2
    assert row["ticket_backlog"] == 2
    assert row["first_responses"] == 2  # h(2) and h(10)
    assert row["first_response_sla_rate"] == pytest.approx(0.5)  # 1 h ok, 8 h late
    assert row["resolution_sla_rate"] == pytest.approx(0.5)  # 34 h late, 18 h ok
    assert row["deploys"] == 2 and row["deploy_failures"] == 1
    assert row["pipeline_runs"] == 2
    assert row["runs_finished"] == 4 and row["runs_succeeded"] == 3
    assert row["pipeline_success_rate"] == pytest.approx(0.75)  # deploys and pipelines alike
    assert row["first_responses_within_sla"] == 1
    assert row["tickets_per_100_accounts"] == pytest.approx(6.0)  # 3 / 50 * 100


def test_account_activity():
    activity = compute.account_activity(AGGREGATES.activity(), DAY)
    a = activity.filter(pl.col("account_id") == "A").row(0, named=True)
    assert a["events"] == 3 and a["pageviews"] == 1 and a["active_users"] == 1


def test_a_missing_day_in_the_usage_window_does_not_fake_a_drop():
    """Usage is compared per day of data: five of the last seven days missing (never loaded,
    or blocked) leave a steady account steady; summing what is stored would call it a drop."""
    rows = [("W", DAY - timedelta(days=k), 5) for k in range(28) if k not in (1, 2, 3, 4, 5)]
    activity = pl.DataFrame(rows, schema=["account_id", "date", "events"], orient="row")
    assert compute.usage_drops(activity, DAY).is_empty()
    stored_sum = sum(e for _, d, e in rows if d > DAY - timedelta(days=7))
    assert stored_sum < compute.USAGE_DROP_SHARE * 35  # the naive reading would flag it
