"""The weekly report rolled up from a week of checked daily metrics: the numbers in the PDF,
workbook and decks are the sums and end-of-week values of the daily tables."""

import subprocess
from datetime import date, timedelta

import dagster as dg
import openpyxl
import polars as pl
import pytest
from pptx import Presentation

from reporting_assets.definitions import defs
from reporting_assets.lib.formatting import format_value
from reporting_assets.reports.model import STATUS_WORDS
from reporting_assets.resources.artifacts import ArtifactStore

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

WEEK = "2026-03-08"  # Sunday 8 – Saturday 14 March 2026: the spring DST change is in it
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@pytest.fixture(scope="module")
def weekly(demo_company, demo_history, reporting_home):
    days = [(date.fromisoformat(WEEK) + timedelta(days=k)).isoformat() for k in range(7)]
    with dg.DagsterInstance.ephemeral() as instance:
        for day in days:
            assert (
                defs.resolve_job_def("daily_metrics_job")
                .execute_in_process(partition_key=day, instance=instance, run_config=QUIET)
                .success
            )
        result = defs.resolve_job_def("weekly_report_job").execute_in_process(
            partition_key=WEEK, instance=instance, run_config=QUIET)  # fmt: skip
    assert result.success
    assets = reporting_home / "var/data/assets"
    revenue = (
        pl.concat(
            [pl.read_parquet(assets / "revenue_protection_daily" / f"{d}.parquet") for d in days]
        )
        .filter(pl.col("plan") == "total")
        .sort("date")
    )
    version = ArtifactStore(reporting_home / "var/artifacts").latest("weekly_business_review",
                                                                     WEEK)  # fmt: skip
    return {"revenue": revenue, "version": version, "days": days,
            "metadata": result.asset_materializations_for_node("weekly_business_review")[0]
            .metadata}  # fmt: skip


def test_pdf_carries_the_week_totals(weekly):
    pdf = weekly["version"] / f"weekly_business_review_{WEEK}.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    revenue = weekly["revenue"]
    assert format_value(revenue["closing_mrr"][-1], "usd") in text
    assert format_value(revenue["net_new_mrr"].sum(), "usd") in text
    assert "Week of 8 March – 14 March 2026" in text
    for d in weekly["days"]:
        assert d in text


