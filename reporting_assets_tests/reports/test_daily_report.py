"""The daily report end to end: rendered from a day of the demo company through Dagster, then
read back — every number in the PDF, the workbook and the email equals the metric tables."""

import email
import email.policy
import json
import re
import shutil
import subprocess
from datetime import date

import dagster as dg
import openpyxl
import polars as pl
import pytest

from reporting_assets.config import get_settings
from reporting_assets.definitions import defs
from reporting_assets.lib.formatting import display_name, format_value
from reporting_assets.metrics.assets import metric_assets
from reporting_assets.reports import charts
from reporting_assets.reports.assets import report_assets
from reporting_assets.reports.pdf import render_html, render_pdf
from reporting_assets.resources import build_resources
from reporting_assets.resources.artifacts import ArtifactStore, ArtifactStoreResource
from reporting_assets.resources.sources import PostHogEventsResource
from reporting_assets.resources.storage import AssetHistory, PartitionedParquetIOManager
from reporting_assets.sources.assets import source_assets
from reporting_assets_tests.reports.sample import FORMULA_NAME, HOSTILE_NAME, sample_report

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

DAY = "2026-03-14"  # the payment-failure spike of the test company: a critical alert
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@pytest.fixture(scope="module")
def rendered(demo_company, demo_history, reporting_home):
    """Metrics for the day before, then the whole daily report job for DAY."""
    with dg.DagsterInstance.ephemeral() as instance:
        assert (
            defs.resolve_job_def("daily_metrics_job")
            .execute_in_process(partition_key="2026-03-13", instance=instance, run_config=QUIET)
            .success
        )
        result = defs.resolve_job_def("daily_report_job").execute_in_process(
            partition_key=DAY, instance=instance, run_config=QUIET)  # fmt: skip
    assert result.success
    assets = reporting_home / "var/data/assets"
    tables = {a: pl.read_parquet(assets / a / f"{DAY}.parquet") for a in (
        "revenue_protection_daily", "cost_optimization_daily", "operational_efficiency_daily",
        "critical_alerts_daily")}  # fmt: skip
    store = ArtifactStore(reporting_home / "var/artifacts")
    version = store.latest("daily_executive", DAY)
    mat = result.asset_materializations_for_node("daily_executive")[0]
    return {"tables": tables, "version": version, "metadata": mat.metadata}


