"""The chat and webhook payloads, rendered with the report (pure functions of a `ReportData`)
and for short notices:

* `slack_payload`   Block Kit for a Slack incoming webhook (≤50 blocks, header ≤150 chars,
                    ≤10 fields per section, mrkdwn text escaped: ``&`` ``<`` ``>``).
* `teams_payload`   the Workflows ("When a Teams webhook request is received") envelope around an
                    Adaptive Card 1.2, kept under the 28 KB message limit by dropping alerts.
* `webhook_payload` plain JSON for any receiver (distribution signs and sends it).
* `notice_payload`  an alert, failure or review notice in each channel's format.

`encode` gives the exact bytes that are posted (and signed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Literal

from reporting_assets.lib.formatting import clip, format_delta, format_value
from reporting_assets.reports.model import STATUS_WORDS, ReportData

__all__ = [
    "TEAMS_LIMIT_BYTES",
    "encode",
    "notice_payload",
    "slack_payload",
    "teams_payload",
    "webhook_payload",
]

Kind = Literal["slack", "teams", "webhook"]

SLACK_MAX_BLOCKS = 50
SLACK_HEADER_MAX = 150
SLACK_FIELDS_MAX = 10
SLACK_SECTION_TEXT_MAX = 3000
SLACK_FIELD_TEXT_MAX = 2000
SLACK_FALLBACK_MAX = 4000
TEAMS_LIMIT_BYTES = 28 * 1024  # documented message limit
TEAMS_TARGET_BYTES = 26 * 1024  # the ceiling observed to be safe in practice
TEAMS_TEXT_MAX = 1000  # any one TextBlock / fact


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes to POST (and to sign): compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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
            "text": {"type": "plain_text", "text": clip(report.title, SLACK_HEADER_MAX)},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": clip(
                    f"*{_mrkdwn(report.period_label)}*\n{_mrkdwn(report.data_through)}",
                    SLACK_SECTION_TEXT_MAX,
                ),
            },
        },
    ]
    fields = [
        {
            "type": "mrkdwn",
            "text": clip(f"*{_mrkdwn(k.label)}*\n{_mrkdwn(_kpi_text(k))}", SLACK_FIELD_TEXT_MAX),
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
        {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(_mrkdwn(context), 2000)}]}
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
        "text": clip(_mrkdwn(fallback), SLACK_FALLBACK_MAX),
        "blocks": blocks[:SLACK_MAX_BLOCKS],
    }


# -- Teams ---------------------------------------------------------------------------------------


def _text_block(text: str, **style) -> dict:
    return {"type": "TextBlock", "text": clip(text, TEAMS_TEXT_MAX), "wrap": True, **style}


def _teams_envelope(report: ReportData, shown_alerts: int) -> dict:
    body: list[dict] = [
        _text_block(report.title, size="Large", weight="Bolder"),
        _text_block(report.period_label, weight="Bolder"),
        _text_block(report.data_through, isSubtle=True, spacing="None"),
    ]
    if report.kpis:
        facts = [
            {
                "title": clip(k.label, TEAMS_TEXT_MAX),
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


def notice_payload(
    kind: Kind, title: str, body: str, severity: str, url: str | None, details: dict
) -> dict:
    """A short notice (alert, failure, review) in the channel's own format."""
    if kind == "slack":
        blocks = [
            {"type": "header",
             "text": {"type": "plain_text", "text": clip(title, SLACK_HEADER_MAX)}},
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": clip(_mrkdwn(body), SLACK_SECTION_TEXT_MAX)}},
        ]  # fmt: skip
        if url:
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": f"<{url}|Open>"}})  # fmt: skip
        return {"text": clip(_mrkdwn(f"{title}: {body}"), SLACK_FALLBACK_MAX), "blocks": blocks}
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
