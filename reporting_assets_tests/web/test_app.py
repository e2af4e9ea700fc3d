"""The web app through Starlette's TestClient, over a real artifact store (a daily report
rendered by the report code's own `report_content`) and a real app database: signing in only
by the reader's own POST from a signed link, what each reader may see, Today's figures equal
to the report's, the live stream replaying what a reconnecting page missed."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from reporting_assets.distribution.realtime import alert_states
from reporting_assets.partitions import today
from reporting_assets.records.feed import Feed
from reporting_assets.reports.assets import report_content
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStore, describe, write_manifest
from reporting_assets.web.app import create_app
from reporting_assets.web.auth import Links, web_secret
from reporting_assets_tests.reports.sample import sample_report

CEO, STRANGER = "ceo@northwind.example", "someone@elsewhere.example"
DAY = "2026-11-26"


@pytest.fixture
def site(config_with, tmp_path):
    settings = config_with(lambda c: c["storage"].update(
        data_root=str(tmp_path / "data"), artifact_root=str(tmp_path / "artifacts")))  # fmt: skip
    store = ArtifactStore(tmp_path / "artifacts")
    draft = store.draft_dir("daily_executive", DAY)
    report = sample_report()
    (draft / "report.json").write_text(json.dumps(report_content(report), default=str))
    (draft / f"daily_executive_{DAY}.pdf").write_bytes(b"%PDF-1.4 a report\n")
    files = {"json": draft / "report.json", "pdf": draft / f"daily_executive_{DAY}.pdf"}
    version = store.publish("daily_executive", DAY, draft)
    write_manifest(version, describe({k: version / p.name for k, p in files.items()}))
    app_db = AppDatabase(sqlite_path=str(tmp_path / "data" / "app.db"))
    with app_db.engine.begin() as conn:
        conn.execute(alert_states.insert().values(
            rule="payment_failures_high", scope="total", firing=True,
            since=(today() - timedelta(days=1)).isoformat(),
            last_day=DAY, notices=1, episode=1, last_notified_at=datetime.now(UTC)))  # fmt: skip
    client = TestClient(create_app(settings, app_db))
    links = Links(web_secret(settings), settings.web.link_max_age_hours * 3600)
    return {"client": client, "links": links, "report": report, "app_db": app_db,
            "settings": settings}  # fmt: skip


def _sign_in(site, address: str = CEO) -> TestClient:
    client = site["client"]
    page = client.get(f"/signin/{site['links'].token(address)}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    done = client.post(f"/signin/{site['links'].token(address)}", data={"csrf": csrf},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    return client


def test_health(site):
    assert site["client"].get("/healthz").json() == {"status": "ok"}


def test_opening_a_link_signs_nobody_in_only_the_readers_post_does(site):
    client, token = site["client"], site["links"].token(CEO)
    page = client.get(f"/signin/{token}")  # what a mail scanner does
    assert page.status_code == 200 and f"Continue as {CEO}" in page.text
    assert "Maya Chen, CEO" in page.text
    assert client.get("/").status_code == 401  # the GET started no session
    assert client.post(f"/signin/{token}", data={"csrf": "forged"}).status_code == 403
    assert client.get("/").status_code == 401
    _sign_in(site)
    assert client.get("/").status_code == 200
    set_cookie = client.cookies.get("reporting")
    assert set_cookie


def test_tampered_and_expired_links_are_refused(site, config_with):
    token = site["links"].token(CEO)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    page = site["client"].get(f"/signin/{forged}")
    assert page.status_code == 400 and "not valid" in page.text
    short = Links(web_secret(site["settings"]), max_age_s=1)
    old = short.token(CEO)
    time.sleep(2.1)
    with pytest.raises(Exception, match="expired"):
        short.address(old)


def test_today_shows_the_reports_figures_asks_and_open_alerts(site):
    page = _sign_in(site).get("/").text
    report = site["report"]
    for k in report.kpis:
        assert k.label in page
    content = report_content(report)
    for k in content["kpis"]:
        assert k["display"] in page, k["label"]
    ask = report.decisions.asks[0]
    assert ask.what in page and ask.owner in page and "$8,140 in failed payments" in page
    assert "Payment failure rate" in page and "open 1 day " in page  # in breach since yesterday
    assert f"/reports/daily_executive/{DAY}" in page


def test_a_reader_sees_only_the_reports_on_their_lists(site):
    client = _sign_in(site, STRANGER)
    assert client.get(f"/reports/daily_executive/{DAY}").status_code == 404
    assert client.get(f"/reports/daily_executive/{DAY}/daily_executive_{DAY}.pdf").status_code \
        == 404  # fmt: skip
    assert "No report yet" in client.get("/").text
    ceo = _sign_in(site)
    view = ceo.get(f"/reports/daily_executive/{DAY}")
    assert view.status_code == 200 and site["report"].summary[0] in view.text
    pdf = ceo.get(f"/reports/daily_executive/{DAY}/daily_executive_{DAY}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert ceo.get(f"/reports/daily_executive/{DAY}/report.json").status_code == 404


def test_the_live_stream_replays_what_a_page_missed(site):
    feed = Feed(site["app_db"].engine)
    ids = [feed.publish("critical_alert", f"Alert {i}", "body", dedupe_key=f"k{i}",
                        audience=[CEO])[0] for i in range(3)]  # fmt: skip
    feed.publish("critical_alert", "For someone else", "body", dedupe_key="other",
                 audience=["cfo@northwind.example"])  # fmt: skip
    client = _sign_in(site)
    seen = []
    with client.stream("GET", "/events", headers={"Last-Event-ID": str(ids[0])}) as stream:
        for line in stream.iter_lines():
            if line.startswith("id: "):
                seen.append(int(line[4:]))
            if len(seen) == 2:
                break
    assert seen == ids[1:]  # after the last one it saw, and only the reader's
    with site["app_db"].engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
