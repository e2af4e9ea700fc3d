"""Chat and webhook delivery: Slack incoming webhooks, Teams Workflows and a signed generic hook.

Payload builders (pure functions of a `ReportData`):

* `slack_payload`   Block Kit for a Slack incoming webhook (≤50 blocks, header ≤150 chars,
                    ≤10 fields per section, mrkdwn text escaped: ``&`` ``<`` ``>``).
* `teams_payload`   the Workflows ("When a Teams webhook request is received") envelope around an
                    Adaptive Card 1.2, kept under the 28 KB message limit by dropping alerts.
* `webhook_payload` plain JSON for any receiver, sent with `signed_headers`.

Signing of the generic webhook::

    X-Reporting-Timestamp: <unix seconds>
    X-Reporting-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>

The receiver recomputes the HMAC over the timestamp header, a ``.`` and the raw body bytes, compares
in constant time, and should reject timestamps far from its clock (replay protection).

`post_with_retries` delivers one ledger row. Webhook URLs carry their credential, so the URL is
never logged nor stored: the ledger only records the channel kind, status codes and the
provider's error token.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any, Literal

import requests

from reporting_assets.distribution.ledger import FAILED_PERMANENT, FINAL_STATUSES, SENT, Delivery
from reporting_assets.reports.formatting import format_delta, format_value
from reporting_assets.reports.model import STATUS_WORDS, ReportData

__all__ = [
    "SIGNATURE_HEADER",
    "TEAMS_LIMIT_BYTES",
    "TIMESTAMP_HEADER",
    "encode",
    "post_with_retries",
    "sign",
    "signed_headers",
    "slack_payload",
    "teams_payload",
    "webhook_payload",
]

log = logging.getLogger(__name__)

Kind = Literal["slack", "teams", "webhook"]

SIGNATURE_HEADER = "X-Reporting-Signature"
TIMESTAMP_HEADER = "X-Reporting-Timestamp"

SLACK_MAX_BLOCKS = 50
SLACK_HEADER_MAX = 150
SLACK_FIELDS_MAX = 10
SLACK_SECTION_TEXT_MAX = 3000
SLACK_FIELD_TEXT_MAX = 2000
SLACK_FALLBACK_MAX = 4000
TEAMS_LIMIT_BYTES = 28 * 1024  # documented message limit
TEAMS_TARGET_BYTES = 26 * 1024  # the ceiling observed to be safe in practice
TEAMS_TEXT_MAX = 1000  # any one TextBlock / fact

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
RESPONSE_KEEP = 500  # characters of a provider response kept in the ledger


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes to POST (and to sign): compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _kpi_text(kpi) -> str:
    return f"{format_value(kpi.value, kpi.unit)} ({format_delta(kpi.delta, kpi.unit)})"


def _alert_text(alert) -> str:
    return f"[{alert.severity}] {alert.message}"


# -- Slack ---------------------------------------------------------------------------------------


def _slack_lines_section(title: str, lines: list[str], noun: str) -> dict:
    """A mrkdwn section listing `lines` (already escaped) within the 3,000-character limit."""
    text = f"*{title}*"
    for i, line in enumerate(lines):
        more = f"\n…and {len(lines) - i} more {noun} not shown"
        candidate = f"{text}\n• {line}"
        rest_fits = i == len(lines) - 1 or len(candidate) + len(more) <= SLACK_SECTION_TEXT_MAX
        if len(candidate) > SLACK_SECTION_TEXT_MAX or not rest_fits:
            text += more
            break
        text = candidate
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_payload(report: ReportData) -> dict:
    """Block Kit message for a Slack incoming webhook; every mrkdwn string is escaped."""
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(report.title, SLACK_HEADER_MAX)},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _clip(
                    f"*{_mrkdwn(report.period_label)}*\n{_mrkdwn(report.data_through)}",
                    SLACK_SECTION_TEXT_MAX,
                ),
            },
        },
    ]
    fields = [
        {
            "type": "mrkdwn",
            "text": _clip(f"*{_mrkdwn(k.label)}*\n{_mrkdwn(_kpi_text(k))}", SLACK_FIELD_TEXT_MAX),
        }
        for k in report.kpis
    ]
    for start in range(0, min(len(fields), 10 * SLACK_FIELDS_MAX), SLACK_FIELDS_MAX):
        blocks.append({"type": "section", "fields": fields[start : start + SLACK_FIELDS_MAX]})
    if report.summary:
        blocks.append(
            _slack_lines_section("Summary", [_mrkdwn(s) for s in report.summary], "lines")
        )
    if report.alerts:
        lines = [_mrkdwn(_alert_text(a)) for a in report.alerts]
        blocks.append(_slack_lines_section(f"Alerts ({len(lines)})", lines, "alerts"))
    else:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "No alert rule is breached."}}
        )
    blocks.append({"type": "divider"})
    context = f"{report.branding.company_name} · generated {report.generated_at}"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(_mrkdwn(context), 2000)}]}
    )
    if report.report_url:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "The full report, with tables and charts."},
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open report"},
                    "url": report.report_url,
                    "action_id": "open_report",
                },
            }
        )
    fallback = f"{report.title} · {report.period_label}: " + "; ".join(
        f"{k.label} {_kpi_text(k)}" for k in report.kpis
    )
    return {
        "text": _clip(_mrkdwn(fallback), SLACK_FALLBACK_MAX),
        "blocks": blocks[:SLACK_MAX_BLOCKS],
    }


# -- Teams ---------------------------------------------------------------------------------------


def _text_block(text: str, **style) -> dict:
    return {"type": "TextBlock", "text": _clip(text, TEAMS_TEXT_MAX), "wrap": True, **style}


def _teams_envelope(report: ReportData, shown_alerts: int) -> dict:
    body: list[dict] = [
        _text_block(report.title, size="Large", weight="Bolder"),
        _text_block(report.period_label, weight="Bolder"),
        _text_block(report.data_through, isSubtle=True, spacing="None"),
    ]
    if report.kpis:
        facts = [
            {
                "title": _clip(k.label, TEAMS_TEXT_MAX),
                "value": f"{_kpi_text(k)} · {STATUS_WORDS.get(k.status, k.status)}",
            }
            for k in report.kpis
        ]
        body.append({"type": "FactSet", "facts": facts})
    body.extend(_text_block(s) for s in report.summary)
    if report.alerts:
        body.append(_text_block(f"Alerts ({len(report.alerts)})", weight="Bolder"))
        body.extend(
            _text_block(f"- {_alert_text(a)}", spacing="Small")
            for a in report.alerts[:shown_alerts]
        )
        left_out = len(report.alerts) - shown_alerts
        if left_out:
            body.append(
                _text_block(
                    f"…and {left_out} more alerts not shown; see the full report.", isSubtle=True
                )
            )
    else:
        body.append(_text_block("No alert rule is breached."))
    body.append(
        _text_block(
            f"{report.branding.company_name} · generated {report.generated_at}",
            isSubtle=True,
            size="Small",
        )
    )
    card: dict = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": body,
    }
    if report.report_url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open report", "url": report.report_url}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def teams_payload(report: ReportData) -> dict:
    """Adaptive Card in the Workflows envelope, under 28 KB (alerts dropped from the end)."""
    lo, hi = 0, len(report.alerts)
    if len(encode(_teams_envelope(report, hi))) > TEAMS_TARGET_BYTES:
        while lo < hi:  # the largest number of alerts that fits
            mid = (lo + hi + 1) // 2
            if len(encode(_teams_envelope(report, mid))) <= TEAMS_TARGET_BYTES:
                lo = mid
            else:
                hi = mid - 1
    payload = _teams_envelope(report, hi)
    size = len(encode(payload))
    assert size < TEAMS_LIMIT_BYTES, f"Teams card is {size} bytes, over the 28 KB limit"
    return payload


# -- generic webhook -----------------------------------------------------------------------------


def webhook_payload(report: ReportData) -> dict:
    """Plain JSON for a generic receiver (numbers raw, plus their display strings)."""
    return {
        "report": report.report_key,
        "period": report.period_key,
        "period_label": report.period_label,
        "data_through": report.data_through,
        "generated_at": report.generated_at,
        "title": report.title,
        "kpis": [
            {
                "key": k.key,
                "label": k.label,
                "unit": k.unit,
                "value": k.value,
                "previous": k.previous,
                "target": k.target,
                "status": k.status,
                "display": format_value(k.value, k.unit),
            }
            for k in report.kpis
        ],
        "alerts": [asdict(a) for a in report.alerts],
        "summary": list(report.summary),
        "report_url": report.report_url,
    }


def sign(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of `body` under `secret`."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers for the generic webhook: the signature covers ``f"{timestamp}."`` + body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: "sha256=" + sign(ts.encode("ascii") + b"." + body, secret),
    }


# -- delivery ------------------------------------------------------------------------------------


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_token(kind: Kind, response: requests.Response) -> str:
    """The provider's error: Slack's bare token, the Azure/JSON error code, else the body start."""
    text = response.text.strip()
    if kind != "slack":
        try:
            error = json.loads(text).get("error")
        except (ValueError, AttributeError):
            error = None
        if isinstance(error, dict) and error.get("code"):
            return str(error["code"])
        if isinstance(error, str) and error:
            return error
    return _clip(text.splitlines()[0], 200) if text else (response.reason or "no body")


def _accepted(kind: Kind, response: requests.Response) -> bool:
    if kind == "slack":
        return response.status_code == 200 and response.text.strip() == "ok"
    return 200 <= response.status_code < 300


def post_with_retries(
    row: Delivery,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    ledger,
    kind: Kind,
    session: requests.Session | None = None,
    timeout: float = 10,
    max_attempts: int = 5,
    retry_budget_s: float = 60,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """POST `body` to `url` for one ledger row; return the row's final status.

    * a row already `sent` or `failed_permanent` is left alone (no request);
    * 2xx → `sent` (Slack must also answer ``ok``), keeping the response text;
    * 429 → wait Retry-After seconds; 5xx, timeouts, connection errors → exponential backoff with
      jitter; both only while the waits fit in `retry_budget_s` and attempts in `max_attempts`;
    * any other status → `failed_permanent` with the provider's error token;
    * retries exhausted → `mark_failed(permanent=False)`: the row stays `pending` for a later run.

    `retry_budget_s` bounds the total time spent waiting between attempts. The URL is a secret:
    it never reaches the log or the ledger (request exceptions are recorded by type only).
    """
    current = ledger.get(row.id)
    if current.status in FINAL_STATUSES:
        return current.status
    http = session or requests.Session()
    waited = 0.0
    last_error = "no attempt made"
    last_response: str | None = None
    try:
        for attempt in range(max_attempts):
            ledger.mark_attempt(row.id)
            wait: float | None = None
            try:
                response = http.post(url, data=body, headers=dict(headers), timeout=timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_error = f"{kind}: {type(exc).__name__}"
                last_response = None
            except requests.RequestException as exc:  # malformed URL and the like: for good
                error = f"{kind}: {type(exc).__name__}"
                log.error("%s delivery %s failed for good: %s", kind, row.id, error)
                ledger.mark_failed(row.id, error, permanent=True)
                return FAILED_PERMANENT
            else:
                status = response.status_code
                last_response = _clip(response.text, RESPONSE_KEEP)
                if _accepted(kind, response):
                    ledger.mark_sent(row.id, None, last_response or str(status))
                    log.info("%s delivery %s sent (HTTP %s)", kind, row.id, status)
                    return SENT
                token = _error_token(kind, response)
                last_error = f"{kind}: HTTP {status} {token}"
                if status == 429:
                    wait = _retry_after(response.headers.get("Retry-After"))
                elif status < 500:  # 4xx, or a 2xx/3xx that is not a success: permanent
                    log.error("%s delivery %s refused: %s", kind, row.id, last_error)
                    ledger.mark_failed(row.id, last_error, permanent=True, response=last_response)
                    return FAILED_PERMANENT
            if attempt == max_attempts - 1:
                break
            if wait is None:
                wait = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)
            if waited + wait > retry_budget_s:
                last_error += f" (next wait {wait:.0f}s exceeds the retry budget)"
                break
            log.warning("%s delivery %s: %s; retrying in %.1fs", kind, row.id, last_error, wait)
            sleep(wait)
            waited += wait
    finally:
        if session is None:
            http.close()
    log.warning("%s delivery %s left pending: %s", kind, row.id, last_error)
    ledger.mark_failed(row.id, last_error, permanent=False, response=last_response)
    return ledger.get(row.id).status


class ChannelConfigError(RuntimeError):
    """A chat or webhook channel is enabled but its URL (or signing secret) is not set."""


def hook_url(kind: Kind, channel) -> str:
    """The channel's URL from its environment variable (the URL is its credential)."""
    url = os.environ.get(channel.url_env, "").strip()
    if not url:
        raise ChannelConfigError(
            f"channels.{kind} is enabled but the environment variable {channel.url_env} (its "
            "webhook URL) is not set: set it, or set channels.{kind}.enabled to false"
        )
    return url


