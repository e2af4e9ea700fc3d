"""`business_impact_monthly` materialized on a small instance: its figures equal the hand
computations from the raw deliveries, acknowledgements, monthly KPIs and registers, and its
checks pass."""

from datetime import date

import polars as pl
import pytest

from reporting_assets_tests.analytics.test_impact import acks_by_hand
from reporting_assets_tests.conftest import label

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes


def test_business_impact_monthly_by_hand(config_with, tmp_path):
    import dagster as dg

    from reporting_assets.analytics.impact_assets import business_impact_monthly
    from reporting_assets.partitions import daily_partitions, monthly_partitions
    from reporting_assets.resources import build_resources

    def configure(c):
        c["storage"].update(data_root=str(tmp_path / "data"))
        c["impact"].update(go_live="2026-02-01", baseline_start="2026-01-01", baseline_months=1)

    settings = config_with(configure)
    resources = build_resources(settings)
    hand = acks_by_hand(resources["app_db"].engine)
    assets = tmp_path / "data" / "assets"
    for name, key, frame in (
        ("kpis_monthly", "2026-01-01", {"at_risk": 1000.0, "recovered": 500.0}),
        ("kpis_monthly", "2026-03-01", {"at_risk": 2000.0, "recovered": 1120.0}),
    ):
        (assets / name).mkdir(parents=True, exist_ok=True)
        pl.DataFrame({
            "metric": ["mrr_at_risk_flagged", "revenue_recovered"],
            "value": [frame["at_risk"], frame["recovered"]],
            "complete": [True, True], "days_counted": [15, 15],
        }).write_parquet(assets / name / f"{key}.parquet")  # fmt: skip
    registers = {
        "cost_savings": pl.DataFrame({"monthly_savings_usd": [600.0, 400.0],
                                      "realized_monthly_savings_usd": [150.0, None]}),
        "strategic_initiatives": pl.DataFrame({
            "planned_end_date": [date(2026, 2, 1), date(2026, 3, 1), date(2026, 9, 1)],
            "actual_end_date": [date(2026, 1, 20), None, None]}),
    }  # fmt: skip
    for name, frame in registers.items():
        (assets / name).mkdir(parents=True)
        frame.write_parquet(assets / name / "2026-03-15.parquet")  # the month's last day due
    specs = [
        dg.AssetSpec("kpis_monthly", partitions_def=monthly_partitions),
        dg.AssetSpec("cost_savings", partitions_def=daily_partitions),
        dg.AssetSpec("strategic_initiatives", partitions_def=daily_partitions),
    ]
    result = dg.materialize(
        [*specs, business_impact_monthly], partition_key="2026-03-01", resources=resources
    )
    assert result.success
    failed = [label(c) for c in result.get_asset_check_evaluations() if not c.passed]
    assert failed == []
    table = pl.read_parquet(assets / "business_impact_monthly" / "2026-03-01.parquet")
    rows = {r["metric"]: r for r in table.iter_rows(named=True)}
    speed = rows["executive_decision_speed_hours"]
    assert (speed["value"], speed["baseline"]) == (hand["month"], hand["baseline"])
    assert speed["status"] == "green"  # 87.5 % faster against 25 %
    protection = rows["revenue_protection_share"]
    assert (protection["value"], protection["baseline"]) == (0.56, 0.5)
    assert protection["status"] == "amber"  # 12 % more, 3 points short of 15 %
    cost = rows["cost_optimization_realization"]
    assert cost["value"] == 0.15 and cost["status"] == "amber"  # 150 / 1,000; 5 points short
    success = rows["initiative_success_rate"]
    assert success["value"] == 0.5 and success["status"] == "red"  # 1 of the 2 due on plan
    assert success["reason"] == "short of its target by more than its tolerance"
