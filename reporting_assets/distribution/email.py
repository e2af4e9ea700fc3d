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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import quote

from reporting_assets.config import resolve
from reporting_assets.records.ledger import (
    FINAL_STATUSES,
    UNKNOWN,
    Delivery,
    DeliveryLedger,
    Lease,
)

__all__ = [
    "ATTACHMENT_TYPES",
    "Finalized",
    "MessageFactory",
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


class MessageFactory:
    """Every reader's copy of one report email, made one at a time from a single template.

    The body and the attachments (or their download links) are finalized once; `build(row)`
    sets only what differs per reader (To, Cc, Message-ID, Date) and returns the template
    itself, so a list of any length costs the memory of one message. Serialize each message
    before asking for the next. `headers(target)` gives a row's To header (the reader, or the
    list's own address) and its Cc addresses.
    """

    def __init__(
        self,
        base: EmailMessage,
        *,
        headers: Callable[[str], tuple[str, list[str]]],
        domain: str,
        list_unsubscribe_url: str,
        attachments: Sequence[Path],
        max_attachment_bytes: int,
        link_base: str,
    ):
        self.headers, self.domain = headers, domain
        final = finalize_message(
            base, to="undisclosed-recipients:;", cc=[], message_id="<template@invalid>",
            list_unsubscribe_url=list_unsubscribe_url, attachments=attachments,
            max_attachment_bytes=max_attachment_bytes, link_base=link_base,
        )  # fmt: skip
        self.template, self.attached, self.linked = final

    def build(self, row: Delivery) -> EmailMessage:
        to, cc = self.headers(row.target)
        msg = self.template
        msg.replace_header("To", to)
        del msg["Cc"]
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg.replace_header("Message-ID", message_id_for(row, self.domain))
        msg.replace_header("Date", format_datetime(datetime.now(UTC)))
        return msg


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


_LEADING_DOT = re.compile(rb"(?m)^\.")


class _Transaction:
    """One MAIL / RCPT… / DATA exchange on an open connection.

    The content is sent without its terminating ``CRLF . CRLF`` first; only then is the row
    claimed in the ledger (`claim`), and only a successful claim sends the terminator. Until the
    terminator the server cannot have accepted anything (RFC 5321 §4.1.1.4), so the outcome is
    in doubt only between the terminator and the server's reply: the smallest window SMTP has.
    """

    def __init__(self, smtp: smtplib.SMTP, sender: str, rcpts: list[str], data: bytes):
        self.smtp, self.sender, self.rcpts, self.data = smtp, sender, rcpts, data
        self.replies: dict[str, _Reply] = {}
        self.in_doubt = False  # the terminator went out and no reply came back
        self.claimed = False  # the ledger row is ours (pending → unknown)
        self.lost_claim = False  # another sender holds the row: this copy was abandoned
        self.closing = False  # the connection must not be used again

    def _all(self, code: int, text: str, stage: str) -> None:
        for r in self.rcpts:
            self.replies[r] = _Reply(code, text, stage)

    def _rset(self) -> None:
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.closing = True

    def run(self, claim: Callable[[], bool]) -> None:
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
        code, text = self._data(claim)
        if self.lost_claim:
            return
        for rcpt in accepted:
            self.replies[rcpt] = _Reply(code, _text(text), "data")
        if code == 421:
            self.closing = True
        elif not 200 <= code < 300:
            self._rset()

    def _data(self, claim: Callable[[], bool]) -> tuple[int, bytes | str]:
        code, text = self.smtp.docmd("DATA")
        if code != 354:  # DATA itself refused: nothing was sent
            return code, text
        body = _LEADING_DOT.sub(b"..", self.data)  # dot-stuffing (RFC 5321 §4.5.2)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.smtp.send(body)
        self.claimed = claim()
        if not self.claimed:
            # Another sender has this row: leave without the terminator, so the server drops
            # the content we sent.
            self.lost_claim = self.closing = True
            return 0, ""
        self.smtp.send(b".\r\n")
        self.in_doubt = True
        code, text = self.smtp.getreply()
        self.in_doubt = False
        return code, text


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
    conn = _Connection(
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
        envelope = [row.target] if envelope_to == "target" else _envelope(msg)
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
        previous = _load_replies(row.provider_response)
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
            reply = _Reply(e.smtp_code, _text(e.smtp_error), "connect")
            if reply.code is not None and reply.code >= 500:
                state["stop"] = f"SMTP session refused: {reply}"
            else:
                state["unreachable"] = f"SMTP session refused for now: {reply}"
            for a in waiting:
                replies[a] = reply
        except (smtplib.SMTPException, OSError) as e:
            state["unreachable"] = f"cannot connect: {e!r}"
            for a in waiting:
                replies[a] = _Reply(None, f"cannot connect: {e!r}", "connect")
        else:
            txn = _Transaction(smtp, sender, waiting, data)
            try:
                txn.run(lambda: ledger.claim(row.id, mid))
            except (smtplib.SMTPException, OSError) as e:  # dropped, timed out
                in_doubt = txn.in_doubt
                conn.drop()
                for a in waiting:
                    txn.replies[a] = _Reply(None, f"connection lost: {e!r}", "data")
            else:
                if txn.closing:
                    conn.drop()
            if txn.lost_claim:  # another sender (a run that took the lease over) has it
                summary.skipped.append(row.id)
                return
            replies.update(txn.replies)

        response = _dump_replies(replies)
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

    try:
        for row in rows:
            one(row.id)
        attempt, waited = 1, 0.0
        while errors:
            delay = _backoff(attempt, backoff_base_s, backoff_cap_s)
            if attempt >= max_attempts or waited + delay > retry_budget_s:
                for row_id, error in errors.items():
                    if error.startswith("not attempted"):
                        ledger.mark_failed(row_id, error, permanent=False)
                    log.warning("delivery %s left pending: %s", row_id, error)
                    summary.pending.append(row_id)
                break
            log.info("%d deliveries refused for now; trying again in %.1fs", len(errors), delay)
            sleep(delay)
            waited += delay
            attempt += 1
            again, state["unreachable"] = list(errors), None
            errors.clear()
            for row_id in again:
                one(row_id)
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
    rows: Iterable[Delivery],
    build: Callable[[Delivery], EmailMessage],
    outbox_dir: Path,
    ledger: DeliveryLedger,
) -> SendSummary:
    """The demo channel: write each row's message as an .eml file and mark its row sent.

    Each file is written to a temporary name and renamed into place, so a reader never sees half
    a message; a row already `sent` is skipped, and a file written just before a crash is simply
    replaced on the next run, so running again never duplicates anything.
    """
    summary = SendSummary()
    for row in rows:
        row = ledger.get(row.id)
        if row.status in FINAL_STATUSES:
            summary.skipped.append(row.id)
            continue
        msg = build(row)
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