def hook_headers(kind: Kind, channel, body: bytes) -> dict[str, str]:
    """Content type, plus the HMAC signature for the generic webhook."""
    if kind != "webhook" or not channel.signing_secret_env:
        return {"Content-Type": "application/json"}
    secret = os.environ.get(channel.signing_secret_env, "")
    if not secret:
        raise ChannelConfigError(
            f"channels.webhook signs its requests but {channel.signing_secret_env} is not set"
        )
    return signed_headers(body, secret)


def deliver_to_hook(kind: Kind, row: Delivery, body: bytes, channel, ledger, **retry) -> str:
    """POST `body` for one ledger row to the configured channel; return the row's status."""
    url = hook_url(kind, channel)
    return post_with_retries(
        row, url, body, hook_headers(kind, channel, body), ledger=ledger, kind=kind, **retry
    )


def notice_payload(
    kind: Kind, title: str, body: str, severity: str, url: str | None, details: dict
) -> dict:
    """A short notice (alert, failure, review) in the channel's own format."""
    if kind == "slack":
        blocks = [
            {"type": "header",
             "text": {"type": "plain_text", "text": _clip(title, SLACK_HEADER_MAX)}},
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": _clip(_mrkdwn(body), SLACK_SECTION_TEXT_MAX)}},
        ]  # fmt: skip
        if url:
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": f"<{url}|Open>"}})  # fmt: skip
        return {"text": _clip(_mrkdwn(f"{title}: {body}"), SLACK_FALLBACK_MAX), "blocks": blocks}
    if kind == "teams":
        card: dict = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.2",
            "body": [
                _text_block(title, size="Large", weight="Bolder",
                            color="Attention" if severity == "critical" else "Default"),
                _text_block(body),
            ],
        }  # fmt: skip
        if url:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": url}]
        return {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
             "content": card}]}  # fmt: skip
    return {"title": title, "body": body, "severity": severity, "url": url, **details}
