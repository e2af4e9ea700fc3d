"""Slack, Teams and signed-webhook delivery over real HTTP against the local fakes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reporting_assets.distribution.webhooks import post_with_retries, signed_headers
from reporting_assets.lib.formatting import format_value
from reporting_assets.records.ledger import FAILED_PERMANENT, PENDING, SENT, DeliveryLedger
from reporting_assets.reports.model import AlertRow
from reporting_assets.reports.payloads import (
    TEAMS_LIMIT_BYTES,
    encode,
    slack_payload,
    teams_payload,
    webhook_payload,
)
from reporting_assets.resources.app_db import make_engine
from reporting_assets_tests.fakes.webhook_fakes import SECRET, WebhookFake
from reporting_assets_tests.reports.sample import HOSTILE_NAME, sample_report

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def ledger(tmp_path) -> DeliveryLedger:
    return DeliveryLedger(make_engine(f"sqlite:///{tmp_path}/app.db"))


def hostile_report():
    report = sample_report()
    alert = dataclasses.replace(report.alerts[0], message=f"{HOSTILE_NAME} & co failed")
    return dataclasses.replace(report, alerts=[alert], summary=[*report.summary, HOSTILE_NAME])


def plan(ledger: DeliveryLedger, kind: str):
    report = sample_report()
    return ledger.plan(report.report_key, report.period_key, kind, [kind])[0]


def post_slack(row, fake, ledger: DeliveryLedger, sleeps) -> str:
    """Post the sample report's Slack message for `row` to the fake."""
    body = encode(slack_payload(sample_report()))
    return post_with_retries(row, fake.url, body, JSON, ledger=ledger, kind="slack", sleep=sleeps)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _mrkdwn_texts(payload: dict) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            texts += [block.get("text", {}).get("text", "")]
            texts += [f["text"] for f in block.get("fields", [])]
        elif block["type"] == "context":
            texts += [e["text"] for e in block["elements"]]
    return texts


def test_slack_delivered_once_with_escaped_text(ledger):
    report = hostile_report()
    row = plan(ledger, "slack")
    with WebhookFake("slack") as fake:
        status = post_with_retries(
            row,
            fake.url,
            encode(slack_payload(report)),
            JSON,
            ledger=ledger,
            kind="slack",
            sleep=Sleeps(),
        )
        assert status == SENT
        [req] = fake.requests
    got = req.json
    assert got["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Daily Executive Report"},
    }
    fields = [f["text"] for b in got["blocks"] for f in b.get("fields", [])]
    assert fields[0] == "*Monthly recurring revenue*\n$1,439,745 (−$255)"
    assert format_value(0.5454, "ratio") in fields[1]
    texts = _mrkdwn_texts(got)
    assert not any("<script" in t for t in texts)
    assert any('&lt;script&gt;alert("x")&lt;/script&gt; Harbor Media &amp; co' in t for t in texts)
    # The button comes before the footer, after the content.
    kinds = [b["type"] for b in got["blocks"]]
    [at] = [i for i, b in enumerate(got["blocks"]) if "accessory" in b]
    assert got["blocks"][at]["accessory"]["url"] == report.report_url
    assert at < kinds.index("context")
    done = ledger.get(row.id)
    assert (done.status, done.attempts, done.provider_response) == (SENT, 1, "ok")
    assert fake.url not in json.dumps(dataclasses.asdict(done), default=str)


def test_slack_no_alerts_and_many_kpis_stay_in_limits():
    report = sample_report()
    kpis = [dataclasses.replace(report.kpis[0], key=f"k{i}", label=f"KPI {i}") for i in range(25)]
    payload = slack_payload(dataclasses.replace(report, alerts=[], kpis=kpis, title="T" * 300))
    assert len(payload["blocks"]) <= 50
    assert len(payload["blocks"][0]["text"]["text"]) == 150
    assert all(len(b.get("fields", [])) <= 10 for b in payload["blocks"])
    assert any("No alert rule is breached" in t for t in _mrkdwn_texts(payload))


def test_teams_delivered_once(ledger):
    report = hostile_report()
    row = plan(ledger, "teams")
    with WebhookFake("teams") as fake:
        status = post_with_retries(
            row,
            fake.url,
            encode(teams_payload(report)),
            JSON,
            ledger=ledger,
            kind="teams",
            sleep=Sleeps(),
        )
        [req] = fake.requests
    assert status == SENT
    card = req.json["attachments"][0]["content"]
    facts = {
        f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]
    }
    assert facts["Payment failure rate"].startswith(format_value(0.5454, "ratio"))
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open report", "url": report.report_url}
    ]
    assert ledger.get(row.id).status == SENT


def test_webhook_signed_and_verified(ledger):
    report = sample_report()
    row = plan(ledger, "webhook")
    body = encode(webhook_payload(report))
    with WebhookFake("webhook") as fake:
        status = post_with_retries(
            row,
            fake.url,
            body,
            signed_headers(body, SECRET),
            ledger=ledger,
            kind="webhook",
            sleep=Sleeps(),
        )
        [req] = fake.requests
    assert status == SENT
    assert req.headers["X-Reporting-Signature"].startswith("sha256=")
    got = req.json
    assert got["report"] == "daily_executive" and got["period"] == "2026-11-26"
    assert set(got["kpis"][0]) >= {"key", "label", "unit", "value", "previous", "target", "status"}
    assert got["kpis"][0]["value"] == 1_439_745.0


