"""Chat and webhook delivery: Slack incoming webhooks, Teams Workflows and a signed generic hook.

The payloads are rendered with the report (`reporting_assets.reports.payloads`); this module
posts them, once per ledger row.

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

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Literal

import requests

from reporting_assets.lib import retry
from reporting_assets.lib.formatting import clip
from reporting_assets.records.ledger import FAILED_PERMANENT, FINAL_STATUSES, SENT, Delivery

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "post_with_retries",
    "sign",
    "signed_headers",
]

log = logging.getLogger(__name__)

Kind = Literal["slack", "teams", "webhook"]

SIGNATURE_HEADER = "X-Reporting-Signature"
TIMESTAMP_HEADER = "X-Reporting-Timestamp"

RESPONSE_KEEP = 500  # characters of a provider response kept in the ledger


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
    return clip(text.splitlines()[0], 200) if text else (response.reason or "no body")


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
    seen: dict[str, str | None] = {"response": None}

    def once() -> str:
        """One POST: `sent` or `failed_permanent` (recorded), or `RetryLater`."""
        ledger.mark_attempt(row.id)
        try:
            response = http.post(url, data=body, headers=dict(headers), timeout=timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            seen["response"] = None
            raise retry.RetryLater(f"{kind}: {type(exc).__name__}") from None
        except requests.RequestException as exc:  # malformed URL and the like: for good
            error = f"{kind}: {type(exc).__name__}"
            log.error("%s delivery %s failed for good: %s", kind, row.id, error)
            ledger.mark_failed(row.id, error, permanent=True)
            return FAILED_PERMANENT
        status = response.status_code
        seen["response"] = clip(response.text, RESPONSE_KEEP)
        if _accepted(kind, response):
            ledger.mark_sent(row.id, None, seen["response"] or str(status))
            log.info("%s delivery %s sent (HTTP %s)", kind, row.id, status)
            return SENT
        error = f"{kind}: HTTP {status} {_error_token(kind, response)}"
        if status == 429 or status >= 500:
            wait = retry.retry_after(response.headers.get("Retry-After")) if status == 429 else None
            raise retry.RetryLater(error, retry_after=wait, status=status)
        # 4xx, or a 2xx/3xx that is not a success: permanent
        log.error("%s delivery %s refused: %s", kind, row.id, error)
        ledger.mark_failed(row.id, error, permanent=True, response=seen["response"])
        return FAILED_PERMANENT

    retrying = retry.policy(max_attempts=max_attempts, budget_s=retry_budget_s,
                            sleep=sleep)  # fmt: skip
    try:
        for attempt in retrying:
            with attempt:
                return once()
    except retry.RetryLater as exc:
        error = str(exc) + (f" ({retry.gave_up(retrying)})" if retry.over_budget(retrying) else "")
    finally:
        if session is None:
            http.close()
    log.warning("%s delivery %s left pending: %s", kind, row.id, error)
    ledger.mark_failed(row.id, error, permanent=False, response=seen["response"])
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
