"""Distribution assets (group `distribution`): each report that goes out by email gets a delivery
asset per period that sends its current artifact version to the distribution lists, once.

The delivery ledger decides who still needs the message, so re-materializing never re-sends what
was delivered. Reports whose approval policy is `manual` are not sent here: they wait for a
reviewer's approval.
"""

import email
import email.policy
import json
import os
from pathlib import Path

import dagster as dg

from reporting_assets.config import get_settings, resolve
from reporting_assets.config.models import Settings
from reporting_assets.distribution.email import (
    finalize_message,
    message_id_for,
    send_via_smtp,
    write_outbox,
)
from reporting_assets.distribution.ledger import DeliveryLedger
from reporting_assets.partitions import daily_partitions, monthly_partitions, weekly_partitions
from reporting_assets.reports.assets import ArtifactStoreResource
from reporting_assets.resources.app_db import AppDatabase

DISTRIBUTION_GROUP = "distribution"


def recipients(settings: Settings, report_key: str) -> tuple[list[str], list[str]]:
    """Primary recipients (To) and stakeholders (Cc) of a report, each address once."""
    lists = [settings.distribution_lists[n] for n in settings.reports[report_key]
             .distribution_lists]  # fmt: skip
    to = list(dict.fromkeys(a for lst in lists for a in lst.to))
    cc = [a for a in dict.fromkeys(a for lst in lists for a in lst.cc) if a not in to]
    return to, cc


def deliver_by_email(
    report_key: str,
    period: str,
    version: Path,
    settings: Settings,
    ledger: DeliveryLedger,
    *,
    link_base: str,
) -> dict:
    """Send (or file in the outbox) one copy of the report's email per address; return counts."""
    channel = settings.channels.email
    base = email.message_from_bytes((version / "email.eml").read_bytes(),
                                    policy=email.policy.default)  # fmt: skip
    manifest = json.loads((version / "manifest.json").read_text())
    attachments = [version / f["file"] for f in manifest if f["kind"] in ("pdf", "xlsx")]
    to, cc = recipients(settings, report_key)
    domain = channel.sender.rsplit("@", 1)[-1]
    messages = []
    for row in ledger.plan(report_key, period, "email", [*to, *cc]):
        final = finalize_message(
            base, to=", ".join(to), cc=cc, message_id=message_id_for(row, domain),
            list_unsubscribe_url=channel.list_unsubscribe_url, attachments=attachments,
            max_attachment_bytes=int(channel.max_attachment_mb * 1_000_000),
            link_base=f"{link_base}/{report_key}/{period}",
        )  # fmt: skip
        messages.append((row, final.message))
    if channel.mode == "outbox":
        summary = write_outbox(messages, resolve(channel.outbox_dir), ledger)
    else:
        summary = send_via_smtp(
            messages, host=channel.host, port=channel.port, security=channel.security,
            username=os.environ.get(channel.username_env or "") or None,
            password=os.environ.get(channel.password_env or "") or None,
            timeout=30, ledger=ledger, envelope_to="target",
        )  # fmt: skip
    return {"sent": len(summary.sent), "already_sent": len(summary.skipped),
            "failed_permanent": len(summary.failed_permanent), "pending": len(summary.pending),
            "unknown": len(summary.unknown), "recipients": len(to) + len(cc)}  # fmt: skip


def _email_delivery_asset(key: str) -> dg.AssetsDefinition:
    report_def = get_settings().reports[key]
    partitions = {"daily": daily_partitions, "weekly": weekly_partitions,
                  "monthly": monthly_partitions}[report_def.cadence]  # fmt: skip

    @dg.asset(
        name=f"{key}_email",
        partitions_def=partitions,
        group_name=DISTRIBUTION_GROUP,
        kinds={"email"},
        deps=[key],
        description=f"The {report_def.title} emailed to its distribution lists (PDF and workbook "
        "attached), each address exactly once.",
        code_version="1",
    )
    def _asset(
        context: dg.AssetExecutionContext, app_db: AppDatabase, artifacts: ArtifactStoreResource
    ) -> dg.MaterializeResult:
        settings = get_settings()
        period = context.partition_key
        if report_def.approval == "manual":
            return dg.MaterializeResult(
                metadata={"status": "awaiting review: manual approval policy, nothing sent"}
            )
        store = artifacts.store()
        version = store.latest(key, period)
        if version is None:
            raise dg.Failure(f"no rendered {key} for {period}: materialize {key} first")
        ledger = DeliveryLedger(app_db.engine)
        counts = deliver_by_email(key, period, version, settings, ledger,
                                  link_base=artifacts.report_base_url)  # fmt: skip
        if counts["sent"]:
            # This version reached readers: from now on a re-render opens the next version.
            store.mark_distributed(version, f"emailed; {json.dumps(counts)}\n")
        if counts["failed_permanent"] or counts["pending"] or counts["unknown"]:
            context.log.warning(f"{key} {period}: not every address was reached: {counts}")
        return dg.MaterializeResult(metadata={
            **counts, "version": version.name, "mode": settings.channels.email.mode,
            "delivery_success_rate": ledger.success_rate(),
        })  # fmt: skip

    return _asset


delivery_assets = [_email_delivery_asset(k) for k, r in get_settings().reports.items()
                   if "email" in r.channels and "email" in r.formats]  # fmt: skip
