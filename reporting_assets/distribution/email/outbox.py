"""The demo's email channel: each message written as an .eml file in the outbox folder."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from pathlib import Path

from reporting_assets.distribution.email.session import SendSummary
from reporting_assets.records.ledger import (
    FINAL_STATUSES,
    Delivery,
    DeliveryLedger,
)


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