def pdf_text(path, first: int | None = None, last: int | None = None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return subprocess.run(["pdftotext", "-layout", *pages, str(path), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip


def test_pdf_numbers_equal_the_metric_tables(rendered):
    version = rendered["version"]
    text = pdf_text(version / f"daily_executive_{DAY}.pdf")
    revenue = rendered["tables"]["revenue_protection_daily"]
    for row in revenue.iter_rows(named=True):
        assert format_value(row["closing_mrr"], "usd") in text, row["plan"]
        assert format_value(row["opening_mrr"], "usd") in text, row["plan"]
    total = revenue.filter(pl.col("plan") == "total").row(0, named=True)
    assert format_value(total["payment_failure_rate"], "ratio") in text
    costs = rendered["tables"]["cost_optimization_daily"]
    for row in costs.filter(pl.col("level") == "line").iter_rows(named=True):
        assert format_value(row["cost_usd"], "usd") in text, row["service"]
    alert = (
        rendered["tables"]["critical_alerts_daily"]
        .filter(pl.col("rule") == "payment_failures_high")
        .row(0, named=True)
    )
    assert alert["severity"] == "critical"
    # The cover opens with the decision block: the critical alert is an ask of its owner (named
    # as the config's `people` name them), due the next business day after publication, with
    # the day's failed payments at stake, the figure the revenue table shows.
    cover = pdf_text(version / f"daily_executive_{DAY}.pdf", first=1, last=1)
    squeezed = re.sub(r"\s+", " ", cover)
    assert "What changed" in squeezed and "What we ask" in squeezed
    assert "Have billing retry the failed payments" in squeezed
    assert "Daniel Okafor, CFO" in squeezed and "Mon 16 Mar" in squeezed  # published Sun 15
    assert format_value(total["failed_payment_amount"], "usd") in squeezed
    assert f"Payment failure rate at {format_value(alert['value'], 'ratio')}" in squeezed
    assert f"Data through 11:59 pm ET, {date.fromisoformat(DAY):%A} 14 March 2026" in text
    # The quality page states the count and lists only what did not pass; the workbook has all.
    content = json.loads((version / "report.json").read_text())
    checks = content["checks"]
    not_passed = [c for c in checks if not c["passed"]]
    assert "Data quality" in text and f"{len(checks)} checks" in text
    for c in not_passed:
        assert c["check"] in text
    passing = next(c for c in checks if c["passed"])
    assert passing["check"] not in re.sub(r"\s", "", text)
    pages = subprocess.run(
        ["pdfinfo", str(version / f"daily_executive_{DAY}.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(rf"^Pages:\s+{rendered['metadata']['pages'].value}$", pages, re.M)


def test_workbook_cells_equal_the_metric_tables(rendered):
    wb = openpyxl.load_workbook(rendered["version"] / f"daily_executive_{DAY}.xlsx")
    assert wb.sheetnames[0] == "Summary" and wb.sheetnames[-1] == "README"
    revenue = rendered["tables"]["revenue_protection_daily"]
    ws = wb["Revenue protection"]
    header = [c.value for c in ws[1]]
    rows = {
        r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)
    }
    money = {"Opening MRR": "opening_mrr", "New": "new_mrr", "Expansion": "expansion_mrr",
             "Contraction": "contraction_mrr", "Churned": "churned_mrr",
             "Closing MRR": "closing_mrr", "MRR at risk": "mrr_at_risk"}  # fmt: skip
    for row in revenue.iter_rows(named=True):
        for label, column in money.items():
            cell = rows[display_name(row["plan"])][label]
            assert isinstance(cell, int | float), (label, cell)  # a number, never text
            assert cell == pytest.approx(row[column]), (row["plan"], label)
        rate = rows[display_name(row["plan"])]["Payment failures"]
        assert (
            (rate is None)
            if row["payment_failure_rate"] is None
            else (rate == pytest.approx(row["payment_failure_rate"]))
        )
    costs_sheet = wb["Cost optimization"]
    header = [c.value for c in costs_sheet[1]]
    lines = rendered["tables"]["cost_optimization_daily"].filter(pl.col("level") == "line")
    spend = sorted(
        r[header.index("Spend")] for r in costs_sheet.iter_rows(min_row=2, values_only=True)
    )
    assert spend == pytest.approx(sorted(lines["cost_usd"].to_list()))
    summary = wb["Summary"]
    values = {r[0]: r[1] for r in summary.iter_rows(min_row=7, max_row=14, values_only=True)}
    total = revenue.filter(pl.col("plan") == "total").row(0, named=True)
    assert values["Monthly recurring revenue"] == total["closing_mrr"]
    assert values["Payment failure rate"] == pytest.approx(total["payment_failure_rate"])


def test_email_structure_and_recipients(rendered):
    msg = email.message_from_bytes((rendered["version"] / "email.eml").read_bytes(),
                                   policy=email.policy.default)  # fmt: skip
    assert msg.get_content_type() == "multipart/related"
    alternative = msg.get_payload()[0]
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html"]
    html = alternative.get_payload()[1].get_content()
    images = {p["Content-ID"].strip("<>"): p for p in msg.get_payload()[1:]}
    assert len(images) == 2
    for cid in images:
        assert f"cid:{cid}" in html
    settings = get_settings()
    lists = [settings.distribution_lists[n] for n in
             settings.reports["daily_executive"].distribution_lists]  # fmt: skip
    assert sorted(a.strip() for a in msg["To"].split(",")) == sorted(
        a for lst in lists for a in lst.to
    )
    total = rendered["tables"]["revenue_protection_daily"].filter(pl.col("plan") == "total")
    assert format_value(total["closing_mrr"][0], "usd") in html
    assert len(bytes(msg)) < 2_000_000


def test_artifact_metadata_lists_files_with_hashes(rendered):
    files = rendered["metadata"]["files"].value
    # The report's content as JSON (dashboard, review, webhook) and the Slack message it lists.
    assert {f["kind"] for f in files} == {"pdf", "xlsx", "email", "json", "json:slack"}
    content = json.loads((rendered["version"] / "report.json").read_text())
    total = rendered["tables"]["revenue_protection_daily"].filter(pl.col("plan") == "total")
    mrr = next(k for k in content["kpis"] if k["key"] == "mrr")
    assert mrr["value"] == total["closing_mrr"][0]
    slack = json.loads((rendered["version"] / "slack.json").read_text())
    assert mrr["display"] in json.dumps(slack, ensure_ascii=False)
    for f in files:
        assert (rendered["version"] / f["file"]).stat().st_size == f["bytes"]
        assert len(f["sha256"]) == 64
    assert rendered["metadata"]["preview"].value.startswith("![chart](data:image/png;base64,")


def test_a_distributed_version_is_never_overwritten(tmp_path):
    store = ArtifactStore(tmp_path)
    draft = store.draft_dir("daily_executive", DAY)
    (draft / "report.pdf").write_text("first")
    v1 = store.publish("daily_executive", DAY, draft)
    draft = store.draft_dir("daily_executive", DAY)
    (draft / "report.pdf").write_text("second draft")
    assert store.publish("daily_executive", DAY, draft) == v1  # a draft is replaced
    store.mark_distributed(v1)
    draft = store.draft_dir("daily_executive", DAY)
    (draft / "report.pdf").write_text("after sending")
    v2 = store.publish("daily_executive", DAY, draft)
    assert v2.name == "v2" and (v1 / "report.pdf").read_text() == "second draft"


def test_templates_keep_hostile_text_inert(tmp_path):
    report = sample_report()
    html = render_html(report, {})
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    render_pdf(report, {}, tmp_path / "r.pdf")
    text = pdf_text(tmp_path / "r.pdf")
    assert '<script>alert("x")</script> Harbor Media' in text
    assert FORMULA_NAME in text and HOSTILE_NAME in text


def test_no_chromium_gives_a_clear_message(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    with pytest.raises(charts.ChromiumMissingError, match="apt-get install -y chromium"):
        charts.browser_path()


def test_a_blocking_check_upstream_means_no_artifact(demo_company, tmp_path):
    export = tmp_path / "events"
    shutil.copytree(demo_company["path"] / "posthog" / "events", export)
    for f in export.glob("2026-03-1[01]T*.parquet"):
        pl.read_parquet(f).clear().write_parquet(f)
    resources = {
        **build_resources(get_settings()),
        "io_manager": PartitionedParquetIOManager(root=str(tmp_path / "assets")),
        "asset_history": AssetHistory(root=str(tmp_path / "assets")),
        "posthog": PostHogEventsResource(backend="batch_export", export_path=str(export)),
        "artifacts": ArtifactStoreResource(root=str(tmp_path / "artifacts")),
    }
    daily_reports = [a for a in report_assets if a.key.to_user_string() == "daily_executive"]
    result = dg.materialize([*source_assets, *metric_assets, *daily_reports],
                            partition_key="2026-03-10", resources=resources,
                            raise_on_error=False)  # fmt: skip
    assert not result.success
    assert not (tmp_path / "artifacts").exists()
