"""The code location loads, and its shape (assets, groups, partitions, jobs) is what we expect.

A change to this snapshot is a change users see in the Dagster UI or in when things run: update it
deliberately, in the same change.
"""

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from reporting_assets.config import get_settings
from reporting_assets.definitions import defs
from reporting_assets.lib.pools import POOL_LIMITS
from reporting_assets_tests.conftest import TODAY

ROOT = Path(__file__).parents[1]

EXPECTED_ASSETS = {
    # asset: (group, partitions)
    "posthog_events": ("step1_sources", "daily"),
    "cloud_costs": ("step1_sources", "daily"),
    "cost_savings": ("step1_sources", "daily"),
    "incidents": ("step1_sources", "daily"),
    "support_tickets": ("step1_sources", "daily"),
    "deploy_runs": ("step1_sources", "daily"),
    "account_snapshot": ("step1_sources", "daily"),
    "strategic_initiatives": ("step1_sources", "daily"),
    "initiative_milestones": ("step1_sources", "daily"),
    "initiative_ledger": ("step1_sources", "daily"),
    "industry_benchmarks": ("step1_sources", "daily"),
    "account_activity_daily": ("step2_metrics_daily", "daily"),
    "revenue_protection_daily": ("step2_metrics_daily", "daily"),
    "cost_optimization_daily": ("step2_metrics_daily", "daily"),
    "operational_efficiency_daily": ("step2_metrics_daily", "daily"),
    "critical_alerts_daily": ("step2_metrics_daily", "daily"),
    "daily_executive": ("step5_reports", "daily"),
    "weekly_business_review": ("step5_reports", "weekly"),
    "monthly_board_report": ("step5_reports", "monthly"),
    **{f"daily_executive_{c}": ("step6_distribution", "daily")
       for c in ("email", "slack", "dashboard")},
    **{f"weekly_business_review_{c}": ("step6_distribution", "weekly")
       for c in ("email", "teams", "dashboard")},
    **{f"monthly_board_report_{c}": ("step6_distribution", "monthly")
       for c in ("email", "webhook", "dashboard")},
    "performance_review": ("step5_reports", "monthly"),  # the reporting's own review
    **{f"performance_review_{c}": ("step6_distribution", "monthly")
       for c in ("email", "dashboard")},
}  # fmt: skip
WEEKLY_ANALYTICS = (
    "kpis_weekly",
    "metric_trends_weekly",
    "business_scorecard_weekly",
    "initiative_progress_weekly",
    "roi_weekly",
)
MONTHLY_ANALYTICS = (
    "kpis_monthly",
    "business_history_monthly",
    "business_analysis_monthly",
    "market_benchmarks_monthly",
    "forecasts_monthly",
    "churn_risk_monthly",
    "strategic_recommendations_monthly",
    "business_impact_monthly",
)
EXPECTED_ASSETS.update({a: ("step3_scorecards_weekly", "weekly") for a in WEEKLY_ANALYTICS})
EXPECTED_ASSETS.update({a: ("step4_analysis_monthly", "monthly") for a in MONTHLY_ANALYTICS})
# The platform's service levels, each with its one check against its target.
SLO_CHECKS = {
    "slo_generation_time": "runs_within_target",
    "slo_landing_to_delivery": "delivered_within_target",
    "slo_delivery_success": "success_rate_met",
    "slo_dashboard_latency": "latency_within_target",
    "slo_report_freshness": "reports_on_time",
    "slo_availability": "availability_met",
}
EXPECTED_ASSETS.update({a: ("step7_platform", "daily") for a in SLO_CHECKS})
# The platform's quarterly enhancement plan and annual strategic review.
EXPECTED_ASSETS["enhancement_backlog_quarterly"] = ("step7_platform", "quarterly")
EXPECTED_ASSETS["strategic_review_annual"] = ("step7_platform", "yearly")
REPORTS = (
    "daily_executive",
    "weekly_business_review",
    "monthly_board_report",
    "performance_review",
)
DELIVERY = {r: {k for k in EXPECTED_ASSETS if k.startswith(f"{r}_")} for r in REPORTS}
SOURCES = {k for k, (group, _) in EXPECTED_ASSETS.items() if group == "step1_sources"}
METRICS = {
    k
    for k, (group, _) in EXPECTED_ASSETS.items()
    if group in ("step1_sources", "step2_metrics_daily")
}
EXPECTED_JOBS = {
    "daily_sources_job": SOURCES,
    "daily_history_job": {"posthog_events", "account_activity_daily", "cloud_costs"},
    "daily_metrics_job": METRICS,
    "daily_report_job": METRICS | {"daily_executive"} | DELIVERY["daily_executive"],
    "weekly_analytics_job": set(WEEKLY_ANALYTICS),
    "monthly_kpis_job": {"kpis_monthly"},
    "weekly_report_job": {"weekly_business_review", *WEEKLY_ANALYTICS}
    | DELIVERY["weekly_business_review"],
    "monthly_report_job": {"monthly_board_report", "performance_review", *MONTHLY_ANALYTICS}
    | DELIVERY["monthly_board_report"]
    | DELIVERY["performance_review"],
    **{f"{r}_delivery_job": keys for r, keys in DELIVERY.items()},
    "platform_slo_job": set(SLO_CHECKS),
    "enhancement_planning_job": {"enhancement_backlog_quarterly"},
    "strategic_review_job": {"strategic_review_annual"},
}
EXPECTED_SENSORS = {"review_approval_sensor", "critical_alert_sensor", "check_failure_sensor",
                    "failed_run_sensor", "health_probe_sensor"}  # fmt: skip
