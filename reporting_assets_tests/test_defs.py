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
}
EXPECTED_JOBS = {"daily_sources_job": set(EXPECTED_ASSETS)}


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
