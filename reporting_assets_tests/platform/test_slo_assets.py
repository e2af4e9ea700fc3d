"""The platform SLO assets on a Dagster instance over the demo company: a job slower than its
target, a delivery channel that bounced, and a report partition rendered after its deadline each
fail their own named check, with the figure, and the data team hears of each once; and a report
period's freshness is judged by its first materialization, so a re-run or a backfill never turns
a late report into an on-time one."""

import email
import email.policy
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import freeze_time

from reporting_assets.definitions import defs
from reporting_assets.platform.assets import platform_assets, slo_report_freshness
from reporting_assets.records.feed import Feed
from reporting_assets.records.ledger import DeliveryLedger
from reporting_assets.records.measurements import Probe, record_probe, stream_latencies
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import PartitionedParquetIOManager
from reporting_assets.sensors import check_failure_sensor

pytestmark = pytest.mark.integration  # runs Dagster jobs

NY = ZoneInfo("America/New_York")
DAY = "2026-03-11"  # a Wednesday of the demo company: only the daily report's period ends on it
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
DATA_TEAM = "data-team@northwind.example"
EXECUTIVES = [
    "ceo@northwind.example",
    "cfo@northwind.example",
    "coo@northwind.example",
    "chief.of.staff@northwind.example",
]


def _resources(tmp_path) -> dict:
    return {
        "business": SettingsResource(),
        "app_db": AppDatabase(sqlite_path=str(tmp_path / "app.db")),
        "io_manager": PartitionedParquetIOManager(root=str(tmp_path / "assets")),
    }


def _evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def _at(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=NY)


def test_missed_slos_fail_their_named_checks_and_reach_the_data_team_once(
    demo_company, config_with, tmp_path
):
    """The slow job is a real run of `daily_sources_job` for the day, judged against a daily
    target of 0.06 s set in the config (what would be a pipeline taking more than 5 minutes).
    The bounce is recorded in the delivery ledger as the SMTP sender records one. The late report
    is a materialization of `daily_executive` recorded now, long after the day's 07:30 deadline
    (rendering the real report would need the whole daily pipeline). The web app's latency
    measurements and probes are recorded for that day, all within target."""
    config_with(
        lambda c: (
            c["channels"]["email"].update(outbox_dir=str(tmp_path / "outbox")),
            c["slo"]["generation_minutes"].update(daily=0.001),
        )
    )
    resources = _resources(tmp_path)
    engine = resources["app_db"].engine
    ledger = DeliveryLedger(engine)
    with dg.DagsterInstance.ephemeral() as instance:
        run = defs.resolve_job_def("daily_sources_job").execute_in_process(
            partition_key=DAY, instance=instance, run_config=QUIET, raise_on_error=False
        )
        # Delivered by the slack and dashboard channels; by email, one address bounced.
        rows = {r.target: r for r in ledger.plan("daily_executive", DAY, "email", EXECUTIVES)}
        for target, row in rows.items():
            if target == "cfo@northwind.example":
                ledger.mark_failed(
                    row.id,
                    f"{target}: (550, b'5.1.1 <{target}>: user unknown')",
                    True,
                    response="550 5.1.1 user unknown",
                )
            else:
                ledger.mark_sent(row.id, f"<{row.id}@northwind.example>", "250 2.0.0 queued")
        for channel, target in (("slack", "slack"), ("dashboard", "feed")):
            [row] = ledger.plan("daily_executive", DAY, channel, [target])
            ledger.mark_sent(row.id, None, "ok")
        instance.report_runless_asset_event(
            dg.AssetMaterialization("daily_executive", partition=DAY)
        )
        noon = _at(DAY, 12)
        with engine.begin() as conn:  # the page of a reader who had the dashboard open
            conn.execute(
                stream_latencies.insert(),
                [
                    {
                        "reader": "ceo@northwind.example",
                        "notification_id": i,
                        "seconds": s,
                        "written_at": noon + timedelta(minutes=i),
                    }
                    for i, s in enumerate([0.4, 0.6, 0.9, 1.1])
                ],
            )
        for minute in range(60):
            record_probe(
                engine,
                "http://127.0.0.1:8080/healthz",
                Probe(True, 200, 0.01, None, noon + timedelta(minutes=minute)),
            )

        result = dg.materialize(
            platform_assets,
            partition_key=DAY,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        checks = _evaluations(result)
        assert {a: (e.check_name, e.passed) for a, e in checks.items()} == {
            "slo_generation_time": ("runs_within_target", False),
            "slo_delivery_success": ("success_rate_met", False),
            "slo_report_freshness": ("reports_on_time", False),
            "slo_landing_to_delivery": ("delivered_within_target", True),
            "slo_dashboard_latency": ("latency_within_target", True),
            "slo_availability": ("availability_met", True),
        }
        assert all(e.severity == dg.AssetCheckSeverity.WARN for e in checks.values())
        said = {a: e.description for a, e in checks.items()}
        record = instance.get_run_record_by_id(run.run_id)
        took = (record.end_time - record.start_time) / 60
        assert (
            f"daily_sources_job [{DAY}] took {took:.1f} min (target 0.001)"
            in said["slo_generation_time"]
        )
        assert (
            "channel email: 75.0% delivered (1 refused for good; target 99.5%)"
            in said["slo_delivery_success"]
        )
        assert "report daily_executive: 83.3% delivered" in said["slo_delivery_success"]
        assert said["slo_report_freshness"].startswith(f"daily_executive [{DAY}] late: ")
        assert said["slo_dashboard_latency"] == "p95 1.10 s over 4 notifications"
        assert said["slo_availability"] == "available 100.00% of 60 probes"

        causes = result.asset_materializations_for_node("slo_delivery_success")[0].metadata
        assert (
            "| daily_executive | email | bounce | unknown recipient | 1 |" in causes["causes"].value
        )
        stored = pl.read_parquet(tmp_path / "assets" / "slo_landing_to_delivery" / f"{DAY}.parquet")
        assert sorted(stored["channel"]) == ["dashboard", "email", "slack"]
        assert stored["minutes"].max() < 5  # delivered right after the sources landed

        # The data team hears of each missed SLO once, however many times the sensor ticks.
        cursor = None
        for _ in range(2):
            tick = check_failure_sensor(
                dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            )
            cursor = tick.cursor
    notes = [n for n in Feed(engine).for_user(DATA_TEAM) if n.kind == "check_failure"]
    assert sorted((n.report, n.period, n.severity) for n in notes) == [
        ("slo_delivery_success", DAY, "warning"),
        ("slo_generation_time", DAY, "warning"),
        ("slo_report_freshness", DAY, "warning"),
    ]
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted((tmp_path / "outbox" / "notice_check_failure").rglob("*.eml"))
    ]
    assert len(mails) == 3 and all(m["To"] == DATA_TEAM for m in mails)
    assert any("runs_within_target" in m.get_content() for m in mails)


