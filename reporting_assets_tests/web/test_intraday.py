"""Alerts as they happen: billing events posted to `POST /hooks/posthog` exactly as PostHog's
"HTTP Webhook" destination sends them, through Starlette's TestClient, over a real app database,
feed and email outbox. A breach of the day so far reaches the feed and every inbox once, within
seconds; retried deliveries count once; a repeat burst inside the re-notify interval notifies
nobody; concurrent evaluations announce once; the daily path continues the same episode."""

import email
import email.policy
import json
import random
import threading
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from reporting_assets.cli.intraday import replay_bodies
from reporting_assets.config.audience import list_addresses
from reporting_assets.distribution.intraday import (
    COUNTED_EVENTS,
    check_intraday_alerts,
    evaluate_day_so_far,
    hook_body,
    metric_parts,
    metric_value,
    receive_event,
)
from reporting_assets.distribution.realtime import alert_episodes, plan_notices
from reporting_assets.lib.days import day_bounds_utc
from reporting_assets.lib.events import read_batch_export, typed_events
from reporting_assets.metrics.compute import NO_DROPS, revenue_protection
from reporting_assets.metrics.event_aggregates import RawAggregates
from reporting_assets.records.feed import Feed
from reporting_assets.records.intraday_events import (
    EventTally,
    HookEvent,
    day_tally,
    intraday_events,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.web.app import create_app
from reporting_assets_tests.conftest import manifest_dates

SECRET = "hook-secret-for-tests"
HEADER = "X-Webhook-Secret"
RULE = "payment_failures_high"
NY = ZoneInfo("America/New_York")


@pytest.fixture
def hook(config_with, tmp_path, monkeypatch):
    """The web app with the hook on, alerts to the executives by dashboard and email (outbox)."""
    settings = config_with(
        lambda c: (
            c["storage"].update(data_root=str(tmp_path / "data")),
            c["channels"]["email"].update(outbox_dir=str(tmp_path / "outbox")),
            c["notifications"].update(feed_exports=str(tmp_path / "feed")),
        )
    )
    monkeypatch.setenv(settings.intraday.secret_env, SECRET)
    app_db = AppDatabase(sqlite_path=str(tmp_path / "data" / "app.db"))
    client = TestClient(create_app(settings, app_db))
    cfg = settings.notifications.critical_alerts
    to, cc = list_addresses(settings, [cfg.distribution_list])
    moment = datetime.now(UTC)  # every event of a test happens now, on one New York day
    return {
        "moment": moment,
        "day": moment.astimezone(NY).date(),
        "client": client,
        "settings": settings,
        "engine": app_db.engine,
        "outbox": tmp_path / "outbox",
        "readers": [*to, *cc],
    }


def _post(client: TestClient, body, secret: str | None = SECRET):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/hooks/posthog", content=data, headers=headers)


def _charge(hook: dict, event: str, n: int, **kw) -> dict:
    """A charge of $49 (a success, or a failure) as PostHog posts it."""
    account = f"acct_{n:05d}"
    props = {
        "account_id": account,
        "plan": "growth",
        "currency": "USD",
        ("amount" if event == "payment_failed" else "revenue"): 4900,
    }
    return hook_body(event, hook["moment"], props, distinct_id=f"u_{n:05d}_0", **kw)


def _emails(outbox) -> list:
    return sorted(outbox.rglob("*.eml"))


def _stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(intraday_events)).scalar()


