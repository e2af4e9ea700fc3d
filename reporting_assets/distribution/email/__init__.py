"""Deliver the executive email: one message per address, built and sent one at a time.

Plain functions, no Dagster::

    base = build_message(report, charts, sender=..., to=[...], cc=[...])   # reports.email_body
    ledger.plan(report_key, period, "email", addresses)
    messages = MessageFactory(base, attachments=[pdf, xlsx], domain=..., ...)
    send_via_smtp(ledger.open_rows(report_key, period, "email"), messages.build,
                  host=..., ledger=ledger, envelope_to="target")         # or write_outbox(...)

Exactly once
------------
The ledger decides what is sent, and it is written in this order for every message:

1. Before each message the row is read again: a `sent` or `failed_permanent` row is never sent
   again (only `DeliveryLedger.request_resend` makes a new, separately numbered row), and an
   `unknown` row is in doubt and is not sent again either.
2. The server accepts the recipients (RCPT) and the content (DATA) up to, not including, its
   terminating ``CRLF . CRLF``. Then the row is *claimed*: committed as `unknown` only if it is
   still `pending` (`DeliveryLedger.claim`, a compare-and-set, so of two senders only one gets
   it). Then the terminator goes out.
3. As soon as the server answers the terminator, the row is committed: `sent` (with the
   Message-ID and the reply) on 250, back to `pending` on 4xx, `failed_permanent` on 5xx.

A sender killed or cut off before the terminator leaves nothing at the server (it discards an
unfinished message). A sender killed or cut off *between the terminator and the reply* cannot
know whether the server kept the message: the row stays `unknown`, in doubt. It is **never
replayed silently**: the delivery run reports it to the data team, and an operator settles it
with ``reporting resolve ID delivered`` (the relay's log shows its Message-ID) or ``reporting
resolve ID resend`` (an explicit, recorded generation with its own Message-ID). The window of
doubt is one round trip and its commit, and it never costs a duplicate.

Recipients are judged one by one (RFC 5321 / wire-formats README §4): 2xx is delivered, 4xx and
dropped connections or timeouts before the terminator are transient (retried in later passes over
the list with exponential backoff and jitter within the retry budget, then left `pending` with
``last_error``), 5xx is permanent (`failed_permanent`, never retried; 552 to RCPT means "too many
recipients" and is transient). Each message goes to its To and Cc addresses; every address's
last reply is kept as JSON in ``provider_response``, so a retry, in the same run or the next, goes
only to the addresses that have not been answered for good. The row follows its target (the To
address): `sent` once the target has the message and no Cc address is still waiting; Cc addresses
refused for good are noted in ``last_error``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from email.message import EmailMessage

from reporting_assets.config import resolve
from reporting_assets.distribution.email.message import (
    ATTACHMENT_TYPES,
    Finalized,
    MessageFactory,
    encoded_size,
    finalize_message,
    message_id,
    message_id_for,
    notice_message,
)
from reporting_assets.distribution.email.outbox import outbox_path, write_outbox
from reporting_assets.distribution.email.session import SendSummary, SmtpConfigError
from reporting_assets.distribution.email.smtp import send_via_smtp
from reporting_assets.records.leases import Lease
from reporting_assets.records.ledger import Delivery, DeliveryLedger

__all__ = [
    "ATTACHMENT_TYPES",
    "Finalized",
    "MessageFactory",
    "SendSummary",
    "SmtpConfigError",
    "dispatch",
    "encoded_size",
    "finalize_message",
    "message_id",
    "message_id_for",
    "notice_message",
    "outbox_path",
    "send_via_smtp",
    "write_outbox",
]


def dispatch(
    rows: Iterable[Delivery],
    build: Callable[[Delivery], EmailMessage],
    channel,
    ledger: DeliveryLedger,
    *,
    retry_budget_s: float | None = None,
    lease: Lease | None = None,
) -> SendSummary:
    """Send each row's message the way the email channel is configured: `.eml` files in the
    outbox (the demo) or over SMTP, each envelope to its ledger row's address only, with the
    channel's retry budget and backoff (`retry_budget_s` overrides the budget)."""
    if channel.mode == "outbox":
        return write_outbox(rows, build, resolve(channel.outbox_dir), ledger)
    return send_via_smtp(
        rows,
        build,
        host=channel.host,
        port=channel.port,
        security=channel.security,
        username=os.environ.get(channel.username_env or "") or None,
        password=os.environ.get(channel.password_env or "") or None,
        timeout=channel.timeout_s,
        ledger=ledger,
        envelope_to="target",
        retry_budget_s=channel.retry_budget_s if retry_budget_s is None else retry_budget_s,
        max_attempts=channel.max_attempts,
        backoff_base_s=channel.backoff_base_s,
        backoff_cap_s=channel.backoff_cap_s,
        lease=lease,
    )
