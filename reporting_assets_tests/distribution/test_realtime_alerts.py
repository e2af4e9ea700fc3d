"""Critical alerts in real time: the sensor announces a critical breach once, reminds only after
the re-notify interval, closes the episode when the metric recovers, and the acknowledgement
of the alert feeds the decision-speed figure."""

import email
import email.policy
import re
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from reporting_assets.distribution.realtime import AlertState, check_critical_alerts, plan_notices
from reporting_assets.lib.formatting import format_value
from reporting_assets.metrics.assets import metric_assets
from reporting_assets.records.acks import AckError, acknowledge, decision_speed
from reporting_assets.records.feed import Feed
from reporting_assets.resources import build_resources
from reporting_assets.sensors import critical_alert_sensor
from reporting_assets.sources.assets import source_assets
from reporting_assets_tests.conftest import copy_history, manifest_dates
from reporting_assets_tests.fakes.webhook_fakes import WebhookFake

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

RULE = "payment_failures_high"
RENOTIFY = timedelta(minutes=240)


def _ev(day: date, severity: str, since: date | None = None) -> dict:
    return {"rule": RULE, "scope": "total", "date": day, "severity": severity, "value": 1.0,
            "breaching_since": since or day, "message": "m", "threshold": 0.25}  # fmt: skip


def _state(firing: bool, notified: datetime, notices: int = 1, last_day: str = "2026-03-14"):
    return {(RULE, "total"): AlertState(RULE, "total", firing, "2026-03-14", last_day, notices,
                                        notified)}  # fmt: skip


def test_plan_notices_new_quiet_reminder_resolved():
    day, now = date(2026, 3, 14), datetime(2026, 3, 15, 12, tzinfo=UTC)
    [new] = plan_notices([_ev(day, "critical")], {}, now, RENOTIFY)
    assert (new.action, new.number, new.since) == ("new", 1, "2026-03-14")
    quiet = _state(True, now - timedelta(minutes=239))
    assert plan_notices([_ev(day, "critical")], quiet, now, RENOTIFY) == []
    due = _state(True, now - timedelta(minutes=240))
    [again] = plan_notices([_ev(day, "critical")], due, now, RENOTIFY)
    assert (again.action, again.number) == ("reminder", 2)
    [done] = plan_notices([_ev(date(2026, 3, 15), "info")], quiet, now, RENOTIFY)
    assert done.action == "resolved"
    # The same breach comes back (same "since"): a new episode, announced again under a new key.
    over = {(RULE, "total"): AlertState(RULE, "total", False, "2026-03-14", "2026-03-15", 1, now,
                                        episode=1)}  # fmt: skip
    [back] = plan_notices([_ev(date(2026, 3, 16), "critical", date(2026, 3, 14))], over, now,
                          RENOTIFY)  # fmt: skip
    assert (back.action, back.number, back.episode) == ("new", 1, 2)
    assert (
        plan_notices([_ev(date(2026, 3, 15), "warning")], _state(False, now), now, RENOTIFY) == []
    )


def test_a_day_with_nothing_to_measure_resolves_nothing():
    """No payments attempted: the rate has no value, and the alert is not called resolved."""
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    nothing = {**_ev(date(2026, 3, 15), "info"), "value": None}
    assert plan_notices([nothing], _state(True, now), now, RENOTIFY) == []


@pytest.fixture
def private_store(config_with, tmp_path, monkeypatch, demo_company, demo_history):
    """Metrics for the spike day in a private data folder, slack on, alerts to executives."""

    def mutate(c):
        c["storage"] = {"data_root": str(tmp_path / "data")}
        c["channels"]["slack"]["enabled"] = True
        c["channels"]["email"]["outbox_dir"] = str(tmp_path / "outbox")
        c["notifications"]["feed_exports"] = str(tmp_path / "feed")

    settings = config_with(mutate)
    copy_history(tmp_path / "data" / "assets")
    spike = date.fromisoformat(manifest_dates(demo_company)["payment_failure_spike"])
    resources = build_resources(settings)

    def materialize(day: date):
        result = dg.materialize([*source_assets, *metric_assets], partition_key=day.isoformat(),
                                resources=resources, raise_on_error=False)  # fmt: skip
        assert result.success

    return {"settings": settings, "spike": spike, "materialize": materialize,
            "resources": resources, "outbox": tmp_path / "outbox",
            "assets": tmp_path / "data" / "assets"}  # fmt: skip


