"""Distribution assets (group `step6_distribution`): one delivery asset per report and channel, per
period, that sends the report's current artifact version once.

* ``<report>_email``      one message per address on the report's lists (To + Cc), PDF and
                          workbook attached; the outbox folder in the demo, SMTP in production.
* ``<report>_slack``      the Block Kit message rendered with the report, to the Slack webhook.
* ``<report>_teams``      the Adaptive Card rendered with the report, to the Teams workflow.
* ``<report>_webhook``    the report's content as JSON, signed, to the generic webhook.
* ``<report>_dashboard``  a notification in the dashboard feed for everyone on the lists.

The delivery ledger decides who still needs the report, so re-materializing never re-sends what
was delivered; the ``resend`` run config (or ``reporting resend``) does, and is recorded as a
resend. A report whose approval policy is ``manual`` is held until a reviewer approves exactly
the artifacts that are current (see `reporting_assets.records.reviews`).
"""

import email
import email.policy
import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from reporting_assets.config import get_settings
from reporting_assets.config.audience import audience, deck_audiences, recipients
from reporting_assets.config.models import Settings
from reporting_assets.distribution.email import MessageFactory, dispatch
from reporting_assets.distribution.notify import report_in_doubt
from reporting_assets.distribution.webhooks import ChannelConfigError, deliver_to_hook
from reporting_assets.lib.links import Links, report_path, report_url
from reporting_assets.lib.pools import CHANNEL_POOLS
from reporting_assets.partitions import daily_partitions, monthly_partitions, weekly_partitions
from reporting_assets.records.feed import Feed
from reporting_assets.records.leases import DeliveryBusy, Lease
from reporting_assets.records.ledger import (
    FAILED_PERMANENT,
    PENDING,
    SENT,
    UNKNOWN,
    DeliveryLedger,
)
from reporting_assets.records.reviews import ReviewBook, artifact_hash
from reporting_assets.reports.payloads import encode
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStoreResource, sha256
from reporting_assets.resources.settings import SettingsResource

DISTRIBUTION_GROUP = "step6_distribution"
CHANNELS = ("email", "slack", "teams", "webhook", "dashboard")
FEED_KIND = {"daily": "daily_report", "weekly": "weekly_summary", "monthly": "monthly_report"}

__all__ = ["DISTRIBUTION_GROUP", "delivery_assets", "delivery_keys", "recipients"]


class DeliveryConfig(dg.Config):
    """Run config of a delivery asset: an explicit resend, recorded with who asked for it."""

    resend: bool = Field(False, description="Send again to targets that already received it.")
    requested_by: str = Field("", description="Who asked for the resend (kept in the ledger).")
    targets: list[str] = Field(
        default_factory=list, description="Resend only to these addresses (default: everyone)."
    )


def _counts(before: dict[str, int], ledger: DeliveryLedger, key: str, period: str,
            channel: str) -> dict:  # fmt: skip
    """What a delivery did, from the ledger's tallies before and after it: sent now, already
    sent before, refused for good, still pending, in doubt."""
    after = ledger.tally(key, period, channel)
    return {"sent": after[SENT] - before[SENT], "already_sent": before[SENT],
            "failed_permanent": after[FAILED_PERMANENT], "pending": after[PENDING],
            "in_doubt": after[UNKNOWN]}  # fmt: skip


