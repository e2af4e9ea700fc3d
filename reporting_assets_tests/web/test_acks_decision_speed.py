"""Acknowledgements made in the web app (a report's button, an alert page opened from a notice's
Acknowledge link) count in the month's decision speed, as the business-impact asset reads it;
the demo's generated baseline before go-live, and its executives acknowledging in the web app."""

import json
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from reporting_assets.analytics.impact import decision_hours
from reporting_assets.cli.demo_impact import (
    BASELINE_DECISION,
    BASELINE_NOTE,
    acknowledge_in_web_app,
    baseline_history,
)
from reporting_assets.lib.links import Links, alert_path, report_path, web_secret
from reporting_assets.records.acks import acks
from reporting_assets.records.delivery_rows import SENT, deliveries
from reporting_assets.records.feed import Feed, notifications
from reporting_assets.reports.rendering import report_content
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStore, describe, write_manifest
from reporting_assets.web.app import create_app
from reporting_assets_tests.reports.sample import sample_report

CEO, CFO = "ceo@northwind.example", "cfo@northwind.example"
NY = ZoneInfo("America/New_York")
DAY = "2026-11-26"


def _signed_in(app, links: Links, address: str, then: str) -> tuple[TestClient, str]:
    """A reader's browser that opened the sign-in link to `then` and pressed Continue."""
    browser = TestClient(app)
    link = f"/signin/{links.token(address)}"
    page = browser.get(link, params={"next": then})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    landed = browser.post(link, params={"next": then}, data={"csrf": csrf})
    return browser, re.search(r'name="csrf" value="([^"]+)"', landed.text)[1]


@pytest.fixture
def site(config_with, tmp_path):
    settings = config_with(
        lambda c: c["storage"].update(
            data_root=str(tmp_path / "data"), artifact_root=str(tmp_path / "artifacts")
        )
    )
    store = ArtifactStore(tmp_path / "artifacts")
    draft = store.draft_dir("daily_executive", DAY)
    (draft / "report.json").write_text(json.dumps(report_content(sample_report()), default=str))
    version = store.publish("daily_executive", DAY, draft)
    write_manifest(version, describe({"json": version / "report.json"}))
    app_db = AppDatabase(sqlite_path=str(tmp_path / "data" / "app.db"))
    return settings, app_db


def test_web_app_acknowledgements_count_in_the_months_decision_speed(site):
    settings, app_db = site
    engine = app_db.engine
    now = datetime.now(UTC)
    sent = now - timedelta(hours=5)  # the report reached its readers five hours ago
    with engine.begin() as conn:
        conn.execute(
            deliveries.insert().values(
                report="daily_executive",
                period=DAY,
                channel="email",
                target=CEO,
                generation=0,
                status=SENT,
                attempts=1,
                created_at=sent,
                updated_at=sent,
                sent_at=sent,
            )
        )
    feed = Feed(engine)
    notice, _ = feed.publish(
        "critical_alert",
        "Payment failure rate is critical",
        "33% failed",
        dedupe_key="alert-1",
        report="payment_failures_high",
        period=DAY,
        audience=[CFO],
    )
    with engine.begin() as conn:  # the notice went out three hours ago
        conn.execute(
            notifications.update()
            .where(notifications.c.id == notice)
            .values(created_at=now - timedelta(hours=3))
        )
    app, links = create_app(settings, app_db), Links(web_secret(settings), 3600)

    report = report_path("daily_executive", DAY)  # the CEO, from the report email's link
    browser, csrf = _signed_in(app, links, CEO, report)
    done = browser.post(f"{report}/ack", data={"csrf": csrf, "decision": "Go ahead"})
    assert "thanks=ack" in str(done.url)
    alert = alert_path("payment_failures_high", DAY)  # the CFO, from the notice's link
    browser, csrf = _signed_in(app, links, CFO, alert)
    done = browser.post(f"{alert}/ack", data={"csrf": csrf})
    assert "You acknowledged this alert" in done.text

    made = acks(engine)
    assert [(a.subject, a.acknowledged_by) for a in made] == [("report", CEO), ("alert", CFO)]
    by_hand = sorted(a.hours_to_decision for a in made)
    assert by_hand == [pytest.approx(3.0, abs=0.05), pytest.approx(5.0, abs=0.05)]
    today = now.astimezone(NY).date()
    month = decision_hours(engine, today.replace(day=1), today, NY)
    assert month.value == pytest.approx(sum(by_hand) / 2)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 1


def test_the_demo_generates_a_labelled_baseline_before_go_live_once(site):
    settings, app_db = site
    engine = app_db.engine
    today = date(2026, 12, 1)  # go-live "100 days ago": 23 August; baseline May–July 2026
    base = baseline_history(settings, engine, today, seed=7)
    assert (base.first, base.last, base.report) == (
        date(2026, 5, 1),
        date(2026, 7, 31),
        "weekly_business_review",
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries)).mappings().all()
    assert len(rows) == base.deliveries > 0
    assert {r["provider_response"] for r in rows} == {BASELINE_NOTE}
    made = acks(engine)
    assert len(made) == base.acks > 0
    assert all(a.acknowledged_at.astimezone(NY).date() <= base.last for a in made)
    assert {a.decision for a in made} == {BASELINE_DECISION}
    # The old process is slow: a day or two from the emailed PDF to the first reply.
    assert 20 < base.median_hours < 80
    again = baseline_history(settings, engine, today, seed=7)
    assert (again.deliveries, again.acks, again.median_hours) == (0, 0, base.median_hours)
    assert len(acks(engine)) == base.acks


def test_the_demo_acknowledges_in_the_web_app_after_go_live(site):
    settings, app_db = site
    engine = app_db.engine
    sent = datetime.now(UTC) - timedelta(minutes=30)
    with engine.begin() as conn:
        conn.execute(
            deliveries.insert(),
            [
                dict(report="daily_executive", period=DAY, channel="email", target=reader,
                     generation=0, status=SENT, attempts=1, created_at=sent, updated_at=sent,
                     sent_at=sent)
                for reader in (CEO, CFO)
            ],
        )  # fmt: skip
    Feed(engine).publish("critical_alert", "Payment failure rate is critical", "33% failed",
                         dedupe_key="alert-1", report="payment_failures_high", period=DAY,
                         audience=[CEO, CFO])  # fmt: skip
    done = acknowledge_in_web_app(settings, app_db, date(2026, 11, 1))
    assert done == [
        "Maya Chen, CEO acknowledged daily_executive 2026-11-26 from the email's link",
        "Daniel Okafor, CFO acknowledged the payment_failures_high alert of 2026-11-26 from "
        "the notice's Acknowledge link",
    ]
    made = acks(engine)
    assert [(a.subject, a.acknowledged_by) for a in made] == [("report", CEO), ("alert", CFO)]
    assert acknowledge_in_web_app(settings, app_db, date(2026, 11, 1)) == []  # once each
