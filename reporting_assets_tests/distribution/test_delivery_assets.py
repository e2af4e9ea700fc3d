"""The daily report goes out once: every address on its lists gets one email with the PDF and
the workbook, re-running sends nothing again, and the sent version is never overwritten."""

import email
import email.policy

import dagster as dg
import pytest

from reporting_assets.config import get_settings
from reporting_assets.definitions import defs
from reporting_assets.distribution.assets import delivery_assets, recipients
from reporting_assets.reports.store import ArtifactStore
from reporting_assets.resources import build_resources

DAY = "2026-03-12"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _run(job: str, key: str):
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=key, instance=instance, run_config=QUIET)  # fmt: skip
    assert result.success
    return result


@pytest.fixture(scope="module")
def delivered(demo_company, reporting_home):
    _run("daily_metrics_job", "2026-03-11")
    first = _run("daily_report_job", DAY)
    outbox = reporting_home / "var/outbox/daily_executive" / DAY
    files = {p.name: p.read_bytes() for p in sorted(outbox.glob("*.eml"))}
    second = _run("daily_report_job", DAY)
    return {"first": first, "second": second, "files": files, "outbox": outbox,
            "store": ArtifactStore(reporting_home / "var/artifacts")}  # fmt: skip


def _meta(result, asset="daily_executive_email"):
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0]
            .metadata.items()}  # fmt: skip


def test_every_address_gets_one_message_with_both_attachments(delivered):
    to, cc = recipients(get_settings(), "daily_executive")
    assert len(delivered["files"]) == len(to) + len(cc)
    ids = set()
    for raw in delivered["files"].values():
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert sorted(a.strip() for a in msg["To"].split(",")) == sorted(to)
        assert msg["Cc"] == ", ".join(cc)
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["List-Unsubscribe"].startswith("<https://")
        kinds = [p.get_content_type() for p in msg.iter_attachments()]
        assert "application/pdf" in kinds
        assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in kinds
        ids.add(msg["Message-ID"])
    assert len(ids) == len(delivered["files"])  # one deterministic id per address
    assert _meta(delivered["first"])["sent"] == len(to) + len(cc)


def test_rerunning_sends_nothing_again(delivered):
    meta = _meta(delivered["second"])
    assert meta["sent"] == 0 and meta["already_sent"] == len(delivered["files"])
    now = {p.name: p.read_bytes() for p in sorted(delivered["outbox"].glob("*.eml"))}
    assert now == delivered["files"]
    assert meta["delivery_success_rate"] == 1.0


def test_the_sent_version_is_kept_and_a_rerender_opens_the_next(delivered):
    store = delivered["store"]
    versions = store.versions("daily_executive", DAY)
    # The second run re-rendered after the first was sent: v1 stayed, v2 is the new one.
    assert [v.name for v in versions] == ["v1", "v2"]
    assert store.is_distributed(versions[0])
    assert not store.is_distributed(versions[1])  # nothing new was sent from it


def test_a_manual_report_waits_for_review(reporting_home):
    monthly = next(a for a in delivery_assets
                   if a.key.to_user_string() == "monthly_board_report_email")  # fmt: skip
    result = dg.materialize([monthly], partition_key="2026-03-01",
                            resources=build_resources(get_settings()))  # fmt: skip
    meta = _meta(result, "monthly_board_report_email")
    assert meta["status"].startswith("awaiting review")
    assert not (reporting_home / "var/outbox/monthly_board_report").exists()