def deliver_by_email(
    report_key: str,
    period: str,
    version: Path,
    settings: Settings,
    ledger: DeliveryLedger,
    *,
    link_base: str,
    lease: Lease | None = None,
) -> dict:
    """Send (or file in the outbox) one copy of the report's email per address; return counts.

    The rows still to send are read from the ledger and each message is built just before it
    goes out, so a list of any length starts at once and runs in the memory of one message.
    Each reader's copy links to the report with their own sign-in link (signed, expiring).
    """
    channel = settings.channels.email
    base = (version / "email.eml").read_bytes()
    manifest = json.loads((version / "manifest.json").read_text())
    attachments = [version / f["file"] for f in manifest if f["kind"] in ("pdf", "xlsx")]
    decks = {f["kind"].removeprefix("pptx:"): version / f["file"] for f in manifest
             if f["kind"].startswith("pptx:")}  # fmt: skip
    readers = audience(settings, report_key)
    deck_of = deck_audiences(settings, report_key)
    ledger.plan(report_key, period, "email", readers.everyone)
    before = ledger.tally(report_key, period, "email")
    factories: dict[tuple[str, ...], MessageFactory] = {}
    links, page = Links.of(settings), report_path(report_key, period)

    def build(row):
        """The reader's copy: the PDF and workbook, and the decks of the audiences they are
        in (one template per set of decks, made when first needed)."""
        wanted = tuple(a for a in deck_of.get(row.target.lower(), []) if a in decks)
        if wanted not in factories:
            factories[wanted] = MessageFactory(
                email.message_from_bytes(base, policy=email.policy.default),
                headers=readers.headers, domain=channel.sender.rsplit("@", 1)[-1],
                list_unsubscribe_url=channel.list_unsubscribe_url,
                attachments=[*attachments, *(decks[a] for a in wanted)],
                max_attachment_bytes=int(channel.max_attachment_mb * 1_000_000),
                link_base=report_url(link_base, report_key, period),
                report_link=report_url(link_base, report_key, period),
                personal_link=lambda reader: links.url(link_base, reader, page),
            )  # fmt: skip
        return factories[wanted].build(row)

    dispatch(ledger.open_rows(report_key, period, "email"), build, channel, ledger,
             lease=lease)  # fmt: skip
    return {**_counts(before, ledger, report_key, period, "email"),
            "recipients": len(readers.everyone)}  # fmt: skip


def deliver_by_hook(
    kind: str, report_key: str, period: str, version: Path, settings: Settings,
    ledger: DeliveryLedger, **retry,
) -> dict:  # fmt: skip
    """POST the payload rendered with the report (slack.json, teams.json, report.json)."""
    file = version / ("report.json" if kind == "webhook" else f"{kind}.json")
    if not file.exists():
        raise dg.Failure(f"{file} is missing: render {report_key} {period} again")
    body = encode(json.loads(file.read_text()))
    rows = ledger.plan(report_key, period, kind, [kind])
    before = ledger.tally(report_key, period, kind)
    for row in rows:
        deliver_to_hook(kind, row, body, getattr(settings.channels, kind), ledger, **retry)
    return _counts(before, ledger, report_key, period, kind)


def deliver_to_dashboard(
    report_key: str, period: str, version: Path, settings: Settings, ledger: DeliveryLedger,
    *, link_base: str,
) -> dict:  # fmt: skip
    """A notification in the dashboard feed for everyone on the report's lists."""
    report_def = settings.reports[report_key]
    content = json.loads((version / "report.json").read_text())
    to, cc = recipients(settings, report_key)
    feed = Feed(ledger.engine)
    rows = ledger.plan(report_key, period, "dashboard", ["feed"])
    before = ledger.tally(report_key, period, "dashboard")
    for row in rows:
        if row.status in (SENT, FAILED_PERMANENT):
            continue
        ledger.mark_attempt(row.id)
        kind = "report_update" if row.is_resend else FEED_KIND[report_def.cadence]
        kpis = "; ".join(f"{k['label']} {k['display']}" for k in content["kpis"][:6])
        body = "\n".join([*content["summary"][:3], kpis])
        title = f"{report_def.title}: {content['period_label']}" + (
            f" (updated, {version.name})" if row.is_resend else "")  # fmt: skip
        notification_id, _ = feed.publish(
            kind, title, body, dedupe_key=f"report:{report_key}:{period}:{row.generation}",
            severity="warning" if content["alerts"] else "info", report=report_key,
            period=period, url=report_url(link_base, report_key, period), audience=[*to, *cc],
            payload={"version": version.name, "kpis": content["kpis"],
                     "alerts": content["alerts"]})  # fmt: skip
        ledger.mark_sent(row.id, None, f"notification {notification_id}")
    return _counts(before, ledger, report_key, period, "dashboard")


def fail_dead_run(instance: dg.DagsterInstance, run_id: str | None, why: str) -> bool:
    """Mark a run failed in Dagster when its process died while it held a delivery (it would
    stay STARTED for good otherwise); False when it already finished or is not known."""
    run = instance.get_run_by_id(run_id) if run_id else None
    if run is None or run.is_finished:
        return False
    instance.report_run_failed(run, message=f"Run {run_id} died: {why}")
    return True


class ArtifactChanged(RuntimeError):
    """The report's files changed while they were being copied for delivery."""