ANALYTICS_GATES = (
    "complete",
    "within_business_rules",
    "consistent_with_history",
    "thresholds_valid",
)
GATES = ("complete", "within_business_rules", "consistent_with_history", "alert_thresholds_valid")
# Check names say only what is checked: the asset is part of the check's key.
EXPECTED_CHECKS = {
    "posthog_events": {"matches_schema", "complete"},
    **{s: {"complete"} for s in SOURCES - {"posthog_events"}},
    "account_activity_daily": {"complete"},
    **{m: set(GATES) for m in (
        "revenue_protection_daily", "cost_optimization_daily", "operational_efficiency_daily",
        "critical_alerts_daily")},
    **{a: set(ANALYTICS_GATES) for a in (*WEEKLY_ANALYTICS, *MONTHLY_ANALYTICS)},
}  # fmt: skip
for model in ("forecasts_monthly", "churn_risk_monthly"):
    EXPECTED_CHECKS[model].add("beats_naive_baseline")
EXPECTED_CHECKS.update({asset: {check} for asset, check in SLO_CHECKS.items()})
EXPECTED_CHECKS["enhancement_backlog_quarterly"] = {"quarter_complete"}
EXPECTED_CHECKS["strategic_review_annual"] = {"year_complete"}


def _partition_kind(pdef) -> str | None:
    if pdef is None:
        return None
    if type(pdef) is dg.TimeWindowPartitionsDefinition:
        return {"0 0 1 */3 *": "quarterly", "0 0 1 1 *": "yearly"}[pdef.cron_schedule]
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
    "platform_slo_job_schedule": ("platform_slo_job", "45 7 * * *", "America/New_York"),
    "platform_slo_weekly_schedule": ("platform_slo_job", "45 19 * * 0", "America/New_York"),
    "enhancement_planning_job_schedule": (
        "enhancement_planning_job",
        "59 23 L 3,6,9,12 *",
        "America/New_York",
    ),
    "strategic_review_job_schedule": ("strategic_review_job", "59 23 31 12 *", "America/New_York"),
}


# The assets that talk to an outside service, and the concurrency pool each queues for across
# runs (limits: reporting_assets/lib/pools.py, written to the instance by `reporting pools`).
WAREHOUSE_ANALYTICS = (
    "business_history_monthly",
    "business_analysis_monthly",
    "churn_risk_monthly",
)
EXPECTED_POOLS = {
    "posthog_events": "posthog_api",
    **{s: "warehouse" for s in SOURCES - {"posthog_events"}},
    **{a: "warehouse" for a in WAREHOUSE_ANALYTICS},
    **{f"{r}_email": "smtp_relay" for r in REPORTS},
    "daily_executive_slack": "slack_webhook",
    "weekly_business_review_teams": "teams_webhook",
    "monthly_board_report_webhook": "report_webhook",
}


def test_pool_snapshot():
    graph = defs.resolve_asset_graph()
    actual = {}
    for key in graph.get_all_asset_keys():
        for pool in graph.get(key).pools or ():
            actual[key.to_user_string()] = pool
    assert actual == EXPECTED_POOLS
    # Every pool an asset names has its limit, and every limit is for a pool in use.
    assert set(actual.values()) == set(POOL_LIMITS)


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


