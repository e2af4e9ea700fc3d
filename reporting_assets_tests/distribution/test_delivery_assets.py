"""The daily report goes out once: every address on its lists gets one email with the PDF and
the workbook, re-running sends nothing again, and the sent version is never overwritten."""

import email
import email.policy
import json

import dagster as dg
import pytest

from reporting_assets.config import get_settings
from reporting_assets.definitions import defs
from reporting_assets.distribution.assets import delivery_assets, recipients
from reporting_assets.records.feed import Feed
from reporting_assets.records.ledger import DeliveryLedger
from reporting_assets.resources import build_resources
from reporting_assets.resources.artifacts import ArtifactStore
from reporting_assets_tests.fakes.webhook_fakes import WebhookFake

DAY = "2026-03-12"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _run(job: str, key: str):
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=key, instance=instance, run_config=QUIET)  # fmt: skip
    assert result.success
    return result


@pytest.fixture(scope="module")
def delivered(demo_company, demo_history, reporting_home):
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
    assert 0 < len(cc) <= get_settings().channels.email.max_cc_shown
    ids = set()
    for name, raw in delivered["files"].items():
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        reader = name.removesuffix(".eml")
        assert msg["To"] == reader  # nobody sees the other readers' addresses
        shown = [a for a in cc if a != reader]  # the short stakeholder list, on Cc
        assert msg["Cc"] == (", ".join(shown) if shown else None)
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


def _materialize(asset_key: str, key: str, run_config: dict | None = None):
    asset = next(a for a in delivery_assets if a.key.to_user_string() == asset_key)
    result = dg.materialize([asset], partition_key=key, run_config=run_config or {},
                            resources=build_resources(get_settings()))  # fmt: skip
    return _meta(result, asset_key)


def test_slack_gets_the_stored_message_once_and_a_refusal_is_not_retried(
    delivered, config_with, monkeypatch
):
    config_with(lambda c: c["channels"]["slack"].update(enabled=True))
    version = delivered["store"].latest("daily_executive", DAY)
    stored = json.loads((version / "slack.json").read_text())
    ledger = DeliveryLedger(build_resources(get_settings())["app_db"].engine)
    with WebhookFake("slack") as fake:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", fake.url)
        fake.fail_next(404, "channel_not_found")
        with pytest.raises(dg.Failure, match="refused it for good"):  # nothing delivered: a
            _materialize("daily_executive_slack", DAY)  # failed run the data team hears of
        [row] = ledger.current("daily_executive", DAY, "slack")
        assert row.status == "failed_permanent" and row.attempts == 1
        assert row.last_error == "slack: HTTP 404 channel_not_found"

        with pytest.raises(dg.Failure):  # a permanent refusal stays refused: not posted again
            _materialize("daily_executive_slack", DAY)
        assert len(fake.requests) == 1

        # Fixed on Slack's side: an explicit resend, rate-limited once, then delivered.
        fake.fail_next(429, retry_after=1)
        config = {"ops": {"daily_executive_slack": {"config": {
            "resend": True, "requested_by": "ops@northwind.example"}}}}  # fmt: skip
        meta = _materialize("daily_executive_slack", DAY, config)
        assert meta["sent"] == 1
        assert len(fake.requests) == 3
        assert fake.requests[-1].json == stored  # exactly what was rendered with the report
        [row] = ledger.current("daily_executive", DAY, "slack")
        assert (row.status, row.generation, row.requested_by) == (
            "sent",
            1,
            "ops@northwind.example",
        )

        assert _materialize("daily_executive_slack", DAY)["already_sent"] == 1
        assert len(fake.requests) == 3


def test_an_enabled_channel_without_its_url_fails_clearly(delivered, config_with, monkeypatch):
    config_with(lambda c: c["channels"]["slack"].update(enabled=True))
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    with pytest.raises(dg.Failure, match="SLACK_WEBHOOK_URL"):
        _materialize("daily_executive_slack", DAY)


def test_a_disabled_channel_sends_nothing(delivered):
    assert _materialize("daily_executive_slack", DAY)["status"].startswith("channels.slack")


