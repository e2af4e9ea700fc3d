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


def status_line(report: ReportData) -> tuple[str, str]:
    """The report's status at a glance and its level ("critical", "warning" or "good"):
    "1 critical alert, 2 warnings" / "No alert rule is breached"."""
    critical = sum(a.severity == "critical" for a in report.alerts)
    warning = sum(a.severity == "warning" for a in report.alerts)
    parts = ([f"{critical} critical alert{'s' if critical != 1 else ''}"] if critical else []) + (
        [f"{warning} warning{'s' if warning != 1 else ''}"] if warning else []
    )
    level = "critical" if critical else "warning" if warning else "good"
    return (", ".join(parts) if parts else "No alert rule is breached"), level


def ask_text(ask) -> str:
    """An ask on one line: what, who, by when, the dollars at stake."""
    stake = f" · {ask.stake_text}" if ask.at_stake is not None else ""
    return f"{ask.what} — {ask.owner}, by {ask.by_words}{stake}"


SLACK_SIGNAL = {"critical": ":red_circle:", "warning": ":large_yellow_circle:",
                "good": ":large_green_circle:"}  # fmt: skip
TEAMS_COLOR = {"critical": "Attention", "warning": "Warning", "good": "Good"}


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
    """Block Kit message for a Slack incoming webhook, led by the status and the decision block;
    every mrkdwn string is escaped."""
    status, level = status_line(report)
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
                    f"{SLACK_SIGNAL[level]} *{_mrkdwn(status)}*\n"
                    f"*{_mrkdwn(report.period_label)}* · {_mrkdwn(report.data_through)}",
                    SLACK_SECTION_TEXT_MAX,
                ),
            },
        },
    ]
    decisions = report.decisions
    if decisions.takeaways:
        blocks.append(_slack_lines_section(
            "What changed", [_mrkdwn(t) for t in decisions.takeaways], "lines"))  # fmt: skip
        blocks.append(
            _slack_lines_section("What we ask", [_mrkdwn(ask_text(a)) for a in decisions.asks],
                                 "asks")
            if decisions.asks
            else {"type": "section", "text": {"type": "mrkdwn",
                                              "text": f"*What we ask*\n{decisions.no_asks}"}}
        )  # fmt: skip
    fields = [
        {
            "type": "mrkdwn",
            "text": clip(f"*{_mrkdwn(k.label)}*\n{_mrkdwn(_kpi_text(k))}", SLACK_FIELD_TEXT_MAX),
        }
        for k in report.kpis
    ]
    for start in range(0, min(len(fields), 10 * SLACK_FIELDS_MAX), SLACK_FIELDS_MAX):
        blocks.append({"type": "section", "fields": fields[start : start + SLACK_FIELDS_MAX]})
    if not decisions.takeaways and report.summary:
        blocks.append(
            _slack_lines_section("Summary", [_mrkdwn(s) for s in report.summary], "lines")
        )
    if report.alerts:
        lines = [_mrkdwn(_alert_text(a)) for a in report.alerts]
        blocks.append(_slack_lines_section(f"Alerts ({len(lines)})", lines, "alerts"))
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
    blocks.append({"type": "divider"})
    context = f"{report.branding.company_name} · generated {report.generated_at}"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(_mrkdwn(context), 2000)}]}
    )
    fallback = f"{report.title} · {report.period_label}: {status}. " + " ".join(
        decisions.takeaways or [f"{k.label} {_kpi_text(k)}." for k in report.kpis]
    )
    return {
        "text": clip(_mrkdwn(fallback), SLACK_FALLBACK_MAX),
        "blocks": blocks[:SLACK_MAX_BLOCKS],
    }


# -- Teams ---------------------------------------------------------------------------------------


def _text_block(text: str, **style) -> dict:
    return {"type": "TextBlock", "text": clip(text, TEAMS_TEXT_MAX), "wrap": True, **style}


def _teams_envelope(report: ReportData, shown_alerts: int) -> dict:
    status, level = status_line(report)
    decisions = report.decisions
    body: list[dict] = [
        _text_block(report.title, size="Large", weight="Bolder"),
        _text_block(status, weight="Bolder", color=TEAMS_COLOR[level]),
        _text_block(f"{report.period_label} · {report.data_through}", isSubtle=True,
                    spacing="None"),
    ]  # fmt: skip
    if decisions.takeaways:
        body.append(_text_block("What changed", weight="Bolder"))
        body.append(_text_block("\r".join(f"{i}. {t}" for i, t in
                                           enumerate(decisions.takeaways, start=1)),
                                spacing="Small"))  # fmt: skip
        body.append(_text_block("What we ask", weight="Bolder"))
        body.append(
            _text_block(
                "\r".join(f"- {ask_text(a)}" for a in decisions.asks)
                if decisions.asks
                else decisions.no_asks,
                spacing="Small",
            )
        )
    elif report.summary:
        body.append(_text_block("\r".join(f"- {s}" for s in report.summary)))
    if report.kpis:
        facts = [
            {
                "title": clip(k.label, TEAMS_TEXT_MAX),
                "value": f"{_kpi_text(k)} · {STATUS_WORDS.get(k.status, k.status)}",
            }
            for k in report.kpis
        ]
        body.append({"type": "FactSet", "facts": facts})
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
                "series": list(k.series),
            }
            for k in report.kpis
        ],
        "alerts": [asdict(a) for a in report.alerts],
        "summary": list(report.summary),
        "decisions": {
            "takeaways": list(report.decisions.takeaways),
            "asks": [
                {
                    **asdict(a),
                    "by": a.by.isoformat() if a.by else None,
                    "by_words": a.by_words,
                    "stake_text": a.stake_text,
                }
                for a in report.decisions.asks
            ],
        },
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