def test_a_burst_of_failed_payments_is_announced_once_within_seconds(hook):
    """20 successful charges, then failures one by one: the 7th makes the day's rate 7 / 27 =
    25.9 %, above the 25 % critical threshold (6 / 26 = 23.1 % is not). That POST puts the alert
    in the feed and an email in every executive's outbox, once."""
    client, feed = hook["client"], Feed(hook["engine"])
    posted = []
    for n in range(20):
        posted.append(_charge(hook, "purchase_completed", n))
        assert _post(client, posted[-1]).status_code == 200
    breach_at, latency = None, None
    for k in range(1, 11):
        posted.append(_charge(hook, "payment_failed", 100 + k))
        started = time.monotonic()
        answer = _post(client, posted[-1])
        assert answer.status_code == 200 and answer.json()["stored"] == "new"
        if breach_at is None and _emails(hook["outbox"]):
            latency, breach_at = time.monotonic() - started, k
    assert breach_at == 7
    print(f"\nintraday alert: breaching POST to email in the outbox {latency * 1000:.0f} ms")
    assert latency <= 30  # the promise; the goal is 10 s

    [note] = feed.all(kind="critical_alert")
    today = hook["day"].isoformat()
    assert (note.report, note.period, note.severity) == (RULE, today, "critical")
    assert "so far today" in note.title and "7 failed charges of 27 charges attempted" in note.body
    assert note.payload["value"] == pytest.approx(7 / 27)
    # On screens: what the SSE stream `/events` pushes to a signed-in executive.
    assert [n.kind for n in feed.after("ceo@northwind.example", 0)] == ["critical_alert"]
    # In inboxes: one email per executive, no more.
    mails = _emails(hook["outbox"])
    assert sorted(p.name for p in mails) == sorted(f"{a}.eml" for a in hook["readers"])
    msg = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert "Payment failure rate" in msg["Subject"]
    assert "$343 in failed payments" in msg.get_body(("plain",)).get_content()  # 7 × $49

    # PostHog retries deliveries: every one of them again, in another order, counts once.
    random.Random(3).shuffle(posted)
    for body in posted:
        answer = _post(client, body)
        assert answer.status_code == 200 and answer.json()["stored"] == "already stored"
    tally = day_tally(hook["engine"], date.fromisoformat(today), COUNTED_EVENTS)
    assert tally["payment_failed"] == EventTally(10, 10 * 4900)
    assert tally["purchase_completed"].count == 20 and _stored(hook["engine"]) == 30
    assert len(feed.all(kind="critical_alert")) == 1 and len(_emails(hook["outbox"])) == 4


def test_a_repeat_burst_inside_the_renotify_interval_notifies_nobody(hook):
    client, feed, engine = hook["client"], Feed(hook["engine"]), hook["engine"]
    for n in range(10):
        _post(client, _charge(hook, "purchase_completed", n))
    for n in range(10):
        _post(client, _charge(hook, "payment_failed", 100 + n))
    assert len(feed.all(kind="critical_alert")) == 1 and len(_emails(hook["outbox"])) == 4
    for n in range(20):  # another burst an hour or so later: still the same episode
        assert _post(client, _charge(hook, "payment_failed", 200 + n)).status_code == 200
    assert len(feed.all(kind="critical_alert")) == 1 and len(_emails(hook["outbox"])) == 4
    # Once the re-notify interval (240 minutes) has passed, the next breach reminds once.
    today = hook["day"]
    later = datetime.now(UTC) + timedelta(minutes=241)
    [sent] = check_intraday_alerts(hook["settings"], engine, today, now=later)
    assert (sent["action"], sent["number"]) == ("reminder", 2)
    assert check_intraday_alerts(hook["settings"], engine, today, now=later) == []
    assert len(feed.all(kind="critical_alert")) == 2
    assert len(_emails(hook["outbox"])) == 8  # the reminder: one more email per executive


def _eight_at_once(hook: dict, engine: sa.Engine) -> None:
    settings = hook["settings"]
    for n in range(6):  # kept without judging, as if eight deliveries had just been answered
        moment = hook["moment"]
        receive_event(settings, engine, HookEvent(f"ok-{n}", "purchase_completed", moment))
        receive_event(
            settings, engine, HookEvent(f"no-{n}", "payment_failed", moment, None, None, 49)
        )
    gate = threading.Barrier(8)
    results: list = []

    def run():
        gate.wait()
        results.append(check_intraday_alerts(settings, engine, hook["day"]))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(len(r) for r in results) == [0] * 7 + [1]
    assert len(Feed(engine).all(kind="critical_alert")) == 1
    assert len(_emails(hook["outbox"])) == len(hook["readers"])


def test_concurrent_evaluations_announce_once(hook):
    """Eight evaluations of the same breached day at once (eight deliveries landing together):
    one notice, one email per reader."""
    _eight_at_once(hook, hook["engine"])


@pytest.mark.postgres
def test_concurrent_evaluations_announce_once_on_postgres(hook, pg_database):
    _eight_at_once(hook, AppDatabase(url=pg_database).engine)