def test_the_dashboard_feed_announces_the_report_to_each_reader(delivered, reporting_home):
    engine = build_resources(get_settings())["app_db"].engine
    feed = Feed(engine)
    [note] = [n for n in feed.all(kind="daily_report") if n.period == DAY]
    to, cc = recipients(get_settings(), "daily_executive")
    assert sorted(note.audience) == sorted([*to, *cc])
    assert note.payload["kpis"] and note.url.endswith(f"/daily_executive/{DAY}")
    assert [n.id for n in feed.for_user("ceo@northwind.example", unread_only=True)
            if n.id == note.id] == [note.id]  # fmt: skip
    assert not [n for n in feed.for_user("board@northwind.example") if n.id == note.id]

    assert feed.mark_read("ceo@northwind.example", [note.id]) == 1
    assert note.id not in [n.id for n in feed.for_user("ceo@northwind.example", unread_only=True)]
    assert note.id in [n.id for n in feed.for_user("cfo@northwind.example", unread_only=True)]

    # One reader's export: their notifications and reads, nobody else's addresses.
    path = reporting_home / "var/feed/ceo@northwind.example.json"
    exported = feed.export(path, "CEO@northwind.example")
    on_disk = json.loads(path.read_text())
    assert on_disk == exported and on_disk["user"] == "ceo@northwind.example"
    item = next(i for i in on_disk["notifications"] if i["id"] == note.id)
    assert item["read"] is True and "cfo@northwind.example" not in path.read_text()
    cfo = feed.export(reporting_home / "var/feed/cfo.json", "cfo@northwind.example")
    assert next(i for i in cfo["notifications"] if i["id"] == note.id)["read"] is False
    # Re-running the report sent nothing new: one notification for the period, not two.
    assert len([n for n in feed.all(kind="daily_report") if n.period == DAY]) == 1


def test_cli_resend_to_one_address_is_recorded_as_a_resend(delivered, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from reporting_assets.cli import main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    args = ["resend", "daily_executive", DAY, "--by", "cfo@northwind.example",
            "--to", "ceo@northwind.example"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "resend 1 by cfo@northwind.example" in result.output
    resent = delivered["outbox"] / "ceo@northwind.example.resend1.eml"
    msg = email.message_from_bytes(resent.read_bytes(), policy=email.policy.default)
    first = email.message_from_bytes(delivered["files"]["ceo@northwind.example.eml"],
                                     policy=email.policy.default)  # fmt: skip
    assert msg["Message-ID"] != first["Message-ID"]  # a new message on purpose
    assert len(list(delivered["outbox"].glob("*.resend1.eml"))) == 1  # nobody else


def test_a_resend_racing_another_delivery_is_refused_and_leaves_nothing(delivered, monkeypatch,
                                                                        tmp_path):  # fmt: skip
    from click.testing import CliRunner

    from reporting_assets.cli import main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    ledger = DeliveryLedger(build_resources(get_settings())["app_db"].engine)
    before = ledger.history("daily_executive", DAY, "email")
    to, _ = recipients(get_settings(), "daily_executive")
    args = ["resend", "daily_executive", DAY, "--by", "cfo@northwind.example", "--to", to[-1]]
    with ledger.lease("daily_executive", DAY, "email", "run elsewhere"):  # a delivery under way
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "being delivered by email in run elsewhere" in result.output
    assert ledger.history("daily_executive", DAY, "email") == before  # no resend left queued
    assert not list(delivered["outbox"].glob(f"{to[-1]}.resend*.eml"))


def test_a_resend_to_someone_not_on_the_list_is_refused(delivered):
    config = {"ops": {"daily_executive_email": {"config": {
        "resend": True, "requested_by": "cfo@northwind.example",
        "targets": ["stranger@elsewhere.example"]}}}}  # fmt: skip
    with pytest.raises(dg.Failure, match=r"stranger@elsewhere\.example: not on its list"):
        _materialize("daily_executive_email", DAY, config)
    assert not list(delivered["outbox"].glob("stranger*"))


def test_delivery_reads_a_copy_checked_against_the_manifest(delivered, tmp_path):
    """What a delivery sends is a private copy whose every file matches the manifest; a file
    changed underneath (a re-render racing the delivery) stops the run instead."""
    import shutil

    from reporting_assets.distribution.assets import freeze

    version = delivered["store"].latest("daily_executive", DAY)
    copy = freeze(version, tmp_path / "ok")
    assert (copy / "email.eml").read_bytes() == (version / "email.eml").read_bytes()
    tampered = tmp_path / "src" / version.name
    shutil.copytree(version, tampered)
    (tampered / "report.json").write_text("{}")
    with pytest.raises(dg.Failure, match=r"report\.json no longer match the manifest"):
        freeze(tampered, tmp_path / "bad")