def test_webhook_tampered_body_rejected_for_good(ledger):
    row = plan(ledger, "webhook")
    body = encode(webhook_payload(sample_report()))
    headers = signed_headers(body, SECRET)
    with WebhookFake("webhook") as fake:
        status = post_with_retries(
            row,
            fake.url,
            body.replace(b"daily", b"DAILY"),
            headers,
            ledger=ledger,
            kind="webhook",
            sleep=Sleeps(),
        )
        assert len(fake.requests) == 1
    assert status == FAILED_PERMANENT
    assert "401 invalid_signature" in ledger.get(row.id).last_error


def test_429_honours_retry_after(ledger):
    row = plan(ledger, "slack")
    sleeps = Sleeps()
    with WebhookFake("slack") as fake:
        fake.fail_next(429, retry_after=2)
        status = post_slack(row, fake, ledger, sleeps)
        assert len(fake.requests) == 2
    assert status == SENT and sleeps == [2.0]
    assert ledger.get(row.id).attempts == 2


def test_500_then_success(ledger):
    row = plan(ledger, "teams")
    sleeps = Sleeps()
    with WebhookFake("teams") as fake:
        fake.fail_next(500)
        status = post_with_retries(
            row,
            fake.url,
            encode(teams_payload(sample_report())),
            JSON,
            ledger=ledger,
            kind="teams",
            sleep=sleeps,
        )
        assert len(fake.requests) == 2
    assert status == SENT and len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0


@pytest.mark.parametrize(
    "status,token",
    [(400, "invalid_payload"), (404, "channel_not_found"), (410, "channel_is_archived")],
)
def test_slack_permanent_errors_not_retried(ledger, status, token):
    row = plan(ledger, "slack")
    sleeps = Sleeps()
    with WebhookFake("slack") as fake:
        fake.fail_next(status)
        result = post_slack(row, fake, ledger, sleeps)
        assert len(fake.requests) == 1
    done = ledger.get(row.id)
    assert result == done.status == FAILED_PERMANENT and sleeps == []
    assert done.last_error == f"slack: HTTP {status} {token}"
    assert fake.url not in (done.last_error + (done.provider_response or ""))


def test_teams_error_code_recorded(ledger):
    row = plan(ledger, "teams")
    with WebhookFake("teams") as fake:
        fake.fail_next(404)
        result = post_with_retries(
            row, fake.url, b"{}", JSON, ledger=ledger, kind="teams", sleep=Sleeps()
        )
    assert result == FAILED_PERMANENT
    assert ledger.get(row.id).last_error == "teams: HTTP 404 WorkflowNotFound"


def test_invalid_payload_from_validation_is_permanent(ledger):
    row = plan(ledger, "slack")
    with WebhookFake("slack") as fake:
        result = post_with_retries(
            row, fake.url, b'{"blocks": []}', JSON, ledger=ledger, kind="slack", sleep=Sleeps()
        )
        assert len(fake.requests) == 1
    assert result == FAILED_PERMANENT
    assert ledger.get(row.id).last_error == "slack: HTTP 400 invalid_payload"


def test_sent_row_is_not_posted_again(ledger):
    row = plan(ledger, "slack")
    body = encode(slack_payload(sample_report()))
    with WebhookFake("slack") as fake:
        assert post_with_retries(row, fake.url, body, JSON, ledger=ledger, kind="slack") == SENT
        assert post_with_retries(row, fake.url, body, JSON, ledger=ledger, kind="slack") == SENT
        assert len(fake.requests) == 1
    assert ledger.get(row.id).attempts == 1


def test_budget_exhausted_leaves_row_pending(ledger):
    row = plan(ledger, "slack")
    sleeps = Sleeps()
    with WebhookFake("slack") as fake:
        fake.fail_next(429, retry_after=120)
        result = post_slack(row, fake, ledger, sleeps)
        assert len(fake.requests) == 1
    done = ledger.get(row.id)
    assert result == done.status == PENDING and sleeps == []
    assert "429" in done.last_error and "budget" in done.last_error


def test_connection_errors_retried_then_pending_without_url(ledger):
    row = plan(ledger, "webhook")
    sleeps = Sleeps()
    url = "http://127.0.0.1:9/hooks/secret-token-xyz"  # discard port: connection refused
    result = post_with_retries(
        row,
        url,
        b"{}",
        JSON,
        ledger=ledger,
        kind="webhook",
        max_attempts=3,
        sleep=sleeps,
        timeout=2,
    )
    done = ledger.get(row.id)
    assert result == PENDING and len(sleeps) == 2 and done.attempts == 3
    assert done.last_error == "webhook: ConnectionError"
    assert "secret-token-xyz" not in json.dumps(dataclasses.asdict(done), default=str)


def test_teams_card_with_200_long_alerts_stays_under_28kb(ledger):
    report = sample_report()
    alerts = [
        AlertRow(
            f"rule_{i}", "metric", "warning", 1.0, 0.5, "2026-11-26", f"alert {i} " + "x" * 400
        )
        for i in range(200)
    ]
    payload = teams_payload(dataclasses.replace(report, alerts=alerts))
    body = encode(payload)
    assert len(body) < TEAMS_LIMIT_BYTES
    texts = [b.get("text", "") for b in payload["attachments"][0]["content"]["body"]]
    shown = sum(t.startswith("- [warning] alert ") for t in texts)
    assert 0 < shown < 200
    assert any(f"…and {200 - shown} more alerts not shown" in t for t in texts)
    row = plan(ledger, "teams")
    with WebhookFake("teams") as fake:
        assert post_with_retries(row, fake.url, body, JSON, ledger=ledger, kind="teams") == SENT
