"""Sending a list's messages over SMTP, one ledger row at a time (see the package doc)."""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Literal

from reporting_assets.distribution.email.session import (
    Connection,
    Reply,
    SendSummary,
    SmtpConfigError,
    Transaction,
    dump_replies,
    header_addresses,
    load_replies,
    reply_text,
)
from reporting_assets.lib import retry
from reporting_assets.records.leases import Lease
from reporting_assets.records.ledger import (
    FINAL_STATUSES,
    UNKNOWN,
    Delivery,
    DeliveryLedger,
)

log = logging.getLogger(__name__)


def send_via_smtp(
    rows: Iterable[Delivery],
    build: Callable[[Delivery], EmailMessage],
    *,
    host: str,
    port: int,
    security: Literal["starttls", "tls", "none"],
    username: str | None,
    password: str | None,
    timeout: float,
    ledger: DeliveryLedger,
    retry_budget_s: float = 60,
    max_attempts: int = 5,
    sleep: Callable[[float], object] = time.sleep,
    ssl_context: ssl.SSLContext | None = None,
    envelope_from: str | None = None,
    backoff_base_s: float = 1.0,
    backoff_cap_s: float = 30.0,
    local_hostname: str | None = None,
    envelope_to: Literal["headers", "target"] = "headers",
    lease: Lease | None = None,
) -> SendSummary:
    """Send one message per ledger row over one SMTP session; see the module doc.

    `rows` is read one row at a time (e.g. `DeliveryLedger.open_rows`) and `build(row)` makes
    that row's message just before it is sent, so memory does not grow with the list. Each row
    is read again first: `sent` and `failed_permanent` rows are skipped, and `unknown` rows (in
    doubt) are never sent again here, only reported in `SendSummary.unknown`.

    `security`: ``starttls`` (upgrade, never falls back to clear text), ``tls`` (implicit TLS,
    `smtplib.SMTP_SSL`) or ``none``. The server certificate is verified with `ssl_context`
    (default: the system's trust store). With a `username`, AUTH (PLAIN or LOGIN, whichever the
    server offers) follows the TLS upgrade.

    Rows refused for now (4xx, a dropped connection before the content ended) are tried again in
    later passes over the list, `max_attempts` tries in all, waiting `sleep(d)` between passes
    with exponential backoff and jitter; all waits together stay within `retry_budget_s`, then
    the rows left stay `pending` for the next run. While the server cannot be reached, the rest
    of a pass is not tried. A permanent answer while opening the session (e.g. 535
    authentication failed) fails every remaining row for good.

    `envelope_to="target"` hands each message to its row's target address only, whatever its
    To/Cc headers say. With a `lease`, sending stops (`LeaseLost`) as soon as another run has
    taken the delivery over.
    """
    summary = SendSummary()
    conn = Connection(
        host, port, security, username, password, timeout, ssl_context, local_hostname
    )
    errors: dict[int, str] = {}  # rows to try again in the next pass, with their last error
    state = {"stop": None, "unreachable": None}

    def one(row_id: int) -> None:
        """Settle one row with one attempt: sent, refused, in doubt, or kept for a later pass."""
        if lease is not None:
            lease.check()
        row = ledger.get(row_id)
        if row.status in FINAL_STATUSES:
            summary.skipped.append(row.id)
            return
        if row.status == UNKNOWN:  # in doubt: reported, never replayed silently
            summary.unknown.append(row.id)
            return
        stop = state["stop"]
        if stop is not None:  # the session was refused for good: nothing else can be sent
            ledger.mark_failed(row.id, f"not attempted: {stop}", permanent=True)
            summary.failed_permanent.append(row.id)
            return
        if state["unreachable"] is not None:
            errors[row.id] = f"not attempted: {state['unreachable']}"
            return
        msg = build(row)
        envelope = [row.target] if envelope_to == "target" else header_addresses(msg)
        if row.target.lower() not in (a.lower() for a in envelope):
            raise ValueError(f"delivery {row.id}: target {row.target!r} is not in To/Cc")
        mid = str(msg["Message-ID"] or "")
        if not mid:
            raise ValueError(f"delivery {row.id}: the message has no Message-ID (finalize it)")
        sender = envelope_from or parseaddr(str(msg["From"] or ""))[1]
        if not sender:
            raise ValueError(f"delivery {row.id}: no envelope sender (From is empty)")
        data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        del msg  # the builder may reuse it for the next row
        target = next(a for a in envelope if a.lower() == row.target.lower())
        previous = load_replies(row.provider_response)
        replies = {a: previous[a] for a in envelope if a in previous}
        waiting = [a for a in envelope if a not in replies or replies[a].state == "open"]

        ledger.mark_attempt(row.id)
        in_doubt = False
        try:
            smtp = conn.get()
        except (SmtpConfigError, smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as e:
            ledger.mark_failed(row.id, f"SMTP configuration: {e}", permanent=False)
            if isinstance(e, SmtpConfigError):
                raise
            raise SmtpConfigError(str(e)) from e
        except smtplib.SMTPResponseException as e:  # greeting / STARTTLS / AUTH refused
            reply = Reply(e.smtp_code, reply_text(e.smtp_error), "connect")
            if reply.code is not None and reply.code >= 500:
                state["stop"] = f"SMTP session refused: {reply}"
            else:
                state["unreachable"] = f"SMTP session refused for now: {reply}"
            for a in waiting:
                replies[a] = reply
        except (smtplib.SMTPException, OSError) as e:
            state["unreachable"] = f"cannot connect: {e!r}"
            for a in waiting:
                replies[a] = Reply(None, f"cannot connect: {e!r}", "connect")
        else:
            txn = Transaction(smtp, sender, waiting, data)
            try:
                txn.run(lambda: ledger.claim(row.id, mid))
            except (smtplib.SMTPException, OSError) as e:  # dropped, timed out
                in_doubt = txn.in_doubt
                conn.drop()
                for a in waiting:
                    txn.replies[a] = Reply(None, f"connection lost: {e!r}", "data")
            else:
                if txn.closing:
                    conn.drop()
            if txn.lost_claim:  # another sender (a run that took the lease over) has it
                summary.skipped.append(row.id)
                return
            replies.update(txn.replies)

        response = dump_replies(replies)
        waiting = [a for a in envelope if replies[a].state == "open"]
        refused = [a for a in envelope if replies[a].state == "refused"]
        error = "; ".join(f"{a}: {replies[a]}" for a in waiting)
        if in_doubt:
            # The content ended and no answer came: it may have arrived. Left `unknown` (the
            # claim), with what we know, for an operator to settle.
            ledger.mark_unknown(row.id, message_id=mid, error=f"in doubt: {error}",
                                response=response)  # fmt: skip
            log.warning("delivery %s to %s in doubt (%s): not sent again", row.id, target, error)
            summary.unknown.append(row.id)
        elif not waiting or state["stop"] is not None:
            if replies[target].state == "accepted":
                note = "; ".join(f"{a}: {replies[a]}" for a in refused) or None
                ledger.mark_sent(row.id, mid, response, note=note)
                summary.sent.append(row.id)
            else:
                ledger.mark_failed(row.id, f"{target}: {replies[target]}", True, response=response)
                summary.failed_permanent.append(row.id)
        else:
            # A definite "not now" (also after the claim: the server answered): back to pending.
            ledger.mark_failed(row.id, error, permanent=False, response=response)
            errors[row.id] = error

    def one_pass(first: bool) -> None:
        """The list (first pass) or the rows refused for now; `RetryLater` while some remain."""
        if first:
            for row in rows:
                one(row.id)
        else:
            again, state["unreachable"] = list(errors), None
            errors.clear()
            for row_id in again:
                one(row_id)
        if errors:
            raise retry.RetryLater(f"{len(errors)} deliveries refused for now")

    def told(seconds: float) -> None:
        log.info("%d deliveries refused for now; trying again in %.1fs", len(errors), seconds)

    retrying = retry.policy(max_attempts=max_attempts, budget_s=retry_budget_s,
                            base=backoff_base_s, cap=backoff_cap_s, sleep=sleep,
                            on_wait=told)  # fmt: skip
    try:
        for attempt in retrying:
            with attempt:
                one_pass(first=attempt.retry_state.attempt_number == 1)
    except retry.RetryLater:
        for row_id, error in errors.items():
            if error.startswith("not attempted"):
                ledger.mark_failed(row_id, error, permanent=False)
            log.warning("delivery %s left pending: %s", row_id, error)
            summary.pending.append(row_id)
    finally:
        conn.close()
    return summary