def test_the_daily_path_continues_the_intraday_episode(hook):
    """The next morning the daily alert list judges the whole day: critical, it is the same
    episode (no new announcement inside the interval); fine after all, the episode ends; the
    day before, evaluated late, neither ends nor repeats it."""
    client, engine, settings = hook["client"], hook["engine"], hook["settings"]
    for n in range(10):
        _post(client, _charge(hook, "purchase_completed", n))
        _post(client, _charge(hook, "payment_failed", 100 + n))
    today = hook["day"]
    [state] = alert_episodes(engine).values()
    assert (state.firing, state.since, state.episode, state.notices) == (
        True,
        today.isoformat(),
        1,
        1,
    )
    renotify = timedelta(minutes=240)
    whole_day = {
        "rule": RULE,
        "scope": "total",
        "date": today,
        "severity": "critical",
        "value": 0.5,
        "breaching_since": today,
    }
    now = datetime.now(UTC)
    assert plan_notices([whole_day], alert_episodes(engine), now, renotify) == []
    fine = {**whole_day, "severity": "info", "value": 0.03, "breaching_since": None}
    [end] = plan_notices([fine], alert_episodes(engine), now, renotify)
    assert end.action == "resolved" and end.episode == 1
    yesterday = {**fine, "date": today - timedelta(days=1)}
    assert plan_notices([yesterday], alert_episodes(engine), now, renotify) == []
    assert settings.notifications.critical_alerts.renotify_minutes == 240


def test_the_hook_refuses_a_wrong_or_missing_secret_and_stores_nothing(hook, monkeypatch):
    client, body = hook["client"], _charge(hook, "payment_failed", 1)
    for secret in (None, "", "wrong", SECRET + "x"):
        answer = _post(client, body, secret=secret)
        assert answer.status_code == 401 and HEADER in answer.json()["error"]
    assert _stored(hook["engine"]) == 0
    monkeypatch.delenv(hook["settings"].intraday.secret_env)
    off = _post(client, body)
    assert off.status_code == 404 and "POSTHOG_HOOK_SECRET" in off.json()["error"]
    assert _stored(hook["engine"]) == 0
    assert client.get("/hooks/posthog").status_code == 405


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "no 'event' object"),
        ({"event": "payment_failed"}, "no 'event' object"),
        ({"event": {"uuid": "u1", "timestamp": "2026-11-28T15:14:03.201Z"}}, "event.event"),
        (
            {"event": {"event": "payment_failed", "timestamp": "2026-11-28T15:14:03Z"}},
            "event.uuid is missing",
        ),
        ({"event": {"uuid": "u1", "event": "payment_failed"}}, "event.timestamp is missing"),
        (
            {"event": {"uuid": "u1", "event": "payment_failed", "timestamp": "yesterday"}},
            "not an ISO 8601 time",
        ),
        (
            {
                "event": {
                    "uuid": "u1",
                    "event": "payment_failed",
                    "timestamp": "2026-11-28T15:14Z",
                    "properties": {"amount": "49.00"},
                }
            },
            "property 'amount'",
        ),
        (
            {
                "event": {
                    "uuid": "u1",
                    "event": "payment_failed",
                    "timestamp": "2026-11-28T15:14Z",
                    "properties": [1],
                }
            },
            "event.properties",
        ),
        (
            {
                "event": {
                    "uuid": "u1",
                    "event": "payment_failed",
                    "timestamp": "2026-11-28T15:14Z",
                    "properties": {"revenue": 49.5},
                }
            },
            "property 'revenue'",
        ),
        (
            {
                "event": {
                    "uuid": ["u1"],
                    "event": "payment_failed",
                    "timestamp": "2026-11-28T15:14Z",
                }
            },
            "event.uuid must be a string",
        ),
    ],
)
def test_a_malformed_body_gets_a_400_naming_the_problem(hook, body, problem):
    answer = _post(hook["client"], body)
    assert answer.status_code == 400 and problem in answer.json()["error"], answer.text
    assert _stored(hook["engine"]) == 0


