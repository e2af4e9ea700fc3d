"""The report email for one reader: its deterministic Message-ID, the finalized message with
its attachments (or download links when they are too large), and the short notice message."""

from __future__ import annotations

import copy
import hashlib
import html
import logging
import math
import mimetypes
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from reporting_assets.records.ledger import (
    Delivery,
)

log = logging.getLogger(__name__)

ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
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

    With `personal_link`, each reader's copy carries their own link instead of `report_link`
    wherever the body links to the report: `personal_link(target)` is the address's signed
    sign-in link, so the reader who clicks it is known to the web app (and nobody else is).
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
        report_link: str = "",
        personal_link: Callable[[str], str] | None = None,
    ):
        self.headers, self.domain = headers, domain
        self.personal_link = personal_link if report_link else None
        final = finalize_message(
            base, to="undisclosed-recipients:;", cc=[], message_id="<template@invalid>",
            list_unsubscribe_url=list_unsubscribe_url, attachments=attachments,
            max_attachment_bytes=max_attachment_bytes, link_base=link_base,
        )  # fmt: skip
        self.template, self.attached, self.linked = final
        # The body parts that link to the report, with their text as rendered.
        self.linking = [(part, subtype, part.get_content()) for subtype in ("plain", "html")
                        if (part := _body_part(self.template, subtype)) is not None
                        and report_link in part.get_content()]  # fmt: skip
        # The report's address as a whole link, not the start of a longer one (a file's).
        self.report_link = re.compile(re.escape(report_link) + r"(?![\w/]|\.\w)")

    def build(self, row: Delivery) -> EmailMessage:
        to, cc = self.headers(row.target)
        msg = self.template
        if self.personal_link is not None:
            link = self.personal_link(row.target)
            for part, subtype, text in self.linking:
                escaped = html.escape(link) if subtype == "html" else link
                _replace_text(part, self.report_link.sub(lambda _, to=escaped: to, text), subtype)
        msg.replace_header("To", to)
        del msg["Cc"]
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg.replace_header("Message-ID", message_id_for(row, self.domain))
        msg.replace_header("Date", format_datetime(datetime.now(UTC)))
        return msg


def notice_message(
    sender: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    url: str | None = None,
    html: str | None = None,
) -> EmailMessage:
    """A short notice (an alert, a rejected review, a failed run) to one address: plain text,
    with an HTML alternative when one is given (the alert card)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text + (f"\n\n{url}\n" if url else "\n"))
    if html:
        msg.add_alternative(html, subtype="html")
    return msg
