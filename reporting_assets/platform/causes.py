"""Why a delivery failed, in a few words the data team can act on, from what the channel
answered (an SMTP reply such as "550 5.1.1 user unknown", an HTTP status such as
"slack: HTTP 404 no_service", or a connection error)."""

from __future__ import annotations

import re

# RFC 3463 enhanced status codes (class.subject.detail) and the basic three-digit reply.
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45]\d\d)\b")
_HTTP = re.compile(r"\bHTTP (\d{3})\b")

BOUNCE = "bounce"  # the mail system refused the message for good
REFUSED = "refused"  # a webhook refused it for good (HTTP 4xx)
TRANSIENT = "transient"  # "not now": retried, and pending until it goes or the budget runs out
OTHER = "other"

# Enhanced codes (subject.detail) with a cause of their own; a class-5 code not listed here is a
# bounce of an unnamed kind.
_SMTP_CAUSES = {
    "1.1": "unknown recipient",
    "1.0": "unknown recipient",
    "1.2": "unknown domain",
    "1.10": "recipient has no mail server",
    "2.1": "mailbox disabled",
    "2.2": "mailbox full",
    "2.3": "message too large",
    "3.4": "message too large",
    "4.4": "unroutable domain",
    "7.1": "rejected by the recipient's policy",
    "7.26": "rejected: sender not authenticated (SPF/DKIM/DMARC)",
    "7.25": "rejected: sender not authenticated (SPF/DKIM/DMARC)",
}
_BASIC_CAUSES = {
    "550": "mailbox unavailable",
    "551": "user not local",
    "552": "mailbox full",
    "553": "mailbox name not allowed",
    "554": "transaction failed",
    "421": "service not available",
    "450": "mailbox busy",
    "451": "local error at the relay",
    "452": "insufficient storage at the relay",
}
_HTTP_CAUSES = {
    400: "bad request (payload refused)",
    401: "not authorised (check the webhook secret)",
    403: "forbidden (check the webhook secret)",
    404: "webhook not found (removed or mistyped)",
    410: "webhook gone (removed)",
    413: "payload too large",
    429: "rate limited",
}


def failure_cause(text: str | None) -> tuple[str, str]:
    """(kind, cause) of a failed delivery from its error or the channel's answer: kind is
    `bounce` (SMTP 5xx), `refused` (HTTP 4xx), `transient` (SMTP 4xx, HTTP 429/5xx, timeouts,
    connection errors) or `other`; cause says why in words."""
    text = text or ""
    lowered = text.lower()
    http = _HTTP.search(text)
    if http:
        status = int(http.group(1))
        if status == 429 or status >= 500:
            return TRANSIENT, _HTTP_CAUSES.get(status, f"HTTP {status} (server error)")
        return REFUSED, _HTTP_CAUSES.get(status, f"HTTP {status}")
    enhanced = _ENHANCED.search(text)
    if enhanced:
        klass, subject, detail = enhanced.groups()
        cause = _SMTP_CAUSES.get(f"{subject}.{detail}")
        if klass == "5":
            return BOUNCE, cause or f"refused by the mail system ({enhanced.group(0)})"
        if klass == "4":
            return TRANSIENT, (cause or "temporary failure") + f" ({enhanced.group(0)}, retried)"
    basic = _SMTP_CODE.search(text)
    if basic:
        code = basic.group(1)
        kind = BOUNCE if code.startswith("5") else TRANSIENT
        return kind, _BASIC_CAUSES.get(code, f"SMTP {code}")
    if any(w in lowered for w in ("timeout", "timed out")):
        return TRANSIENT, "timed out"
    if any(w in lowered for w in ("connection", "unreachable", "refused")):
        return TRANSIENT, "could not connect"
    return OTHER, text.strip().splitlines()[0][:80] if text.strip() else "no reason recorded"