def test_backfilling_an_old_day_does_not_make_a_late_report_fresh(config_with, tmp_path):
    """The report materializations are recorded as runless events at chosen times (the wall
    time is the only thing fabricated: rendering the real report for each day would take the
    whole daily pipeline). The 10th was first rendered 45 minutes after its deadline and again
    on time for the next day's deadline; the 12th on time and again much later; the 2nd only
    now, a backfill of an old day."""
    resources = _resources(tmp_path)
    engine = resources["app_db"].engine

    def rendered(day: str, at: datetime | None = None) -> None:
        event = dg.AssetMaterialization("daily_executive", partition=day)
        if at is None:
            instance.report_runless_asset_event(event)
            return
        with freeze_time(at):
            instance.report_runless_asset_event(event)

    def judged(day: str) -> dict:
        result = dg.materialize(
            [slo_report_freshness],
            partition_key=day,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        [check] = result.get_asset_check_evaluations()
        [row] = (
            pl.read_parquet(tmp_path / "assets" / "slo_report_freshness" / f"{day}.parquet")
            .filter(pl.col("report") == "daily_executive")
            .iter_rows(named=True)
        )
        return {
            "passed": check.passed,
            "status": row["status"],
            "late": row["minutes_late"],
            "first": row["first_materialized"],
        }

    with dg.DagsterInstance.ephemeral() as instance:
        rendered("2026-03-10", _at("2026-03-11", 8, 15))  # due 07:30: 45 minutes late
        rendered("2026-03-12", _at("2026-03-13", 6, 40))  # on time
        before = {d: judged(d) for d in ("2026-03-10", "2026-03-12")}
        rendered("2026-03-10", _at("2026-03-11", 9, 0))  # re-run of the late day
        rendered("2026-03-12")  # re-rendered today, long after its deadline
        rendered("2026-03-10")  # and the late day backfilled again today
        rendered("2026-03-02")  # an old day, first rendered today
        after = {d: judged(d) for d in ("2026-03-10", "2026-03-12", "2026-03-02")}
    assert before["2026-03-10"]["status"] == after["2026-03-10"]["status"] == "late"
    assert after["2026-03-10"]["late"] == pytest.approx(45.0)
    assert after["2026-03-10"]["first"] == _at("2026-03-11", 8, 15).astimezone(UTC)
    assert not before["2026-03-10"]["passed"] and not after["2026-03-10"]["passed"]
    assert before["2026-03-12"] == after["2026-03-12"]
    assert after["2026-03-12"]["status"] == "on time" and after["2026-03-12"]["passed"]
    # The backfilled old day is judged by its own deadline (07:30 on 3 March), not today's.
    old = after["2026-03-02"]
    assert old["status"] == "late" and not old["passed"]
    due = _at("2026-03-03", 7, 30)
    assert old["late"] == pytest.approx((old["first"] - due).total_seconds() / 60)
    with engine.connect() as conn:  # recorded for the data team's notices like any check
        failed = (
            conn.execute(
                sa.text(
                    "SELECT partition_key FROM check_results WHERE asset = 'slo_report_freshness' "
                    "AND NOT passed ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert failed == ["2026-03-10", "2026-03-10", "2026-03-02"]