def test_workbook_has_one_row_per_day(weekly):
    wb = openpyxl.load_workbook(weekly["version"] / f"weekly_business_review_{WEEK}.xlsx")
    ws = wb["Day by day"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 7
    assert [r[1] for r in rows] == weekly["revenue"]["closing_mrr"].to_list()


def _kpi_rows(deck) -> dict[str, list[str]]:
    """The KPI table of a deck: {metric label: [value, change, target, status]}."""
    for slide in deck.slides:
        for shape in slide.shapes:
            if shape.has_table and shape.table.cell(0, 0).text == "Metric":
                rows = list(shape.table.rows)
                return {r.cells[0].text: [c.text for c in list(r.cells)[1:]] for r in rows[1:]}
    raise AssertionError("no KPI table in the deck")


def test_every_kpi_on_every_deck_equals_the_daily_tables(weekly, reporting_home):
    assets = reporting_home / "var/data/assets"
    days = weekly["days"]
    costs = pl.concat(
        [pl.read_parquet(assets / "cost_optimization_daily" / f"{d}.parquet") for d in days]
    ).filter(pl.col("level") == "total")
    ops = pl.concat(
        [pl.read_parquet(assets / "operational_efficiency_daily" / f"{d}.parquet") for d in days]
    )
    rev = weekly["revenue"]
    failed, succeeded = rev["payments_failed"].sum(), rev["payments_succeeded"].sum()
    expected = {  # worked out here from the daily tables, independently of the report code
        "Monthly recurring revenue": format_value(rev["closing_mrr"][-1], "usd"),
        "Net new MRR": format_value(rev["net_new_mrr"].sum(), "usd"),
        "Payment failure rate": format_value(failed / (failed + succeeded), "ratio"),
        "Cloud and vendor spend": format_value(costs["cost_usd"].sum(), "usd"),
        "Spend vs budget": format_value(costs["cost_usd"].sum()
                                        / costs["daily_budget_usd"].sum() - 1, "ratio"),
        "Incidents opened": format_value(float(ops["incidents_opened"].sum()), "count"),
    }  # fmt: skip
    files = {f["kind"]: f for f in weekly["metadata"]["files"].value}
    for audience in ("c_suite", "vp_operations"):
        entry = files[f"pptx:{audience}"]
        deck = Presentation(weekly["version"] / entry["file"])
        assert len(deck.slides) == entry["slides"] >= 5
        rows = _kpi_rows(deck)
        for label, value in expected.items():
            assert rows[label][0] == value, (audience, label)
        assert all(
            slide.has_notes_slide and slide.notes_slide.notes_text_frame.text.strip()
            for slide in deck.slides
        ), audience


def test_the_weekly_analytics_are_in_the_pdf_and_the_workbook(weekly, reporting_home):
    assets = reporting_home / "var/data/assets"
    card = pl.read_parquet(assets / "business_scorecard_weekly" / f"{WEEK}.parquet")
    roi = pl.read_parquet(assets / "roi_weekly" / f"{WEEK}.parquet")
    progress = pl.read_parquet(assets / "initiative_progress_weekly" / f"{WEEK}.parquet")
    pdf = weekly["version"] / f"weekly_business_review_{WEEK}.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    overall = card.filter(pl.col("metric") == "overall").row(0, named=True)
    words = STATUS_WORDS[overall["status"]]
    assert f"Scorecard {overall['value']:.0f}/100 ({words})" in " ".join(text.split())
    for title in ("Trends", "Business scorecard", "Strategic initiatives", "Initiative ROI"):
        assert title in text
    total = roi.filter(pl.col("initiative_id") == "total").row(0, named=True)
    assert format_value(total["investment_to_date"], "usd") in text
    wb = openpyxl.load_workbook(weekly["version"] / f"weekly_business_review_{WEEK}.xlsx")
    sheet = wb["Initiative ROI"]
    invested = [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert invested == roi["investment_to_date"].to_list()  # typed numbers, not text
    rows = list(wb["Strategic initiatives"].iter_rows(values_only=True))
    statuses = [r[rows[0].index("Status")].lower() for r in rows[1:]]  # "Done late" as a name
    assert statuses == progress["status"].to_list()


def test_teams_gets_the_rendered_card_once(weekly, config_with, monkeypatch):
    import json

    from reporting_assets.config import get_settings
    from reporting_assets.distribution.assets import delivery_assets
    from reporting_assets.resources import build_resources
    from reporting_assets_tests.fakes.webhook_fakes import WebhookFake

    config_with(lambda c: c["channels"]["teams"].update(enabled=True))
    [asset] = [a for a in delivery_assets
               if a.key.to_user_string() == "weekly_business_review_teams"]  # fmt: skip
    stored = json.loads((weekly["version"] / "teams.json").read_text())
    with WebhookFake("teams") as teams:
        monkeypatch.setenv("TEAMS_WEBHOOK_URL", teams.url)
        teams.fail_next(429, retry_after=1)
        for _ in range(2):  # the second run finds it sent: no second post
            result = dg.materialize([asset], partition_key=WEEK,
                                    resources=build_resources(get_settings()))  # fmt: skip
    assert [r.json for r in teams.requests] == [stored, stored]  # the 429, then the accepted one
    meta = result.asset_materializations_for_node("weekly_business_review_teams")[0].metadata
    assert meta["already_sent"].value == 1


def test_each_audience_list_receives_its_deck_once_through_smtp(weekly, config_with, tmp_path):
    """The weekly email, delivered through a real SMTP server: every reader gets one message;
    the executives' copies carry the C-suite deck, the operations leads' the VP operations deck
    (config `deck_lists`), each deck the very file of the report's version, each once."""
    from reporting_assets.config import get_settings
    from reporting_assets.config.audience import list_addresses
    from reporting_assets.distribution.assets import delivery_assets
    from reporting_assets.resources import build_resources
    from reporting_assets_tests.fakes.smtp_server import ScriptedHandler, smtp_server

    handler = ScriptedHandler()
    with smtp_server(handler) as controller:
        config_with(lambda c: (
            c["storage"].update(app_database_url=f"sqlite:///{tmp_path / 'app.db'}"),
            c["channels"]["email"].update(mode="smtp", host=controller.hostname,
                                          port=controller.port, security="none",
                                          username_env=None, password_env=None),
        ))  # fmt: skip
        [asset] = [a for a in delivery_assets
                   if a.key.to_user_string() == "weekly_business_review_email"]  # fmt: skip
        settings = get_settings()
        for _ in range(2):  # the second run finds every reader served: nothing is sent again
            result = dg.materialize([asset], partition_key=WEEK,
                                    resources=build_resources(settings))  # fmt: skip
            assert result.success
    decks = {a: weekly["version"] / f"weekly_business_review_{WEEK}_{a}.pptx"
             for a in ("c_suite", "vp_operations")}  # fmt: skip
    want: dict[str, set[str]] = {}
    for aud, lists in settings.reports["weekly_business_review"].deck_lists.items():
        to, cc = list_addresses(settings, lists)
        for reader in [*to, *cc]:
            want.setdefault(reader, set()).add(aud)
    everyone = list_addresses(settings, settings.reports["weekly_business_review"]
                              .distribution_lists)  # fmt: skip
    for reader in [*everyone[0], *everyone[1]]:
        [received] = handler.received_by(reader)  # exactly one message per reader
        msg = received.message
        files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
        assert f"weekly_business_review_{WEEK}.pdf" in files, reader
        got = {a for a, path in decks.items() if path.name in files}
        assert got == want.get(reader, set()), reader
        for aud in got:
            assert files[decks[aud].name] == decks[aud].read_bytes()  # the version's own file
        assert len(files) == len(set(files)), reader
    assert {a for r in want.values() for a in r} == set(decks)  # both decks went somewhere
