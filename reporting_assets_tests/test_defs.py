"""The code location loads, and its shape (assets, groups, partitions, jobs) is what we expect.

A change to this snapshot is a change users see in the Dagster UI or in when things run: update it
deliberately, in the same change.
"""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from reporting_assets.definitions import defs

ROOT = Path(__file__).parents[1]

EXPECTED_ASSETS = {
    # asset: (group, partitions)
    "posthog_events": ("sources", "daily"),
    "cloud_costs": ("sources", "daily"),
    "cost_savings": ("sources", "daily"),
    "incidents": ("sources", "daily"),
    "support_tickets": ("sources", "daily"),
    "deploy_runs": ("sources", "daily"),
    "account_snapshot": ("sources", "daily"),
    "strategic_initiatives": ("sources", "daily"),
    "initiative_milestones": ("sources", "daily"),
    "initiative_ledger": ("sources", "daily"),
    "industry_benchmarks": ("sources", "daily"),
    "account_activity_daily": ("metrics_daily", "daily"),
    "revenue_protection_daily": ("metrics_daily", "daily"),
    "cost_optimization_daily": ("metrics_daily", "daily"),
    "operational_efficiency_daily": ("metrics_daily", "daily"),
    "critical_alerts_daily": ("metrics_daily", "daily"),
    "daily_executive": ("reports", "daily"),
    "weekly_business_review": ("reports", "weekly"),
    "monthly_board_report": ("reports", "monthly"),
    "daily_executive_email": ("distribution", "daily"),
    "weekly_business_review_email": ("distribution", "weekly"),
    "monthly_board_report_email": ("distribution", "monthly"),
}
SOURCES = {k for k, (group, _) in EXPECTED_ASSETS.items() if group == "sources"}
METRICS = {k for k, (group, _) in EXPECTED_ASSETS.items() if group in ("sources", "metrics_daily")}
EXPECTED_JOBS = {
    "daily_sources_job": SOURCES,
    "daily_metrics_job": METRICS,
    "daily_report_job": METRICS | {"daily_executive", "daily_executive_email"},
    "weekly_report_job": {"weekly_business_review", "weekly_business_review_email"},
    "monthly_report_job": {"monthly_board_report", "monthly_board_report_email"},
}
GATES = ("complete", "within_business_rules", "consistent_with_history", "alert_thresholds_valid")
EXPECTED_CHECKS = {
    "posthog_events": {"posthog_events_matches_schema", "posthog_events_complete"},
    **{s: {f"{s}_complete"} for s in SOURCES - {"posthog_events"}},
    "account_activity_daily": {"account_activity_daily_complete"},
    **{m: {f"{m}_{g}" for g in GATES} for m in (
        "revenue_protection_daily", "cost_optimization_daily", "operational_efficiency_daily",
        "critical_alerts_daily")},
}  # fmt: skip


def _partition_kind(pdef) -> str | None:
    if pdef is None:
        return None
    return {
        dg.DailyPartitionsDefinition: "daily",
        dg.WeeklyPartitionsDefinition: "weekly",
        dg.MonthlyPartitionsDefinition: "monthly",
    }[type(pdef)]


def test_asset_snapshot():
    graph = defs.resolve_asset_graph()
    actual = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        actual[key.to_user_string()] = (node.group_name, _partition_kind(node.partitions_def))
    assert actual == EXPECTED_ASSETS


EXPECTED_SCHEDULES = {
    # schedule: (job, cron, timezone)
    "daily_report_job_schedule": ("daily_report_job", "30 6 * * *", "America/New_York"),
    "weekly_report_job_schedule": ("weekly_report_job", "0 18 * * 0", "America/New_York"),
    "monthly_report_job_schedule": ("monthly_report_job", "59 23 L * *", "America/New_York"),
}


def test_schedule_snapshot():
    resolved = [defs.resolve_schedule_def(s.name) for s in defs.schedules]
    actual = {s.name: (s.job_name, s.cron_schedule, s.execution_timezone) for s in resolved}
    assert actual == EXPECTED_SCHEDULES


def test_check_snapshot():
    graph = defs.resolve_asset_graph()
    actual = {}
    for key in graph.asset_check_keys:
        actual.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    assert actual == EXPECTED_CHECKS


def test_partitions_are_in_the_report_timezone():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        pdef = graph.get(key).partitions_def
        assert pdef.timezone == "America/New_York", key
        assert pdef.start.date().isoformat() == "2025-10-01", key


def test_job_selections():
    for name, expected in EXPECTED_JOBS.items():
        job = defs.resolve_job_def(name)
        selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
        assert selected == expected, name


def test_every_asset_has_a_business_description():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        description = graph.get(key).description or ""
        assert len(description) > 30, f"{key.to_user_string()} needs a description"


def test_dagster_validates_the_workspace():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout
