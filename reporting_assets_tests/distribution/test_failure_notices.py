"""The data team hears of failed checks (WARN too, which never fails a run) and failed report
runs, once each, on the dashboard and by email."""

import email
import email.policy

import dagster as dg

from reporting_assets.config import get_settings
from reporting_assets.definitions import defs
from reporting_assets.quality.checks import CheckOutcome
from reporting_assets.records.feed import Feed
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.sensors import check_failure_sensor, failed_run_sensor

DATA_TEAM = "data-team@northwind.example"


def _emails(root, kind: str) -> list:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted((root / f"notice_{kind}").rglob("*.eml"))]  # fmt: skip


def _resources(app_db: AppDatabase) -> dict:
    return {"app_db": app_db, "business": SettingsResource()}


def test_failed_warn_and_error_checks_reach_the_data_team_once(tmp_path, config_with):
    config_with(lambda c: c["channels"]["email"].update(outbox_dir=str(tmp_path / "outbox")))
    app_db = AppDatabase(sqlite_path=str(tmp_path / "app.db"))
    app_db.record_checks("cost_optimization_daily", "2026-03-06", "run-1", {
        "consistent_with_history": CheckOutcome(
            False, "WARN", "spend = $9,120 is 6.1 robust SDs above its weekday baseline"),
        "complete": CheckOutcome(True, "ERROR", "all there"),
    })  # fmt: skip
    app_db.record_checks("posthog_events", "2026-02-03", "run-2", {
        "complete": CheckOutcome(False, "ERROR", "events = 562 is 47% of usual"),
    })  # fmt: skip
    with dg.DagsterInstance.ephemeral() as instance:
        result = check_failure_sensor(dg.build_sensor_context(
            instance=instance, cursor="0:0", resources=_resources(app_db)))  # fmt: skip
        again = check_failure_sensor(dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources=_resources(app_db)))  # fmt: skip
    assert again.cursor == result.cursor
    notes = Feed(app_db.engine).for_user(DATA_TEAM)
    assert sorted((n.report, n.severity) for n in notes) == [
        ("cost_optimization_daily", "warning"), ("posthog_events", "critical")]  # fmt: skip
    mails = _emails(tmp_path / "outbox", "check_failure")
    assert len(mails) == 2 and all(m["To"] == DATA_TEAM for m in mails)
    assert any("6.1 robust SDs" in m.get_content() for m in mails)

    # A result whose transaction committed after the cursor had moved past its id (PostgreSQL
    # can commit ids out of order) is still told, once.
    missing = CheckOutcome(False, "ERROR", "no incidents rows for the day")
    app_db.record_checks("incidents", "2026-03-07", "run-3", {"complete": missing})
    newest, floor = result.cursor.split(":")
    late_cursor = f"{int(newest) + 10}:{floor}"
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            check_failure_sensor(dg.build_sensor_context(
                instance=instance, cursor=late_cursor, resources=_resources(app_db)))  # fmt: skip
    assert [n.report for n in Feed(app_db.engine).for_user(DATA_TEAM)].count("incidents") == 1
    assert len(_emails(tmp_path / "outbox", "check_failure")) == 3


def test_a_failed_run_reaches_the_data_team_however_it_was_launched(
    tmp_path, config_with, demo_company
):
    """A delivery run started in-process, as `reporting materialize` starts it (no code-location
    origin for Dagster's run-status sensors to match), is told to the data team once, with the
    failed step's error."""
    config_with(lambda c: c["channels"]["email"].update(outbox_dir=str(tmp_path / "outbox")))
    app_db = AppDatabase(sqlite_path=str(tmp_path / "app.db"))
    with dg.DagsterInstance.ephemeral() as instance:
        # Nothing was rendered for this day: the delivery run fails.
        run = defs.resolve_job_def("daily_executive_delivery_job").execute_in_process(
            partition_key="2026-01-05", instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})  # fmt: skip
        assert not run.success
        cursor = None
        for _ in range(2):  # a second tick, looking back over the same run: still once
            context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                              resources=_resources(app_db))  # fmt: skip
            failed_run_sensor(context)
            cursor = context.cursor
    [note] = Feed(app_db.engine).for_user(DATA_TEAM)
    assert note.kind == "run_failure" and note.period == "2026-01-05"
    assert "daily_executive_delivery_job" in note.title
    assert "daily_executive_email" in note.body  # the step that failed, with its error
    [mail] = _emails(tmp_path / "outbox", "run_failure")
    assert run.run_id in mail.get_content()
    assert get_settings().notifications.data_team == "data_team"


def test_a_broken_email_channel_does_not_stop_the_other_channels(tmp_path, config_with):
    """The relay offers no STARTTLS, which the config demands: the email fails, loudly, and the
    notice still reaches the dashboard and the Slack fake; nothing raises out of the sensor."""
    from reporting_assets.distribution.notify import notify
    from reporting_assets_tests.fakes.smtp_server import ScriptedHandler, smtp_server
    from reporting_assets_tests.fakes.webhook_fakes import WebhookFake

    with smtp_server(ScriptedHandler()) as relay, WebhookFake("slack") as slack:
        settings = config_with(lambda c: (
            c["channels"]["email"].update(mode="smtp", host="127.0.0.1", port=relay.port,
                                          security="starttls", username_env=None,
                                          password_env=None),
            c["channels"]["slack"].update(enabled=True),
            c["notifications"].update(feed_exports=str(tmp_path / "feed"))))  # fmt: skip
        import os

        os.environ["SLACK_WEBHOOK_URL"] = slack.url
        try:
            app_db = AppDatabase(sqlite_path=str(tmp_path / "app.db"))
            result = notify(settings, app_db.engine, kind="run_failure", title="Run failed",
                            body="boom", dedupe_key="run:x", addresses=[DATA_TEAM],
                            channels=["email", "dashboard", "slack"])  # fmt: skip
        finally:
            del os.environ["SLACK_WEBHOOK_URL"]
    assert result["email"].startswith("failed: SmtpConfigError")
    assert result["dashboard"] == "published" and result["slack"] == "sent"
    assert len(slack.requests) == 1
