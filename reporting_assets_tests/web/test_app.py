"""The web app through Starlette's TestClient, over a real artifact store (a daily report
rendered by the report code's own `report_content`) and a real app database: signing in only
by the reader's own POST from a signed link, what each reader may see, Today's figures equal
to the report's, the live stream replaying what a reconnecting page missed."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from reporting_assets.distribution.realtime import alert_states
from reporting_assets.lib.links import Links, web_secret
from reporting_assets.partitions import today
from reporting_assets.records.feed import Feed
from reporting_assets.reports.rendering import report_content
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStore, describe, write_manifest
from reporting_assets.web import pages
from reporting_assets.web.app import create_app
from reporting_assets_tests.reports.sample import sample_report

CEO, STRANGER = "ceo@northwind.example", "someone@elsewhere.example"
CHART = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'
DAY = "2026-11-26"


@pytest.fixture
def site(config_with, tmp_path):
    settings = config_with(lambda c: c["storage"].update(
        data_root=str(tmp_path / "data"), artifact_root=str(tmp_path / "artifacts")))  # fmt: skip
    store = ArtifactStore(tmp_path / "artifacts")
    draft = store.draft_dir("daily_executive", DAY)
    report = sample_report()
    mrr = [1_400_000.0 + 5_000 * i for i in range(13)] + [None, 1_439_745.0]  # a day missing
    report = replace(report, kpis=[replace(k, series=tuple(mrr)) if k.key == "mrr" else k
                                   for k in report.kpis])  # fmt: skip
    (draft / "report.json").write_text(json.dumps(report_content(report), default=str))
    (draft / "charts").mkdir()
    (draft / "charts" / "mrr_trend.svg").write_text(CHART)
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


def _csrf(page_text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_text)[1]


def _rows(site, table: str) -> list[dict]:
    with site["app_db"].engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(f"SELECT * FROM {table}")).mappings()]


def test_a_link_opens_the_page_it_names_after_sign_in_and_never_another_site(site):
    client, links = site["client"], site["links"]
    then = f"/reports/daily_executive/{DAY}"
    url = links.url("http://testserver", CEO, then)
    assert url.endswith(f"?next=%2Freports%2Fdaily_executive%2F{DAY}")
    page = client.get(url)
    done = client.post(url, data={"csrf": _csrf(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == then
    # Signed in already: the link goes straight there; a link to another site goes home.
    assert client.get(url, follow_redirects=False).headers["location"] == then
    evil = f"/signin/{links.token(CEO)}?next=//evil.example/x"
    assert client.get(evil, follow_redirects=False).headers["location"] == "/"


def test_sign_in_attempts_are_limited_per_client(site):
    client, token = site["client"], site["links"].token(CEO)
    limit = site["settings"].web.signin_attempts_per_minute
    codes = [client.get(f"/signin/{token}").status_code for _ in range(limit + 1)]
    assert codes[:limit] == [200] * limit and codes[-1] == 429


def test_opening_a_notification_marks_it_read_for_that_reader_only(site):
    feed = Feed(site["app_db"].engine)
    alert = f"http://127.0.0.1:8080/alerts/payment_failures_high/{DAY}"
    first, _ = feed.publish("critical_alert", "Payment failures high", "b", dedupe_key="a1",
                            audience=[CEO, "cfo@northwind.example"], url=alert)  # fmt: skip
    feed.publish("daily_report", "Daily report", "b", dedupe_key="a2", audience=[CEO])
    ceo = _sign_in(site)
    assert '<span id="unread">2</span>' in ceo.get("/").text
    opened = ceo.get(f"/notifications/{first}", follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/alerts/payment_failures_high/{DAY}"
    assert feed.unread_count(CEO) == 1 and feed.unread_count("cfo@northwind.example") == 1
    page = ceo.get("/").text
    assert '<span id="unread">1</span>' in page
    assert ceo.post("/notifications/read", data={"csrf": "forged"}).status_code == 403
    assert feed.unread_count(CEO) == 1
    ceo.post("/notifications/read", data={"csrf": _csrf(page)})
    assert feed.unread_count(CEO) == 0 and feed.unread_count("cfo@northwind.example") == 1
    stranger = _sign_in(site, STRANGER)
    assert stranger.get(f"/notifications/{first}").status_code == 404


def test_feedback_lands_in_its_table_per_reader_and_section(site):
    ceo = _sign_in(site)
    base = f"/reports/daily_executive/{DAY}"
    page = ceo.get(base).text
    assert 'id="feedback-revenue_protection"' in page and 'id="feedback-report"' in page
    form = {"csrf": _csrf(page), "section": "revenue_protection", "rating": "4",
            "useful": "yes", "comment": "Show the plan names first"}  # fmt: skip
    done = ceo.post(f"{base}/feedback", data=form)
    assert done.status_code == 200 and "your feedback is saved" in done.text
    assert ceo.post(f"{base}/feedback", data={**form, "rating": "9"}).status_code == 400
    assert ceo.post(f"{base}/feedback", data={**form, "csrf": "forged"}).status_code == 403
    ceo.post(f"{base}/feedback", data={"csrf": form["csrf"], "useful": "no"})  # whole report
    rows = _rows(site, "feedback")
    assert [(r["reader"], r["section"], r["rating"], bool(r["useful"]), r["comment"])
            for r in rows] == [(CEO, "revenue_protection", 4, True, "Show the plan names first"),
                               (CEO, None, None, False, None)]  # fmt: skip
    stranger = _sign_in(site, STRANGER)
    assert stranger.post(f"{base}/feedback", data={**form, "csrf": "x"}).status_code in (403, 404)
    assert len(_rows(site, "feedback")) == 2


def test_views_downloads_and_sections_opened_are_recorded_for_signed_in_readers(site):
    base = f"/reports/daily_executive/{DAY}"
    assert site["client"].get(base).status_code == 401  # nobody: nothing recorded
    ceo = _sign_in(site)
    page = ceo.get(base).text
    ceo.get(f"{base}/daily_executive_{DAY}.pdf")
    beacon = {"csrf": _csrf(page), "report": "daily_executive", "period": DAY}
    assert ceo.post("/usage", data={**beacon, "kind": "section_open",
                                    "section": "cost_optimization"}).status_code == 204  # fmt: skip
    assert ceo.post("/usage", data={**beacon, "kind": "time_on_report",
                                    "seconds": "95"}).status_code == 204  # fmt: skip
    assert ceo.post("/usage", data={**beacon, "kind": "pixel"}).status_code == 400
    assert ceo.post("/usage", data={**beacon, "csrf": "forged", "kind": "view"}).status_code \
        == 403  # fmt: skip
    rows = [(r["reader"], r["kind"], r["section"], r["file"], r["seconds"])
            for r in _rows(site, "usage_events")]  # fmt: skip
    assert rows == [(CEO, "view", None, None, None),
                    (CEO, "download", None, f"daily_executive_{DAY}.pdf", None),
                    (CEO, "section_open", "cost_optimization", None, None),
                    (CEO, "time_on_report", None, None, 95.0)]  # fmt: skip


def test_the_report_view_shows_its_sections_charts_versions_and_the_archive(site):
    ceo = _sign_in(site)
    base = f"/reports/daily_executive/{DAY}"
    page = ceo.get(base).text
    for section in site["report"].sections:
        assert section.title in page
        if section.takeaway:
            assert section.takeaway in page
    chart = ceo.get(f"{base}/charts/mrr_trend.svg")
    assert chart.status_code == 200 and chart.text == CHART
    assert ceo.get(f"{base}/charts/..%2Fmanifest.svg").status_code == 404
    archive = ceo.get("/reports").text
    assert site["settings"].reports["daily_executive"].title in archive
    assert f'href="{base}"' in archive
    assert ceo.get(f"{base}?version=v9").status_code == 404
    assert ceo.get("/reports/daily_executive/%2E%2E").status_code == 404
    # (one client: signing in as someone else ends the CEO's session)
    assert _sign_in(site, STRANGER).get(f"{base}/charts/mrr_trend.svg").status_code == 404


def test_today_draws_each_kpi_over_its_days(site):
    page = _sign_in(site).get("/").text
    [spark] = re.findall(r'<svg class="spark".*?</svg>', page)  # only MRR has days before
    points = re.search(r'points="([^"]+)"', spark)[1].split()
    assert len(points) == 14  # 15 days, one without a figure
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] == max(ys) and ys[-2] == min(ys)  # rising: lowest value drawn lowest


def test_an_alert_page_is_acknowledged_once_per_reader(site):
    feed = Feed(site["app_db"].engine)
    feed.publish("critical_alert", "Payment failure rate is critical", "54.5% of payments "
                 "failed\n\nAcknowledge: https://old.example/alerts/x/ack", dedupe_key="alert-1",
                 report="payment_failures_high", period=DAY, audience=[CEO])  # fmt: skip
    ceo = _sign_in(site)
    url = f"/alerts/payment_failures_high/{DAY}"
    page = ceo.get(url).text
    assert "Payment failure rate is critical" in page and "Nobody has acknowledged" in page
    assert "54.5% of payments failed" in page and "old.example" not in page  # its own button
    assert ceo.post(f"{url}/ack", data={"csrf": "forged"}).status_code == 403
    done = ceo.post(f"{url}/ack", data={"csrf": _csrf(page), "decision": "Retry the card run"})
    assert "You acknowledged this alert" in done.text and "Retry the card run" in done.text
    again = ceo.post(f"{url}/ack", data={"csrf": _csrf(page)})
    assert "already acknowledged" in again.text
    [ack] = _rows(site, "acknowledgements")
    assert (ack["subject"], ack["key"], ack["period"], ack["acknowledged_by"]) == (
        "alert", "payment_failures_high", DAY, CEO)  # fmt: skip
    assert _sign_in(site, STRANGER).get(url).status_code == 404
    assert ceo.get(f"/alerts/payment_failures_high/{DAY[:-2]}01").status_code == 404


def test_the_performance_review_is_the_data_teams_not_the_executives(site):
    settings = site["settings"]
    assert "performance_review" in pages.visible_reports(settings, "data-team@northwind.example")
    assert "performance_review" in pages.visible_reports(
        settings, "chief.of.staff@northwind.example"
    )
    assert "performance_review" not in pages.visible_reports(settings, CEO)
