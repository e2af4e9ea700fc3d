"""Deliver the executive email: finalize one copy per primary recipient, then send or file it.

Plain functions, no Dagster::

    base = build_message(report, charts, sender=..., to=[...], cc=[...])   # reports.email_body
    rows = ledger.plan(report_key, period, "email", recipients)
    for row in rows:
        final = finalize_message(base, to=row.target, cc=cc,
                                 message_id=message_id_for(row, domain), ...)
    send_via_smtp([(row, final.message), ...], host=..., ledger=ledger)  # or write_outbox(...)

Exactly once
------------
The ledger decides what is sent, and it is written in this order for every message:

1. Before each message the row is read again: a `sent` or `failed_permanent` row is never sent
   again (only `DeliveryLedger.request_resend` makes a new, separately numbered row).
2. After the server has accepted the recipients (RCPT) and right before the content (DATA), the
   row is committed as `unknown`.
3. As soon as the server answers 250 to the content, the row is committed as `sent`, with the
   Message-ID and the server's reply, before the next message is started.

So a sender killed *between* recipients (after a 250 and its commit) never repeats a recipient on
the next run: each recipient ends with exactly one message. A sender killed *during* the hand-over
(between step 2 and step 3) leaves the row `unknown`; whether the server kept that message cannot
be known from our side, so by default (``resend_unknown=True``) the next run sends it again with
the *same* deterministic Message-ID, which lets the receiving side recognise and drop the copy
(Message-ID based de-duplication). Pass ``resend_unknown=False`` to only report such rows (they
are returned in `SendSummary.unknown` and stay listed by `DeliveryLedger.pending_targets`).
The window of a possible duplicate is therefore one DATA exchange and its commit; nothing else.

Recipients are judged one by one (RFC 5321 / wire-formats README §4): 2xx is delivered, 4xx and
dropped connections or timeouts are transient (retried with exponential backoff and jitter within
the retry budget, then left `pending` with ``last_error``), 5xx is permanent (`failed_permanent`,
never retried; 552 to RCPT means "too many recipients" and is transient). Each message goes to its
To and Cc addresses; every address's last reply is kept as JSON in ``provider_response``, so a
retry, in the same run or the next, goes only to the addresses that have not been answered for
good. The row follows its target (the To address): `sent` once the target has the message and no
Cc address is still waiting; Cc addresses refused for good are noted in ``last_error``.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import logging
import math
import mimetypes
import os
import random
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import quote

from reporting_assets.config import resolve
from reporting_assets.distribution.ledger import (
    FINAL_STATUSES,
    UNKNOWN,
    Delivery,
    DeliveryLedger,
)

__all__ = [
    "ATTACHMENT_TYPES",
    "Finalized",
    "SendSummary",
    "SmtpConfigError",
    "encoded_size",
    "finalize_message",
    "message_id",
    "message_id_for",
    "outbox_path",
    "send_via_smtp",
    "write_outbox",
]

log = logging.getLogger(__name__)

ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TRANSIENT_CODES = frozenset({421, 450, 451, 452, 454})
_TRANSIENT_RCPT_CODES = frozenset({552})  # RCPT 552 = too many recipients (RFC 5321 4.5.3.1.10)
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


# -- Message-ID ------------------------------------------------------------------------------


def message_id(report: str, period: str, recipient: str, domain: str, generation: int = 0) -> str:
    """A deterministic Message-ID: ``<sha256(report|period|recipient)[:32]@domain>``.

    The same report, period and recipient always give the same id, so a copy sent again after a
    crash can be recognised by the receiver. A resend (generation n > 0) is a new message on
    purpose and gets the suffix ``.resend<n>``.
    """
    domain = domain.strip().lower()
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a domain for a Message-ID: {domain!r}")
    if generation < 0:
        raise ValueError("generation must be >= 0")
    key = f"{report}|{period}|{recipient.strip().lower()}"
    local = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    if generation:
        local += f".resend{generation}"
    return f"<{local}@{domain}>"


def message_id_for(row: Delivery, domain: str) -> str:
    """`message_id` of a ledger row (its report, period, target and generation)."""
    return message_id(row.report, row.period, row.target, domain, row.generation)


# -- finalize --------------------------------------------------------------------------------


class Finalized(NamedTuple):
    """A message ready to send, and what happened to each requested attachment."""

    message: EmailMessage
    attached: list[Path]
    linked: list[Path]  # too large to attach: a download link sentence is in the body instead


def encoded_size(n: int) -> int:
    """Bytes that `n` bytes take in a base64 MIME part: ceil(n/3)*4, plus CRLF every 76 chars."""
    chars = 4 * math.ceil(n / 3)
    return chars + 2 * math.ceil(chars / 76)


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


def _attachment_part(path: Path, data: bytes) -> MIMEPart:
    ctype = ATTACHMENT_TYPES.get(path.suffix.lower())
    if ctype is None:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    maintype, subtype = ctype.split("/", 1)
    part = MIMEPart()  # not EmailMessage: no MIME-Version header on sub-parts
    part.set_content(
        data, maintype=maintype, subtype=subtype, filename=path.name, disposition="attachment"
    )
    return part


def _body_part(msg: EmailMessage, subtype: str) -> MIMEPart | None:
    for part in msg.walk():
        if part.get_content_type() == f"text/{subtype}" and part.get_content_disposition() is None:
            return part
    return None


def _replace_text(part: MIMEPart, text: str, subtype: str) -> None:
    part.set_content(text, subtype=subtype, cte="quoted-printable")
    del part["MIME-Version"]  # set_content on a parsed EmailMessage part would add one


def _add_link_notes(msg: EmailMessage, linked: list[tuple[Path, int]], link_base: str) -> None:
    """Say in both body parts which files were too large, with a link to each."""
    base = link_base.rstrip("/")
    notes = [(p.name, size, f"{base}/{quote(p.name)}") for p, size in linked]
    plain = _body_part(msg, "plain")
    if plain is not None:
        lines = [
            f"The attachment {name} ({_human(size)}) was too large to attach to this email; "
            f"download it here: {url}"
            for name, size, url in notes
        ]
        text = plain.get_content().rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
        _replace_text(plain, text, "plain")
    rich = _body_part(msg, "html")
    if rich is not None:
        paragraphs = "".join(
            '<p style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#374151;'
            'margin:16px auto;max-width:600px;">'
            f"The attachment <strong>{html.escape(name)}</strong> ({_human(size)}) was too large "
            f'to attach to this email: <a href="{html.escape(url)}">download it here</a>.</p>'
            for name, size, url in notes
        )
        content = rich.get_content()
        at = content.lower().rfind("</body>")
        content = content + paragraphs if at < 0 else content[:at] + paragraphs + content[at:]
        _replace_text(rich, content, "html")
    if plain is None and rich is None:
        raise ValueError("the message has no text or HTML part to put the download links in")


def finalize_message(
    base: EmailMessage,
    *,
    to: str,
    cc: Sequence[str],
    message_id: str,
    list_unsubscribe_url: str,
    attachments: Sequence[Path],
    max_attachment_bytes: int,
    link_base: str,
    date: datetime | None = None,
) -> Finalized:
    """A copy of `base` (the ``multipart/related`` body) for one primary recipient.

    Sets To (`to` only) and Cc, Message-ID, Date, ``Auto-Submitted: auto-generated``,
    ``List-Unsubscribe: <url>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, then
    wraps the body in ``multipart/mixed`` and attaches the files in order (PDF and XLSX with
    their proper types). A file whose base64 size (`encoded_size`) would take the attachments
    over `max_attachment_bytes` is not attached; a sentence linking to ``{link_base}/{name}`` is
    added to both the text and the HTML part instead, so nothing disappears silently.
    `base` itself is not modified.
    """
    if base.get_content_type() == "multipart/mixed":
        raise ValueError("finalize_message expects the body (multipart/related), not a mixed one")
    msg = copy.deepcopy(base)
    for name in (
        "To",
        "Cc",
        "Bcc",
        "Message-ID",
        "Date",
        "Auto-Submitted",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        del msg[name]
    msg["To"] = to
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Auto-Submitted"] = "auto-generated"
    msg["List-Unsubscribe"] = f"<{list_unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    parts: list[MIMEPart] = []
    attached: list[Path] = []
    linked: list[tuple[Path, int]] = []
    used = 0
    for path in map(Path, attachments):
        data = path.read_bytes()
        size = encoded_size(len(data))
        if used + size <= max_attachment_bytes:
            used += size
            parts.append(_attachment_part(path, data))
            attached.append(path)
        else:
            log.warning("%s (%d bytes) too large to attach; linking it instead", path, len(data))
            linked.append((path, len(data)))
    if linked:
        _add_link_notes(msg, linked, link_base)
    msg.make_mixed()  # the related body becomes the first part of multipart/mixed
    for part in parts:
        msg.attach(part)
    return Finalized(msg, attached, [p for p, _ in linked])


# -- sending ---------------------------------------------------------------------------------


@dataclass
class SendSummary:
    """Ledger row ids by outcome of one `send_via_smtp` / `write_outbox` call."""

    sent: list[int] = field(default_factory=list)
    failed_permanent: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)  # transient failure, retried next run
    unknown: list[int] = field(default_factory=list)  # lost track during DATA (see module doc)
    skipped: list[int] = field(default_factory=list)  # already sent or failed for good

    @property
    def complete(self) -> bool:
        return not (self.pending or self.unknown)


class SmtpConfigError(RuntimeError):
    """The SMTP settings cannot work (no STARTTLS offered, certificate not trusted, no AUTH):
    retrying would not help and sending without protection is not an option."""


@dataclass(frozen=True)
class _Reply:
    code: int | None  # None: no reply (connection lost or refused)
    text: str
    stage: str  # connect | mail | rcpt | data

    @property
    def state(self) -> Literal["accepted", "refused", "open"]:
        code = self.code
        if code is None:
            return "open"
        if 200 <= code < 300:
            return "accepted" if self.stage == "data" else "open"
        if code >= 500 and not (self.stage == "rcpt" and code in _TRANSIENT_RCPT_CODES):
            return "refused"
        return "open"

    def __str__(self) -> str:
        return f"{self.code} {self.text}" if self.code is not None else self.text


def _load_replies(response: str | None) -> dict[str, _Reply]:
    """Replies kept in provider_response by an earlier run (other formats: nothing known)."""
    try:
        data = json.loads(response or "")
        return {
            addr: _Reply(r["code"], r["reply"], r["stage"])
            for addr, r in data["recipients"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def _dump_replies(replies: dict[str, _Reply]) -> str:
    return json.dumps(
        {
            "recipients": {
                a: {"code": r.code, "reply": r.text, "stage": r.stage} for a, r in replies.items()
            }
        },
        ensure_ascii=False,
    )


def _envelope(msg: EmailMessage) -> list[str]:
    """The To and Cc addresses, each once (case-insensitively), in header order."""
    values = [str(v) for name in ("To", "Cc") for v in (msg.get_all(name) or [])]
    seen: dict[str, str] = {}
    for _, addr in getaddresses(values):
        if addr and addr.lower() not in seen:
            seen[addr.lower()] = addr
    return list(seen.values())


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _Transaction:
    """One MAIL / RCPT… / DATA exchange on an open connection."""

    def __init__(self, smtp: smtplib.SMTP, sender: str, rcpts: list[str], data: bytes):
        self.smtp, self.sender, self.rcpts, self.data = smtp, sender, rcpts, data
        self.replies: dict[str, _Reply] = {}
        self.data_started = False  # the content is on its way: the outcome may be in doubt
        self.closing = False  # the connection must not be used again

    def _all(self, code: int, text: str, stage: str) -> None:
        for r in self.rcpts:
            self.replies[r] = _Reply(code, text, stage)

    def _rset(self) -> None:
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.closing = True

    def run(self, before_data: Callable[[], None]) -> None:
        code, text = self.smtp.mail(self.sender)
        if not 200 <= code < 300:
            self._all(code, _text(text), "mail")
            self.closing = code == 421
            if not self.closing:
                self._rset()
            return
        accepted = []
        for rcpt in self.rcpts:
            code, text = self.smtp.rcpt(rcpt)
            if code == 421:  # the server is closing the channel: nothing more on this one
                self._all(code, _text(text), "rcpt")
                self.closing = True
                return
            self.replies[rcpt] = _Reply(code, _text(text), "rcpt")
            if 200 <= code < 300:
                accepted.append(rcpt)
        if not accepted:
            self._rset()
            return
        before_data()
        self.data_started = True
        try:
            code, text = self.smtp.data(self.data)
        except smtplib.SMTPDataError as e:  # DATA itself refused: the content was not sent
            self.data_started = False
            code, text = e.smtp_code, e.smtp_error
        for rcpt in accepted:
            self.replies[rcpt] = _Reply(code, _text(text), "data")
        if code == 421:
            self.closing = True
        elif not 200 <= code < 300:
            self._rset()


class _Connection:
    """One SMTP session, opened on demand and reopened after it drops."""

    def __init__(self, host, port, security, username, password, timeout, context, local_hostname):
        if security not in ("starttls", "tls", "none"):
            raise ValueError(f"security must be starttls, tls or none, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.context = context or ssl.create_default_context()
        self.local_hostname = local_hostname
        self.smtp: smtplib.SMTP | None = None

    def get(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.smtp = self._open()
        return self.smtp

    def _open(self) -> smtplib.SMTP:
        kw = dict(timeout=self.timeout, local_hostname=self.local_hostname)
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, context=self.context, **kw)
        else:
            smtp = smtplib.SMTP(self.host, self.port, **kw)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise SmtpConfigError(
                        f"{self.host}:{self.port} does not offer STARTTLS; not sending in clear"
                    )
                smtp.starttls(context=self.context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            self._close(smtp, polite=False)
            raise
        return smtp

    @staticmethod
    def _close(smtp: smtplib.SMTP, polite: bool) -> None:
        try:
            if polite:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()

    def drop(self) -> None:
        if self.smtp is not None:
            self._close(self.smtp, polite=False)
            self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            self._close(self.smtp, polite=True)
            self.smtp = None


def _backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with ("equal") jitter: between half and all of base * 2^(n-1)."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def send_via_smtp(
    messages: Sequence[tuple[Delivery, EmailMessage]],
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
    resend_unknown: bool = True,
    backoff_base_s: float = 1.0,
    backoff_cap_s: float = 30.0,
    local_hostname: str | None = None,
    envelope_to: Literal["headers", "target"] = "headers",
) -> SendSummary:
    """Send each (ledger row, finalized message) pair over one SMTP session; see the module doc.

    `security`: ``starttls`` (upgrade, never falls back to clear text), ``tls`` (implicit TLS,
    `smtplib.SMTP_SSL`) or ``none``. The server certificate is verified with `ssl_context`
    (default: the system's trust store). With a `username`, AUTH (PLAIN or LOGIN, whichever the
    server offers) follows the TLS upgrade.

    Transient failures are retried up to `max_attempts` per message, waiting `sleep(d)` with
    exponential backoff and jitter; all waits of this call together stay within
    `retry_budget_s`. A permanent answer while opening the session (e.g. 535 authentication
    failed) fails every remaining row for good; an unreachable server, once the budget is spent,
    leaves the remaining rows `pending` without further tries.

    `envelope_to="target"` hands each message to its row's target address only, whatever its
    To/Cc headers say: with one row per address (To and Cc alike) every reader sees the whole
    distribution in the headers and still receives exactly one copy.
    """

    def envelope_of(row: Delivery, msg: EmailMessage) -> list[str]:
        return [row.target] if envelope_to == "target" else _envelope(msg)

    for row, msg in messages:
        addresses = [a.lower() for a in envelope_of(row, msg)]
        if row.target.lower() not in addresses:
            raise ValueError(f"delivery {row.id}: target {row.target!r} is not in To/Cc")
        if not msg["Message-ID"]:
            raise ValueError(f"delivery {row.id}: the message has no Message-ID (finalize it)")

    summary = SendSummary()
    conn = _Connection(
        host, port, security, username, password, timeout, ssl_context, local_hostname
    )
    waited = 0.0
    stop: tuple[str, bool] | None = None  # (reason, permanent): rows left are not tried

    def outcome(row_id: int, status: str) -> None:
        getattr(summary, status).append(row_id)

    try:
        for row, msg in messages:
            current = ledger.get(row.id)
            if current.status in FINAL_STATUSES:
                summary.skipped.append(row.id)
                continue
            if current.status == UNKNOWN and not resend_unknown:
                summary.unknown.append(row.id)
                continue
            if stop is not None:
                ledger.mark_failed(row.id, f"not attempted: {stop[0]}", permanent=stop[1])
                outcome(row.id, "failed_permanent" if stop[1] else "pending")
                continue

            mid = str(msg["Message-ID"])
            sender = envelope_from or parseaddr(str(msg["From"] or ""))[1]
            if not sender:
                raise ValueError(f"delivery {row.id}: no envelope sender (From is empty)")
            data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
            envelope = envelope_of(row, msg)
            target = next(a for a in envelope if a.lower() == row.target.lower())
            previous = _load_replies(current.provider_response)
            replies = {a: previous[a] for a in envelope if a in previous}

            attempt = 0
            while True:
                waiting = [a for a in envelope if a not in replies or replies[a].state == "open"]
                attempt += 1
                ledger.mark_attempt(row.id)
                in_doubt = connect_failed = False
                try:
                    smtp = conn.get()
                except (
                    SmtpConfigError,
                    smtplib.SMTPNotSupportedError,
                    ssl.SSLCertVerificationError,
                ) as e:
                    ledger.mark_failed(row.id, f"SMTP configuration: {e}", permanent=False)
                    if isinstance(e, SmtpConfigError):
                        raise
                    raise SmtpConfigError(str(e)) from e
                except smtplib.SMTPResponseException as e:  # greeting / STARTTLS / AUTH refused
                    reply = _Reply(e.smtp_code, _text(e.smtp_error), "connect")
                    if reply.code is not None and reply.code >= 500:
                        stop = (f"SMTP session refused: {reply}", True)
                    for a in waiting:
                        replies[a] = reply
                    connect_failed = True
                except (smtplib.SMTPException, OSError) as e:
                    for a in waiting:
                        replies[a] = _Reply(None, f"cannot connect: {e!r}", "connect")
                    connect_failed = True
                else:
                    txn = _Transaction(smtp, sender, waiting, data)
                    try:
                        txn.run(lambda rid=row.id, m=mid: ledger.mark_unknown(rid, message_id=m))
                    except (smtplib.SMTPException, OSError) as e:  # dropped, timed out
                        in_doubt = txn.data_started
                        conn.drop()
                        for a in waiting:
                            txn.replies[a] = _Reply(None, f"connection lost: {e!r}", "data")
                    else:
                        if txn.closing:
                            conn.drop()
                    replies.update(txn.replies)

                response = _dump_replies(replies)
                waiting = [a for a in envelope if replies[a].state == "open"]
                refused = [a for a in envelope if replies[a].state == "refused"]
                if not waiting or (stop is not None and stop[1]):
                    if replies[target].state == "accepted":
                        note = "; ".join(f"{a}: {replies[a]}" for a in refused) or None
                        ledger.mark_sent(row.id, mid, response, note=note)
                        outcome(row.id, "sent")
                    else:
                        ledger.mark_failed(
                            row.id, f"{target}: {replies[target]}", True, response=response
                        )
                        outcome(row.id, "failed_permanent")
                    break
                error = "; ".join(f"{a}: {replies[a]}" for a in waiting)
                if in_doubt:
                    ledger.mark_unknown(row.id, error=error, response=response)
                else:
                    ledger.mark_failed(row.id, error, permanent=False, response=response)
                delay = _backoff(attempt, backoff_base_s, backoff_cap_s)
                if attempt >= max_attempts or waited + delay > retry_budget_s:
                    log.warning(
                        "delivery %s left %s: %s",
                        row.id,
                        "unknown" if in_doubt else "pending",
                        error,
                    )
                    outcome(row.id, "unknown" if in_doubt else "pending")
                    if connect_failed and waited + delay > retry_budget_s:
                        stop = (f"server unreachable ({error})", False)
                    break
                log.info(
                    "delivery %s: transient failure (%s); retrying in %.1fs", row.id, error, delay
                )
                sleep(delay)
                waited += delay
    finally:
        conn.close()
    return summary


# -- outbox ----------------------------------------------------------------------------------


def _safe_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9@._+-]+", "_", text.strip().lower())
    return re.sub(r"^\.+", "_", name) or "_"


def outbox_path(outbox_dir: Path, row: Delivery) -> Path:
    """``<outbox>/<report>/<period>/<recipient>.eml`` (resends: ``<recipient>.resend<n>.eml``)."""
    name = _safe_name(row.target) + (f".resend{row.generation}" if row.generation else "")
    return Path(outbox_dir) / _safe_name(row.report) / _safe_name(row.period) / f"{name}.eml"


def write_outbox(
    messages: Sequence[tuple[Delivery, EmailMessage]], outbox_dir: Path, ledger: DeliveryLedger
) -> SendSummary:
    """The demo channel: write each message as an .eml file and mark its row sent.

    Each file is written to a temporary name and renamed into place, so a reader never sees half
    a message; a row already `sent` is skipped, and a file written just before a crash is simply
    replaced on the next run, so running again never duplicates anything.
    """
    summary = SendSummary()
    for row, msg in messages:
        if ledger.get(row.id).status in FINAL_STATUSES:
            summary.skipped.append(row.id)
            continue
        path = outbox_path(Path(outbox_dir), row)
        path.parent.mkdir(parents=True, exist_ok=True)
        ledger.mark_attempt(row.id)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(msg.as_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            ledger.mark_failed(row.id, f"cannot write {path}: {e}", permanent=False)
            summary.pending.append(row.id)
            continue
        ledger.mark_sent(row.id, str(msg["Message-ID"] or "") or None, f"written to {path}")
        summary.sent.append(row.id)
    return summary


def dispatch(
    messages: Sequence[tuple[Delivery, EmailMessage]],
    channel,
    ledger: DeliveryLedger,
    *,
    retry_budget_s: float = 60,
) -> SendSummary:
    """Send finalized messages the way the email channel is configured: `.eml` files in the
    outbox (the demo) or over SMTP, each envelope to its ledger row's address only."""
    if channel.mode == "outbox":
        return write_outbox(messages, resolve(channel.outbox_dir), ledger)
    return send_via_smtp(
        messages,
        host=channel.host,
        port=channel.port,
        security=channel.security,
        username=os.environ.get(channel.username_env or "") or None,
        password=os.environ.get(channel.password_env or "") or None,
        timeout=30,
        ledger=ledger,
        envelope_to="target",
        retry_budget_s=retry_budget_s,
    )


def notice_message(
    sender: str, to: str, subject: str, text: str, message_id: str, url: str | None = None
) -> EmailMessage:
    """A short plain-text notice (an alert, a rejected review, a failed run) to one address."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text + (f"\n\n{url}\n" if url else "\n"))
    return msg