def test_partitions_are_in_the_report_timezone_and_start_where_the_demo_loads():
    """The demo config's partitions start "100 days ago" (the days `make demo` loads), so the UI
    offers no day the demo never meant to compute; the first week and month are the first whole
    ones from there; the first quarter and year are the ones holding that day (their reviews
    name the months they lack)."""
    first = TODAY - timedelta(days=100)
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        pdef = graph.get(key).partitions_def
        assert pdef.timezone == "America/New_York", key
        start = date.fromisoformat(pdef.get_first_partition_key())
        kind = _partition_kind(pdef)
        if kind == "quarterly":
            assert start == first.replace(month=(first.month - 1) // 3 * 3 + 1, day=1), key
            continue
        if kind == "yearly":
            assert start == first.replace(month=1, day=1), key
            continue
        assert first <= start < first + timedelta(days=31), key
        if isinstance(pdef, dg.DailyPartitionsDefinition):
            assert start == first, key


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


def test_every_asset_has_an_owner_from_the_config():
    settings = get_settings()
    data_team = settings.distribution_lists[settings.notifications.data_team].to
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        report = spec.tags.get("report")
        if report is None:
            assert list(spec.owners) == data_team, name
        else:
            assert list(spec.owners) == [settings.reports[report].owner], name
            assert spec.tags["cadence"] == settings.reports[report].cadence
    assert [r for r in settings.reports if settings.reports[r].owner] == list(settings.reports)


def test_groups_read_in_the_order_data_flows():
    groups = sorted({spec.group_name for spec in defs.resolve_all_asset_specs()})
    assert groups == ["step1_sources", "step2_metrics_daily", "step3_scorecards_weekly",
                      "step4_analysis_monthly", "step5_reports", "step6_distribution",
                      "step7_platform"]  # fmt: skip
    graph = defs.resolve_asset_graph()
    for group in groups:  # what a user types in the UI's selection box or `dagster … --select`
        assert dg.AssetSelection.from_string(f"group:{group}").resolve(graph), group


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


def test_sensors_run_on_their_own():
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == EXPECTED_SENSORS
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    # Real-time alerts and approvals must be seen within 30 s.
    assert sensors["critical_alert_sensor"].minimum_interval_seconds <= 30
    assert sensors["review_approval_sensor"].minimum_interval_seconds <= 30


def test_report_assets_have_freshness_deadlines():
    graph = defs.resolve_asset_graph()
    for report in REPORTS:
        policy = graph.get(dg.AssetKey(report)).freshness_policy
        assert policy is not None and policy.timezone == "America/New_York", report


# Every read of another partition is a declared dependency: (asset, upstream) → (start, end)
# offsets of its time-window mapping, in the downstream asset's partitions.
EXPECTED_WINDOWS = {
    ("posthog_events", "posthog_events"): (-28, -1),
    ("revenue_protection_daily", "account_activity_daily"): (-27, 0),
    ("revenue_protection_daily", "revenue_protection_daily"): (-56, -1),
    ("cost_optimization_daily", "cloud_costs"): (-28, 0),
    ("cost_optimization_daily", "cost_optimization_daily"): (-56, -1),
    ("operational_efficiency_daily", "operational_efficiency_daily"): (-56, -1),
    ("critical_alerts_daily", "revenue_protection_daily"): (-58, 0),
    ("critical_alerts_daily", "critical_alerts_daily"): (-56, -1),
    ("kpis_weekly", "revenue_protection_daily"): (0, 0),
    ("kpis_weekly", "kpis_weekly"): (-8, -1),
    ("kpis_monthly", "kpis_monthly"): (-6, -1),
    ("metric_trends_weekly", "kpis_weekly"): (-7, 0),
    ("business_scorecard_weekly", "business_scorecard_weekly"): (-8, -1),
    ("churn_risk_monthly", "account_activity_daily"): (-2, 0),
    ("business_impact_monthly", "kpis_monthly"): (-36, 0),
    ("weekly_business_review", "kpis_weekly"): (-1, 0),
    ("monthly_board_report", "kpis_monthly"): (-1, 0),
    ("daily_executive", "revenue_protection_daily"): (-27, 0),
}


def test_earlier_partitions_are_declared_dependencies():
    graph = defs.resolve_asset_graph()
    for (asset, upstream), offsets in EXPECTED_WINDOWS.items():
        mapping = graph.get_partition_mapping(dg.AssetKey(asset), dg.AssetKey(upstream))
        assert isinstance(mapping, dg.TimeWindowPartitionMapping), (asset, upstream, mapping)
        assert (mapping.start_offset, mapping.end_offset) == offsets, (asset, upstream)


def test_no_asset_reads_stored_partitions_through_a_side_door():
    for assets_def in defs.resolve_asset_graph().assets_defs:
        assert "asset_history" not in assets_def.required_resource_keys, assets_def.keys
