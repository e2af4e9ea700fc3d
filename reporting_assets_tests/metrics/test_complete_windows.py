"""Windows and periods with a hole: a day never computed, or blocked by its own quality gate.

A week with a missing day fails `kpis_weekly:complete` (ERROR) by name and nothing downstream is
rendered; with the report's gap policy (`incomplete_period: state_gaps`) it renders and says
which day is missing next to every figure, and no trend is called significant. A daily metric's
4-week usage window with a day never computed fails its completeness gate by name; a day that its
own gate blocked is left out and said to be.
"""

import subprocess
from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest
from pptx import Presentation

from reporting_assets.definitions import defs
from reporting_assets.metrics.assets import metric_assets
from reporting_assets.reports.period import PERIOD_KPIS
from reporting_assets.resources import build_resources
from reporting_assets.resources.artifacts import ArtifactStore
from reporting_assets.sources.assets import source_assets
from reporting_assets_tests.conftest import copy_history, label, manifest_dates

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

WEEK = date(2026, 3, 8)  # Sunday 8 – Saturday 14 March 2026, with the spring DST change
MISSING = date(2026, 3, 11)
WEEKLY = dg.AssetSelection.groups("step3_scorecards_weekly") | dg.AssetSelection.assets(
    "weekly_business_review"
)


def _home(config_with, tmp_path, gap_policy: str = "block"):
    """Settings and resources over a data root of the test's own, with the shared history."""
    storage = {"data_root": str(tmp_path / "data"), "artifact_root": str(tmp_path / "out")}

    def mutate(c):
        c["storage"].update(storage)
        c["reports"]["weekly_business_review"]["incomplete_period"] = gap_policy

    settings = config_with(mutate)
    copy_history(tmp_path / "data" / "assets")
    return settings, build_resources(settings)


def _days(resources, days) -> dict[str, dg.ExecuteInProcessResult]:
    return {
        d.isoformat(): dg.materialize(
            [*source_assets, *metric_assets],
            partition_key=d.isoformat(),
            resources=resources,
            raise_on_error=False,
        )
        for d in days
    }


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {label(c): c for c in result.get_asset_check_evaluations()}


def _materialized(result) -> set[str]:
    return {
        e.event_specific_data.materialization.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }


def _week_without_wednesday(resources):
    week = [WEEK + timedelta(days=k) for k in range(7)]
    assert all(r.success for r in _days(resources, [d for d in week if d != MISSING]).values())
    return dg.materialize(
        list(defs.assets),
        selection=WEEKLY,
        partition_key=WEEK.isoformat(),
        resources=resources,
        raise_on_error=False,
    )


def test_a_missing_day_blocks_the_week_by_name(demo_history, config_with, tmp_path):
    _, resources = _home(config_with, tmp_path)
    result = _week_without_wednesday(resources)
    assert not result.success
    check = _checks(result)["kpis_weekly:complete"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "no checked daily metrics for 11 March 2026" in check.description
    assert "weekly_business_review" not in _materialized(result)
    assert not (tmp_path / "out" / "weekly_business_review").exists()


def test_with_the_gap_policy_every_figure_names_the_missing_day(
    demo_history, config_with, tmp_path
):
    _, resources = _home(config_with, tmp_path, gap_policy="state_gaps")
    result = _week_without_wednesday(resources)
    assert result.success
    check = _checks(result)["kpis_weekly:complete"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    kpis = pl.read_parquet(tmp_path / "data/assets/kpis_weekly" / f"{WEEK}.parquet")
    assert kpis["days_counted"].unique().to_list() == [6]
    assert kpis["missing_days"].unique().to_list() == [MISSING.isoformat()]
    trends = pl.read_parquet(tmp_path / "data/assets/metric_trends_weekly" / f"{WEEK}.parquet")
    assert not trends["significant"].any() and not trends["window_complete"].any()
    version = ArtifactStore(tmp_path / "out").latest("weekly_business_review", WEEK.isoformat())
    text = subprocess.run(
        ["pdftotext", str(version / f"weekly_business_review_{WEEK}.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = " ".join(text.split())
    assert "Incomplete period: 1 of 7 days missing: 11 March 2026" in flat
    # Every KPI card, on the cover and in the summary, says so, as do the sentences with sums.
    cards = flat.count("1 of 7 days missing: 11 March 2026")
    assert cards >= len(PERIOD_KPIS) + 3
    # So do the decks, on their KPI slide.
    for deck in version.glob("*.pptx"):
        slides = [" ".join(sh.text_frame.text for sh in slide.shapes if sh.has_text_frame)
                  for slide in Presentation(deck).slides]  # fmt: skip
        assert any("leaves out 1 of 7 days missing: 11 March 2026" in t for t in slides), deck


def test_a_usage_window_with_a_day_never_computed_fails_by_name(
    demo_history, config_with, tmp_path
):
    _, resources = _home(config_with, tmp_path)
    hole = date(2026, 3, 1)
    (tmp_path / "data/assets/account_activity_daily" / f"{hole}.parquet").unlink()
    result = _days(resources, [date(2026, 3, 10)])["2026-03-10"]
    assert not result.success
    check = _checks(result)["revenue_protection_daily:complete"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "the 4-week usage window has no data for 1 March 2026" in check.description
    assert "critical_alerts_daily" not in _materialized(result)


def test_a_day_blocked_by_its_gate_is_left_out_of_windows_and_named(
    demo_history, demo_company, config_with, tmp_path
):
    outage = date.fromisoformat(manifest_dates(demo_company)["tracking_outage"])
    week = outage - timedelta(days=(outage.weekday() + 1) % 7)  # its Sunday
    _, resources = _home(config_with, tmp_path)
    runs = _days(resources, [week + timedelta(days=k) for k in range(7)])
    assert not runs[outage.isoformat()].success  # the tracking outage stops its own day
    after = runs[(outage + timedelta(days=1)).isoformat()]
    assert after.success  # ... but not the days whose windows contain it
    revenue = after.asset_materializations_for_node("revenue_protection_daily")[0]
    assert f"leaves out {outage.day} {outage:%B %Y}" in revenue.metadata["usage_window"].value
    assert "posthog_events:complete" in revenue.metadata["usage_window"].value
    result = dg.materialize(
        list(defs.assets),
        selection=WEEKLY,
        partition_key=week.isoformat(),
        resources=resources,
        raise_on_error=False,
    )
    check = _checks(result)["kpis_weekly:complete"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert f"{outage.day} {outage:%B %Y} is blocked by its quality gate" in check.description
    assert "weekly_business_review" not in _materialized(result)
