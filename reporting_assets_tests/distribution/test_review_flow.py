"""A manual report end to end: rendering opens a review, nothing is sent before approval, the
approval sensor launches the delivery, a rejection sends nothing and tells the owner, and a
re-rendered report needs a new review."""

import email
import email.policy
import re
from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from reporting_assets.cli import main
from reporting_assets.config import get_settings
from reporting_assets.config.audience import recipients
from reporting_assets.definitions import defs
from reporting_assets.lib.links import Links
from reporting_assets.records.feed import Feed
from reporting_assets.records.reviews import ReviewBook, distribution_check
from reporting_assets.resources import build_resources
from reporting_assets.sensors import review_approval_sensor
from reporting_assets.web.app import create_app
from reporting_assets_tests.fakes.webhook_fakes import SECRET, WebhookFake

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

MONTH = "2026-03-01"
REPORT = "monthly_board_report"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _run(instance, job: str, key: str, **kwargs):
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=key, instance=instance, run_config=QUIET, **kwargs)  # fmt: skip
    assert result.success
    return result


def _cli(*args: str):
    result = CliRunner().invoke(main, list(args))
    return result


def _tick(instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources=build_resources(get_settings()))  # fmt: skip
    return review_approval_sensor(context)


@pytest.fixture(scope="module")
def month(demo_company, demo_history, reporting_home):
    instance = dg.DagsterInstance.ephemeral()
    for k in range(15):
        _run(instance, "daily_metrics_job", (date(2026, 3, 1) + timedelta(days=k)).isoformat())
    result = _run(instance, "monthly_report_job", MONTH)
    yield {"instance": instance, "first": result,
           "outbox": reporting_home / "var/outbox" / REPORT / MONTH}  # fmt: skip
    instance.dispose()


def _book():
    return ReviewBook(build_resources(get_settings())["app_db"].engine)


def test_a_manual_report_opens_a_review_and_sends_nothing(month):
    meta = month["first"].asset_materializations_for_node(f"{REPORT}_email")[0].metadata
    assert meta["status"].value.startswith("awaiting review #")
    assert not month["outbox"].exists()
    [review] = [r for r in _book().list("open") if r.report == REPORT and r.period == MONTH]
    items = {i["item"]: i for i in review.checklist}
    assert set(items) == {"Executive summary accuracy", "Strategic recommendation quality",
                          "Visual presentation", "Distribution list verification"}  # fmt: skip
    # The reviewer sees each deck's slides, in order, slide 2 the decision block.
    slides = [d for d in items["Visual presentation"]["details"] if d.startswith("slides of ")]
    assert {d.split(": ", 1)[0].rsplit("_", 1)[-1] for d in slides} == {
        "board.pptx",
        "strategy.pptx",
    }
    for d in slides:
        assert "; 2 What changed, and what we ask; 3 Agenda;" in d, d
    to, cc = recipients(get_settings(), REPORT)
    assert items["Distribution list verification"]["to"] == to
    assert items["Distribution list verification"]["cc"] == cc
    assert items["Distribution list verification"]["status"] == "ok"
    owner = get_settings().reports[REPORT].owner
    feed = Feed(build_resources(get_settings())["app_db"].engine)
    assert any(n.kind == "review_requested" and n.period == MONTH for n in feed.for_user(owner))
    assert _tick(month["instance"]).run_requests == []  # nothing approved: nothing launched


