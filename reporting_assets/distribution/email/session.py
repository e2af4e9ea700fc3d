"""One SMTP session, and one MAIL / RCPT / DATA exchange on it, judged recipient by recipient
(RFC 5321): the building blocks `send_via_smtp` drives."""

from __future__ import annotations

import json
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

TRANSIENT_CODES = frozenset({421, 450, 451, 452, 454})
_TRANSIENT_RCPT_CODES = frozenset({552})  # RCPT 552 = too many recipients (RFC 5321 4.5.3.1.10)


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
class Reply:
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


def load_replies(response: str | None) -> dict[str, Reply]:
    """Replies kept in provider_response by an earlier run (other formats: nothing known)."""
    try:
        data = json.loads(response or "")
        return {
            addr: Reply(r["code"], r["reply"], r["stage"]) for addr, r in data["recipients"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def dump_replies(replies: dict[str, Reply]) -> str:
    return json.dumps(
        {
            "recipients": {
                a: {"code": r.code, "reply": r.text, "stage": r.stage} for a, r in replies.items()
            }
        },
        ensure_ascii=False,
    )


def header_addresses(msg: EmailMessage) -> list[str]:
    """The To and Cc addresses, each once (case-insensitively), in header order."""
    values = [str(v) for name in ("To", "Cc") for v in (msg.get_all(name) or [])]
    seen: dict[str, str] = {}
    for _, addr in getaddresses(values):
        if addr and addr.lower() not in seen:
            seen[addr.lower()] = addr
    return list(seen.values())


def reply_text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


_LEADING_DOT = re.compile(rb"(?m)^\.")


class Transaction:
    """One MAIL / RCPT… / DATA exchange on an open connection.

    The content is sent without its terminating ``CRLF . CRLF`` first; only then is the row
    claimed in the ledger (`claim`), and only a successful claim sends the terminator. Until the
    terminator the server cannot have accepted anything (RFC 5321 §4.1.1.4), so the outcome is
    in doubt only between the terminator and the server's reply: the smallest window SMTP has.
    """

    def __init__(self, smtp: smtplib.SMTP, sender: str, rcpts: list[str], data: bytes):
        self.smtp, self.sender, self.rcpts, self.data = smtp, sender, rcpts, data
        self.replies: dict[str, Reply] = {}
        self.in_doubt = False  # the terminator went out and no reply came back
        self.claimed = False  # the ledger row is ours (pending → unknown)
        self.lost_claim = False  # another sender holds the row: this copy was abandoned
        self.closing = False  # the connection must not be used again

    def _all(self, code: int, text: str, stage: str) -> None:
        for r in self.rcpts:
            self.replies[r] = Reply(code, text, stage)

    def _rset(self) -> None:
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.closing = True

    def run(self, claim: Callable[[], bool]) -> None:
        code, text = self.smtp.mail(self.sender)
        if not 200 <= code < 300:
            self._all(code, reply_text(text), "mail")
            self.closing = code == 421
            if not self.closing:
                self._rset()
            return
        accepted = []
        for rcpt in self.rcpts:
            code, text = self.smtp.rcpt(rcpt)
            if code == 421:  # the server is closing the channel: nothing more on this one
                self._all(code, reply_text(text), "rcpt")
                self.closing = True
                return
            self.replies[rcpt] = Reply(code, reply_text(text), "rcpt")
            if 200 <= code < 300:
                accepted.append(rcpt)
        if not accepted:
            self._rset()
            return
        code, text = self._data(claim)
        if self.lost_claim:
            return
        for rcpt in accepted:
            self.replies[rcpt] = Reply(code, reply_text(text), "data")
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


class Connection:
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
