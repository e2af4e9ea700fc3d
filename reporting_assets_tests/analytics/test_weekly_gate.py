"""A week with a day missing fails the weekly analytics' completeness gate (ERROR), and nothing
downstream of it, the weekly review included, is rendered in that run."""

from datetime import date, timedelta

import dagster as dg

from reporting_assets.definitions import defs
from reporting_assets.metrics.assets import metric_assets
from reporting_assets.resources import build_resources
from reporting_assets.sources.assets import source_assets

WEEK = date(2026, 2, 22)  # Sunday 22 – Saturday 28 February 2026


def test_a_missing_day_blocks_the_weekly_review(demo_company, config_with, tmp_path):
    storage = {"data_root": str(tmp_path / "data"), "artifact_root": str(tmp_path / "out")}
    settings = config_with(lambda c: c.update(storage=storage))
    resources = build_resources(settings)
    for k in range(7):
        if k == 3:
            continue  # Wednesday's metrics never ran
        day = (WEEK + timedelta(days=k)).isoformat()
        assert dg.materialize([*source_assets, *metric_assets], partition_key=day,
                              resources=resources).success  # fmt: skip
    everything = list(defs.assets)
    weekly = dg.AssetSelection.groups("scorecards_weekly") | dg.AssetSelection.assets(
        "weekly_business_review"
    )
    result = dg.materialize(everything, selection=weekly, partition_key=WEEK.isoformat(),
                            resources=resources, raise_on_error=False)  # fmt: skip
    assert not result.success
    failed = [e.asset_check_evaluation_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"
              and not e.asset_check_evaluation_data.passed]  # fmt: skip
    complete = {c.check_name: c for c in failed}
    check = complete["metric_trends_weekly_complete"]
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert "only 6 of the week's 7 days" in check.description
    materialized = {e.event_specific_data.materialization.asset_key.to_user_string()
                    for e in result.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION"}  # fmt: skip
    assert "weekly_business_review" not in materialized
    assert not (tmp_path / "out" / "weekly_business_review").exists()