def freeze(version: Path, into: Path) -> Path:
    """A copy of a rendered version in `into`, checked file by file against its manifest."""
    copy = into / version.name
    try:
        shutil.copytree(version, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
    except (FileNotFoundError, shutil.Error, json.JSONDecodeError) as exc:
        raise dg.Failure(f"{version} was being rendered again while it was read for delivery "
                         f"({type(exc).__name__}); run the delivery again") from None  # fmt: skip
    changed = [f["file"] for f in manifest if sha256(copy / f["file"]) != f["sha256"]]
    if changed:
        raise dg.Failure(f"{version}: {', '.join(changed)} no longer match the manifest (rendered "
                         "again meanwhile?); run the delivery again")  # fmt: skip
    return copy


def hold_reason(report_key: str, period: str, version: Path | None, app_db: AppDatabase) -> str:
    """Why a manual report may not be sent yet ("" when an approved review covers `version`)."""
    if version is None:
        return f"awaiting review: {report_key} {period} is not rendered yet"
    book = ReviewBook(app_db.engine)
    sha = artifact_hash(version)
    if book.approved_for(report_key, period, sha):
        return ""
    review = book.find(report_key, period, sha)
    if review is None:
        return f"awaiting review: no review is open for {version.name} (render it again)"
    return (f"awaiting review #{review.id} ({review.status}) of {version.name}: nothing sent; "
            f"reporting review show {review.id}")  # fmt: skip


def delivery_keys(report_key: str) -> list[str]:
    """The delivery assets of a report: one per channel it lists (email only with the format)."""
    report_def = get_settings().reports[report_key]
    return [f"{report_key}_{c}" for c in CHANNELS if c in report_def.channels
            and (c != "email" or "email" in report_def.formats)]  # fmt: skip


def _delivery_asset(key: str, channel: str) -> dg.AssetsDefinition:
    report_def = get_settings().reports[key]
    partitions = {"daily": daily_partitions, "weekly": weekly_partitions,
                  "monthly": monthly_partitions}[report_def.cadence]  # fmt: skip
    what = {
        "email": "emailed to its distribution lists (PDF and workbook attached), each address "
        "exactly once",
        "slack": "posted to Slack (Block Kit) through the incoming webhook",
        "teams": "posted to Microsoft Teams (Adaptive Card) through the Workflows webhook",
        "webhook": "posted as signed JSON to the generic webhook",
        "dashboard": "announced in the dashboard feed to everyone on its lists",
    }[channel]

    @dg.asset(
        name=f"{key}_{channel}",
        partitions_def=partitions,
        group_name=DISTRIBUTION_GROUP,
        kinds={channel},
        deps=[key],
        description=f"The {report_def.title} {what}. "
        + ("Held until a reviewer approves it." if report_def.approval == "manual" else ""),
        code_version="2",
        pool=CHANNEL_POOLS.get(channel),
    )
    def _asset(
        context: dg.AssetExecutionContext,
        business: SettingsResource,
        config: DeliveryConfig,
        app_db: AppDatabase,
        artifacts: ArtifactStoreResource,
    ) -> dg.MaterializeResult:
        settings = business.get()
        period = context.partition_key
        store = artifacts.store()
        version = store.latest(key, period)
        if version is None and report_def.approval != "manual":
            raise dg.Failure(f"no rendered {key} for {period}: materialize {key} first")
        with tempfile.TemporaryDirectory() as tmp:
            # Deliver from a private copy whose files match their manifest: a re-render in the
            # meantime can change the report's folder, never what this run sends.
            frozen = freeze(version, Path(tmp)) if version is not None else None
            if report_def.approval == "manual":
                reason = hold_reason(key, period, frozen, app_db)
                if reason:
                    context.log.info(reason)
                    return dg.MaterializeResult(metadata={"status": reason})
            return _deliver(context, config, app_db, artifacts, store, version, frozen, settings)

    def _deliver(context, config, app_db, artifacts, store, version, frozen, settings):
        """Send `frozen` (the checked copy of `version`) on this asset's channel."""
        period = context.partition_key
        hook = channel in ("slack", "teams", "webhook")
        if hook and not getattr(settings.channels, channel).enabled:
            off = f"channels.{channel}.enabled is false in config: nothing sent"
            return dg.MaterializeResult(metadata={"status": off})
        ledger = DeliveryLedger(app_db.engine)
        to, cc = recipients(settings, key)
        everyone = {"email": [*to, *cc], "dashboard": ["feed"]}.get(channel, [channel])
        targets = []
        if config.resend:
            if not config.requested_by.strip():
                raise dg.Failure("a resend needs requested_by (who asked for it, for the ledger)")
            wanted = [t.strip().lower() for t in config.targets] or everyone
            unknown = sorted(set(wanted) - {t.lower() for t in everyone})
            if unknown:
                listed = ", ".join(everyone)
                raise dg.Failure(f"cannot resend {key} {period} by {channel} to "
                                 f"{', '.join(unknown)}: not on its list ({listed})")  # fmt: skip
            targets = [t for t in everyone if t.lower() in wanted]
        link_base = artifacts.report_base_url
        run_id = context.run.run_id

        def took_over(dead: dict) -> None:
            why = (f"its delivery of {key} {period} by {channel} was taken over by run "
                   f"{run_id}: no heartbeat since {dead['heartbeat_at']} "
                   "(the process died)")  # fmt: skip
            if fail_dead_run(context.instance, dead.get("run_id"), why):
                context.log.warning(f"run {dead['run_id']} marked failed: {why}")

        try:
            with ledger.lease(key, period, channel, holder=f"run {run_id}", run_id=run_id,
                              stale_after=timedelta(seconds=settings.delivery.lease_stale_after_s),
                              on_takeover=took_over) as lease:  # fmt: skip
                if targets:  # recorded under the lease: a resend that loses the race leaves nothing
                    ledger.request_resend(key, period, channel, targets,
                                          config.requested_by.strip())  # fmt: skip
                if channel == "email":
                    counts = deliver_by_email(key, period, frozen, settings, ledger,
                                              link_base=link_base, lease=lease)  # fmt: skip
                elif channel == "dashboard":
                    counts = deliver_to_dashboard(key, period, frozen, settings, ledger,
                                                  link_base=link_base)  # fmt: skip
                else:
                    counts = deliver_by_hook(channel, key, period, frozen, settings, ledger)
        except (ChannelConfigError, DeliveryBusy) as exc:
            raise dg.Failure(str(exc)) from None
        if counts["in_doubt"]:
            # Sent possibly, not recorded: never replayed by itself. The data team settles it.
            rows = [r for r in ledger.in_doubt(key, period) if r.channel == channel]
            report_in_doubt(settings, app_db.engine, rows)
            context.log.warning(f"{key} {period} by {channel}: {counts['in_doubt']} in doubt, "
                                "not sent again; see `reporting in-doubt`")  # fmt: skip
        if counts["sent"] and (version / "manifest.json").exists() and \
                artifact_hash(version) == artifact_hash(frozen):  # fmt: skip
            # This version reached readers: from now on a re-render opens the next version.
            store.mark_distributed(version, f"{channel}: {json.dumps(counts)}")
        elif counts["sent"]:
            context.log.warning(f"{key} {period} was rendered again while {channel} delivered "
                                "the previous rendering; the new one is not marked "
                                "as sent")  # fmt: skip
        if counts["pending"]:
            # Transient failures outlasted the retry budget: fail the run so the data team hears
            # of it (run-failure sensor) and a re-run (or run retry) delivers the rest.
            raise dg.Failure(f"{key} {period} by {channel}: {counts['pending']} still "
                             f"pending after retries ({counts}); re-run to deliver them — "
                             "nothing already delivered is sent again",
                             metadata=counts)  # fmt: skip
        if counts["failed_permanent"] and not (counts["sent"] or counts["already_sent"]):
            raise dg.Failure(f"{key} {period} by {channel}: every target refused it for good "
                             f"({counts}); see `reporting ledger --report {key}`",
                             metadata=counts)  # fmt: skip
        if counts["failed_permanent"]:
            context.log.warning(f"{key} {period} {channel}: some targets refused it for good: "
                                f"{counts}")  # fmt: skip
        status = ["delivered"]
        if counts["failed_permanent"]:
            status.append("some targets refused it for good")
        if counts["in_doubt"]:
            status.append(f"{counts['in_doubt']} in doubt (reporting in-doubt)")
        return dg.MaterializeResult(metadata={
            **counts, "status": "; ".join(status),
            "version": version.name, "artifact_sha256": artifact_hash(frozen),
            "mode": settings.channels.email.mode if channel == "email" else channel,
            "delivery_success_rate": ledger.success_rate(),
        })  # fmt: skip

    return _asset


delivery_assets = [_delivery_asset(k, c) for k in get_settings().reports
                   for c in (d.removeprefix(f"{k}_") for d in delivery_keys(k))]  # fmt: skip