def test_the_monthly_report_carries_the_analysis(month, reporting_home):
    import json
    import subprocess

    from reporting_assets.lib.formatting import format_value
    from reporting_assets.resources.artifacts import ArtifactStore

    assets = reporting_home / "var/data/assets"
    analysis = pl.read_parquet(assets / "business_analysis_monthly" / f"{MONTH}.parquet")
    forecast = pl.read_parquet(assets / "forecasts_monthly" / f"{MONTH}.parquet")
    recs = pl.read_parquet(assets / "strategic_recommendations_monthly" / f"{MONTH}.parquet")
    version = ArtifactStore(reporting_home / "var/artifacts").latest(REPORT, MONTH)
    text = subprocess.run(["pdftotext", "-layout", str(version / f"{REPORT}_{MONTH}.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    flat = " ".join(text.split())
    for title in ("Business analysis", "Market benchmarks", "Forecasts", "Business impact",
                  "Accounts at risk of churn"):  # fmt: skip
        assert title in text
    # One bridge: the summary's sentence is the business analysis table's row for the month.
    now = analysis.row(-1, named=True)
    usd = lambda x: format_value(x, "usd")  # noqa: E731
    assert f"MRR moved from {usd(now['opening_mrr'])} to {usd(now['closing_mrr'])}" in flat
    assert (f"{usd(now['new_mrr'])} new, {usd(now['reactivation_mrr'])} won back, "
            f"{usd(now['expansion_mrr'])} expansion, {usd(now['contraction_mrr'])} contraction "
            f"and {usd(now['churned_mrr'])} churned") in flat  # fmt: skip
    last = forecast.filter(pl.col("series") == "mrr").sort("month").row(-1, named=True)
    assert f"MRR is forecast at {format_value(last['forecast'], 'usd')}" in flat
    content = json.loads((version / "report.json").read_text())
    assert content["recommendations"] == recs.sort("rank")["recommendation"].to_list()
    [review] = [r for r in _book().list("open") if r.report == REPORT]
    item = next(i for i in review.checklist if i["item"] == "Strategic recommendation quality")
    assert item["details"] == (content["recommendations"] or item["details"])


def test_only_a_named_reviewer_other_than_the_owner_decides(month):
    [review] = [r for r in _book().list("open") if r.report == REPORT]
    owner = get_settings().reports[REPORT].owner
    by_owner = _cli("review", "approve", str(review.id), "--by", owner)
    assert by_owner.exit_code == 2 and f"{owner} owns {REPORT}" in by_owner.output
    stranger = _cli("review", "approve", str(review.id), "--by", "intern@northwind.example")
    assert (
        stranger.exit_code == 2 and "is not a reviewer of monthly_board_report" in stranger.output
    )
    nobody = _cli("review", "approve", str(review.id))
    assert nobody.exit_code != 0 and "--by" in nobody.output
    assert _book().get(review.id).status == "open"  # none of them decided anything


def test_cli_show_lists_the_checklist(month):
    [review] = [r for r in _book().list("open") if r.report == REPORT]
    out = _cli("review", "show", str(review.id)).output
    assert "Distribution list verification" in out and "board@northwind.example" in out
    assert "first send of this report" in out
    assert f"#{review.id}" in _cli("review", "list").output


def test_approval_launches_the_delivery_through_the_sensor(month, config_with, monkeypatch):
    config_with(lambda c: c["channels"]["webhook"].update(enabled=True))
    [review] = [r for r in _book().list("open") if r.report == REPORT]
    done = _cli("review", "approve", str(review.id), "--by", "chair@northwind.example",
                "--comment", "numbers checked against the ledger")  # fmt: skip
    assert done.exit_code == 0, done.output
    result = _tick(month["instance"])
    [request] = result.run_requests
    assert request.job_name == f"{REPORT}_delivery_job" and request.partition_key == MONTH
    # Once only: a later tick may look back at it, but under the same run key, which Dagster
    # never launches twice.
    again = _tick(month["instance"], result.cursor).run_requests
    assert {r.run_key for r in again} <= {request.run_key}

    # What the daemon does with the request; the generic webhook is on, signed with its secret.
    with WebhookFake("webhook") as hook:
        monkeypatch.setenv("REPORT_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("REPORT_WEBHOOK_SECRET", SECRET)
        hook.fail_next(503)  # a transient failure first: retried
        _run(month["instance"], request.job_name, request.partition_key, tags=request.tags)
    assert len(hook.requests) == 2 and hook.requests[-1].json["period"] == MONTH
    assert hook.requests[-1].json["summary"]  # the report's content, accepted with its signature
    to, cc = recipients(get_settings(), REPORT)
    sent = sorted(p.name for p in month["outbox"].glob("*.eml"))
    assert sent == sorted(f"{a}.eml" for a in [*to, *cc])
    events = _book().events(review.id)
    assert [(e["action"], e["actor"]) for e in events] == [
        ("opened", "system"), ("approved", "chair@northwind.example")]  # fmt: skip
    assert {e["artifact_sha256"] for e in events} == {review.artifact_sha256}


def test_rejection_sends_nothing_and_tells_the_owner(month, reporting_home):
    before = sorted(p.name for p in month["outbox"].glob("*.eml"))
    # Rendered again after it was sent: a new version, so a new review.
    _run(month["instance"], "monthly_report_job", MONTH)
    [review] = [r for r in _book().list("open") if r.report == REPORT]
    assert review.version == "v2"
    done = _cli("review", "reject", str(review.id), "--by", "chair@northwind.example",
                "--comment", "the forecast section is missing")  # fmt: skip
    assert done.exit_code == 0, done.output
    # The sensor sees only the earlier approval (its run key was launched already).
    requests = _tick(month["instance"]).run_requests
    assert all(r.run_key != f"review-{review.id}" for r in requests)
    _run(month["instance"], f"{REPORT}_delivery_job", MONTH)
    assert sorted(p.name for p in month["outbox"].glob("*.eml")) == before  # nothing new

    owner = get_settings().reports[REPORT].owner
    [notice] = list((reporting_home / "var/outbox/notice_review_rejected").rglob(f"{owner}.eml"))
    msg = email.message_from_bytes(notice.read_bytes(), policy=email.policy.default)
    assert "the forecast section is missing" in msg.get_content()
    assert msg["Subject"].startswith("Review rejected")
    feed = Feed(build_resources(get_settings())["app_db"].engine)
    assert any(n.kind == "review_rejected" for n in feed.for_user(owner))


def test_a_rerender_supersedes_the_open_review_and_the_old_one_cannot_be_approved(month):
    _run(month["instance"], "monthly_report_job", MONTH)  # v3, reviewed
    [old] = [r for r in _book().list("open") if r.report == REPORT]
    _run(month["instance"], "monthly_report_job", MONTH)  # v3 replaced before any decision
    [new] = [r for r in _book().list("open") if r.report == REPORT]
    assert new.id != old.id and _book().get(old.id).status == "superseded"
    refused = _cli("review", "approve", str(old.id), "--by", "chair@northwind.example")
    assert refused.exit_code == 2 and "superseded" in refused.output


def test_distribution_check_flags_outside_domains_and_the_diff(month):
    settings = get_settings()
    engine = build_resources(settings)["app_db"].engine
    to, cc = recipients(settings, REPORT)
    item = distribution_check(settings, REPORT, [*to, "ceo@gmail.example"], cc, engine,
                              "2026-04-01")  # fmt: skip
    assert item["status"] == "attention"
    assert item["outside_allowed_domains"] == ["ceo@gmail.example"]
    assert item["added"] == ["ceo@gmail.example"] and item["removed"] == []
    assert any("compared with the 2026-03-01 send" in d for d in item["details"])


def _browser_as(app, address: str) -> TestClient:
    """A reader's browser, signed in through their own link (the GET page, then its POST)."""
    client = TestClient(app)
    token = Links.of(get_settings()).token(address)
    page = client.get(f"/signin/{token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    assert client.post(f"/signin/{token}", data={"csrf": csrf}).status_code == 200
    return client


def _csrf(page_text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_text)[1]


def test_the_emails_link_each_reader_to_the_report_with_their_own_sign_in(month):
    links = Links.of(get_settings())
    emails = sorted(month["outbox"].glob("*.eml"))
    assert emails
    for path in emails:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        reader = path.name.removesuffix(".eml")
        for subtype in ("plain", "html"):
            body = msg.get_body(preferencelist=(subtype,)).get_content()
            found = re.findall(r"/signin/([\w.-]+)\?next=%2Freports%2F" + REPORT + "%2F" + MONTH,
                               body)  # fmt: skip
            assert found, f"{path.name} {subtype}: no personal link to the report"
            assert {links.address(t) for t in found} == {reader}


def test_review_in_the_browser_refuses_the_owner_and_strangers_and_the_approval_sends(
    month, monkeypatch
):
    settings = get_settings()
    _run(month["instance"], "monthly_report_job", MONTH)  # v3: a new review to decide
    [review] = [r for r in _book().list("open") if r.report == REPORT]
    app = create_app(settings, build_resources(settings)["app_db"])
    cfg = settings.reports[REPORT]

    owner = _browser_as(app, cfg.owner)
    page = owner.get(f"/reviews/{review.id}")
    assert page.status_code == 200 and "You cannot decide this review" in page.text
    assert "Approve and send" not in page.text
    refused = owner.post(f"/reviews/{review.id}", data={"csrf": _csrf(page.text),
                         "action": "approve", "comment": "mine is fine"})  # fmt: skip
    assert refused.status_code == 403 and "someone else must review it" in refused.text

    stranger = _browser_as(app, "board@northwind.example")  # reads it, does not review it
    assert stranger.get(f"/reviews/{review.id}").status_code == 404

    chair = _browser_as(app, "chair@northwind.example")
    page = chair.get(f"/reviews/{review.id}")
    assert "Approve and send" in page.text and "Distribution list" in page.text
    assert "What changed, and what we ask" in page.text  # the decks' slide outlines
    preview = chair.get(f"/reviews/{review.id}/pages/1.png")
    assert preview.headers["content-type"] == "image/png" and preview.content[:4] == b"\x89PNG"
    forged = chair.post(f"/reviews/{review.id}", data={"csrf": "forged", "action": "approve"})
    assert forged.status_code == 403
    assert _book().get(review.id).status == "open"

    done = chair.post(f"/reviews/{review.id}", data={"csrf": _csrf(page.text),
                      "action": "approve", "comment": "checked in the browser"})  # fmt: skip
    assert done.status_code == 200 and "approved" in done.text
    events = _book().events(review.id)
    assert events[-1]["action"] == "approved" and events[-1]["actor"] == "chair@northwind.example"
    assert events[-1]["artifact_sha256"] == review.artifact_sha256
    assert events[-1]["comment"] == "checked in the browser"

    requests = _tick(month["instance"]).run_requests
    [request] = [r for r in requests if r.run_key == f"review-{review.id}"]
    result = _run(month["instance"], request.job_name, request.partition_key, tags=request.tags)
    # Approved, so delivered: everyone on the list had this period already (the first version
    # went out above), and nobody gets it twice.
    meta = result.asset_materializations_for_node(f"{REPORT}_email")[0].metadata
    to, cc = recipients(settings, REPORT)
    assert meta["already_sent"].value == len({*to, *cc}) and meta["sent"].value == 0