def test_an_old_format_body_naming_the_event_name_works(hook):
    body = _charge(hook, "payment_failed", 7, legacy=True)
    assert "name" in body["event"] and "event" not in body["event"]
    answer = _post(hook["client"], body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["event"] == "payment_failed"
    today = hook["day"]
    assert day_tally(hook["engine"], today, ["payment_failed"])["payment_failed"].count == 1


def test_few_charges_are_not_judged_and_the_rate_is_the_metric_layers():
    """Under `intraday.min_payment_attempts` charges the day is not judged (1 failure in 2 is
    no alert yet); from there the rate is failed / attempted, the metric layer's ratio."""
    from reporting_assets.config import get_settings

    settings = get_settings()
    day = date(2026, 11, 28)
    few = {"payment_failed": EventTally(1, 100), "purchase_completed": EventTally(1, 100)}
    [ev] = evaluate_day_so_far(settings, few, day)
    assert ev["severity"] == "info" and ev["value"] == 0.5 and "judged from 5" in ev["message"]
    many = {"payment_failed": EventTally(2, 100), "purchase_completed": EventTally(4, 100)}
    [ev] = evaluate_day_so_far(settings, many, day)
    assert (ev["severity"], ev["rule"], ev["numerator"], ev["denominator"]) == (
        "critical",
        RULE,
        2,
        6,
    )
    assert ev["value"] == pytest.approx(1 / 3) and ev["breaching_since"] == day
    assert metric_value("payment_failure_rate", metric_parts("payment_failure_rate", {})) is None


def test_the_hook_rate_of_a_demo_day_equals_the_daily_metric(hook, demo_company):
    """Every event of the demo's payment-failure spike day, posted through the hook in random
    order (some twice), gives the day's payment failure rate the daily revenue table computes
    from the same batch-export files. The day is long past, so nothing is announced."""
    engine = hook["engine"]
    day = date.fromisoformat(manifest_dates(demo_company)["payment_failure_spike"])
    start, end = day_bounds_utc(day, NY)
    raw = read_batch_export(str(demo_company["path"] / "posthog" / "events"), start, end)
    bodies = replay_bodies(raw, raw.get_column("event").unique().to_list(), None, str(NY))
    assert len(bodies) == raw.height
    random.Random(7).shuffle(bodies)
    for body in bodies + bodies[:25]:
        assert _post(hook["client"], body).status_code == 200
    tally = day_tally(engine, day, COUNTED_EVENTS)
    rate = metric_value("payment_failure_rate", metric_parts("payment_failure_rate", tally))

    events = typed_events(raw)
    accounts = pl.DataFrame(
        schema={
            "account_id": pl.String,
            "plan": pl.String,
            "mrr": pl.Float64,
            "opening_plan": pl.String,
            "opening_mrr": pl.Float64,
        }
    )
    aggregates = RawAggregates(events)
    table, _ = revenue_protection(
        aggregates.revenue_events(), aggregates.events_by_plan(), accounts, NO_DROPS, day
    )
    total = table.filter(pl.col("plan") == "total").to_dicts()[0]
    assert rate == pytest.approx(total["payment_failure_rate"])
    assert tally["payment_failed"].count == total["payments_failed"]
    assert tally["payment_failed"].amount_minor / 100 == pytest.approx(
        total["failed_payment_amount"]
    )
    print(
        f"\n{day}: {total['payments_failed']} of {total['payment_attempts']} charges failed, "
        f"rate {rate:.3f} by the hook and by the daily table"
    )
    assert Feed(engine).all(kind="critical_alert") == [] and _emails(hook["outbox"]) == []


def test_a_replay_moves_the_day_onto_today_at_the_same_local_times(demo_company):
    day = date.fromisoformat(manifest_dates(demo_company)["payment_failure_spike"])
    raw = read_batch_export(
        str(demo_company["path"] / "posthog" / "events"), *day_bounds_utc(day, NY)
    )
    onto = date(2026, 11, 30)
    bodies = replay_bodies(raw, list(COUNTED_EVENTS), onto, str(NY))
    again = replay_bodies(raw, list(COUNTED_EVENTS), onto, str(NY))
    assert [b["event"]["uuid"] for b in bodies] == [b["event"]["uuid"] for b in again]
    originals = raw.filter(pl.col("event").is_in(COUNTED_EVENTS)).sort("timestamp", "uuid")
    assert len(bodies) == originals.height == 8
    for body, original in zip(bodies, originals.iter_rows(named=True), strict=True):
        moved = datetime.fromisoformat(body["event"]["timestamp"]).astimezone(NY)
        was = original["timestamp"].astimezone(NY)
        assert moved.date() == onto and moved.time().replace(microsecond=0) == was.time().replace(
            microsecond=0
        )
        assert body["event"]["uuid"] != original["uuid"]