def test_sensor_notifies_once_then_reminds_then_resolves(private_store, monkeypatch):
    s = private_store
    s["materialize"](s["spike"] - timedelta(days=1))
    s["materialize"](s["spike"])
    engine = s["resources"]["app_db"].engine
    feed = Feed(engine)
    instance = dg.DagsterInstance.ephemeral()

    def tick():
        critical_alert_sensor(dg.build_sensor_context(instance=instance,
                                                      resources=s["resources"]))  # fmt: skip

    with WebhookFake("slack") as slack:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url)
        tick()
        [note] = feed.all(kind="critical_alert")
        assert note.report == RULE and note.period == s["spike"].isoformat()
        assert note.severity == "critical"
        assert len(slack.requests) == 1 and "Payment failure rate" in slack.requests[0].json["text"]
        emails = sorted(s["outbox"].rglob("*.eml"))
        assert [p.name for p in emails] == sorted(f"{a}.eml" for a in note.audience)
        # The notice says what is at stake (the day's failed payments, as its table holds them),
        # who owns it, what is asked by when, and links to acknowledge it: in both parts.
        day = s["spike"].isoformat()
        revenue = pl.read_parquet(s["assets"] / "revenue_protection_daily" / f"{day}.parquet")
        failed = revenue.filter(pl.col("plan") == "total")["failed_payment_amount"][0]
        msg = email.message_from_bytes(emails[0].read_bytes(), policy=email.policy.default)
        for part in ("plain", "html"):
            body = " ".join(msg.get_body((part,)).get_content().split())
            assert f"{format_value(failed, 'usd')} in failed payments" in body, part
            assert "Daniel Okafor, CFO" in body and "Have billing retry" in body, part
            assert re.search(rf"/alerts/{RULE}/{day}\b(?!/)", body), part

        tick()  # 30 s later
        assert len(feed.all(kind="critical_alert")) == 1 and len(slack.requests) == 1

        later = datetime.now(UTC) + RENOTIFY + timedelta(minutes=1)
        sent = check_critical_alerts(s["settings"], s["resources"]["asset_history"],
                                     s["resources"]["app_db"], now=later)  # fmt: skip
        assert [(x["action"], x["number"]) for x in sent] == [("reminder", 2)]
        assert len(feed.all(kind="critical_alert")) == 2 and len(slack.requests) == 2

        s["materialize"](s["spike"] + timedelta(days=1))  # payments back to normal
        tick()
        [resolved] = feed.all(kind="alert_resolved")
        assert resolved.report == RULE and len(slack.requests) == 2  # the dashboard only

    instance.dispose()
    # An executive acknowledges the alert: decision speed is measured from its first notice.
    ack = acknowledge(engine, "alert", RULE, s["spike"].isoformat(), "ceo@northwind.example",
                      "dunning campaign approved")  # fmt: skip
    assert ack.delivered_at is not None and 0 <= ack.hours_to_decision < 1
    assert decision_speed(engine)["acknowledged"] == 1
    with pytest.raises(AckError, match="already acknowledged"):
        acknowledge(engine, "alert", RULE, s["spike"].isoformat(), "CEO@northwind.example")
    with pytest.raises(AckError, match="never fired"):
        acknowledge(engine, "alert", "incident_surge", s["spike"].isoformat(), "ceo@x.example")


def test_a_day_without_check_results_is_not_a_checked_day(tmp_path):
    """The real-time path announces only days whose gates ran and passed: an alert list stored
    without its tables' check results (a run that died half way, a file copied in) is skipped."""
    import polars as pl

    from reporting_assets.distribution.realtime import METRIC_TABLES, newest_checked_day
    from reporting_assets.quality.checks import CheckOutcome
    from reporting_assets.resources import AppDatabase, AssetHistory

    history = AssetHistory(root=str(tmp_path / "assets"))
    app_db = AppDatabase(sqlite_path=str(tmp_path / "app.db"))

    day = "2026-03-14"
    (tmp_path / "assets/critical_alerts_daily").mkdir(parents=True)
    pl.DataFrame({"date": [date(2026, 3, 14)]}).write_parquet(
        tmp_path / f"assets/critical_alerts_daily/{day}.parquet"
    )
    assert newest_checked_day(history, app_db) is None
    ok = {"x_complete": CheckOutcome(True, "ERROR", "ok")}
    for asset in METRIC_TABLES:
        app_db.record_checks(asset, day, "run-1", ok)
    assert newest_checked_day(history, app_db) is None  # the alert list's own gates never ran
    app_db.record_checks("critical_alerts_daily", day, "run-1", ok)
    assert newest_checked_day(history, app_db) == date(2026, 3, 14)
    app_db.record_checks(METRIC_TABLES[0], day, "run-2",
                         {"x_complete": CheckOutcome(False, "ERROR", "bad")})  # fmt: skip
    assert newest_checked_day(history, app_db) is None
