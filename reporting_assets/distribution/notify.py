"""Short operational notices (critical alerts, failures, review decisions) on every channel.

A notice goes to the dashboard feed and, by email and chat, through the delivery ledger under
``notice:<kind>``, so a notice repeated by a re-run or a sensor tick is delivered once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from reporting_assets.config.audience import data_team
from reporting_assets.config.models import Settings
from reporting_assets.distribution.email import dispatch, message_id_for, notice_message
from reporting_assets.distribution.webhooks import ChannelConfigError, deliver_to_hook
from reporting_assets.records.feed import Feed, short_key
from reporting_assets.records.ledger import FINAL_STATUSES, Delivery, DeliveryLedger
from reporting_assets.reports.payloads import encode, notice_payload
from reporting_assets.resources.app_db import check_results, metadata

log = logging.getLogger(__name__)
HOOKS = ("slack", "teams", "webhook")


def ledger_period(dedupe_key: str) -> str:
    """The ledger's period column for a notice (64 characters at most, still unique)."""
    return short_key(dedupe_key, 64)


def notify(
    settings: Settings,
    engine: sa.Engine,
    *,
    kind: str,
    title: str,
    body: str,
    dedupe_key: str,
    addresses: list[str],
    channels: list[str],
    severity: str = "info",
    report: str | None = None,
    period: str | None = None,
    url: str | None = None,
    details: dict | None = None,
    retry_budget_s: float = 10,
    html: str | None = None,
) -> dict:
    """Publish one notice on `channels` (dashboard, email, slack, teams, webhook); return what
    happened on each. Chat channels that are disabled in config are skipped."""
    results: dict = {}
    ledger = DeliveryLedger(engine)
    key, when = f"notice:{kind}", ledger_period(dedupe_key)

    def dashboard():
        feed = Feed(engine)
        _, new = feed.publish(kind, title, body, dedupe_key=dedupe_key, severity=severity,
                              report=report, period=period, url=url, audience=addresses,
                              payload=details)  # fmt: skip
        return "published" if new else "already published"

    def by_email():
        domain = settings.channels.email.sender.rsplit("@", 1)[-1]
        rows = [r for r in ledger.plan(key, when, "email", addresses)
                if r.status not in FINAL_STATUSES]  # fmt: skip

        def build(row):
            return notice_message(settings.channels.email.sender, row.target, title, body,
                                  message_id_for(row, domain), url, html)  # fmt: skip

        summary = dispatch(rows, build, settings.channels.email, ledger,
                           retry_budget_s=retry_budget_s)  # fmt: skip
        return {"sent": len(summary.sent), "pending": len(summary.pending),
                "failed_permanent": len(summary.failed_permanent),
                "in_doubt": len(summary.unknown)}  # fmt: skip

    def by_hook(hook: str):
        channel = getattr(settings.channels, hook)
        [row] = ledger.plan(key, when, hook, [hook])
        body_bytes = encode(notice_payload(hook, title, body, severity, url, details or {}))
        try:
            return deliver_to_hook(hook, row, body_bytes, channel, ledger,
                                   retry_budget_s=retry_budget_s)  # fmt: skip
        except ChannelConfigError as exc:
            ledger.mark_failed(row.id, str(exc), permanent=False)
            raise

    steps = {}
    if "dashboard" in channels:
        steps["dashboard"] = dashboard
    if "email" in channels and addresses:
        steps["email"] = by_email
    for hook in HOOKS:
        if hook in channels and getattr(settings.channels, hook).enabled:
            steps[hook] = lambda h=hook: by_hook(h)
    # One channel failing (an SMTP relay refusing our login, a webhook not configured) must not
    # keep the notice from the others, nor crash the sensor that sends it.
    for channel, step in steps.items():
        try:
            results[channel] = step()
        except Exception as exc:  # recorded and reported, never swallowed silently
            log.error("notice %s on %s failed: %s", dedupe_key, channel, exc)
            results[channel] = f"failed: {type(exc).__name__}: {exc}"
    return results


# Which failed check results the data team was told of: the sensor looks back behind its cursor
# (a PostgreSQL transaction may commit an earlier id after a later one) and skips these.
check_notices = sa.Table(
    "check_notices",
    metadata,
    sa.Column("check_result_id", sa.Integer, primary_key=True),
    sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
)
CHECK_LOOKBACK = 500  # check result rows


def notify_failed_checks(
    settings: Settings, engine: sa.Engine, after_id: int, lookback: int = CHECK_LOOKBACK
) -> tuple[int, list]:
    """Tell the data team of every failed check recorded after row `after_id` (WARN and ERROR
    by default: a WARN never fails a run, so no run-failure sensor would see it), and of any
    not yet told in the rows just before it. One notice per asset partition. Returns the newest
    row id seen and the notices sent."""
    severities = settings.notifications.check_severities
    told = sa.select(check_notices.c.check_result_id)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(check_results).where(check_results.c.id > max(0, after_id - lookback),
                                           check_results.c.id.not_in(told))
            .order_by(check_results.c.id)
        ).mappings().all()  # fmt: skip
    if not rows:
        return after_id, []
    failed: dict[tuple[str, str], list] = {}
    for r in rows:
        if not r["passed"] and r["severity"] in severities:
            failed.setdefault((r["asset"], r["partition_key"]), []).append(r)
    sent = []
    for (asset, partition), checks in failed.items():
        worst = "ERROR" if any(c["severity"] == "ERROR" for c in checks) else "WARN"
        body = "\n".join(f"{c['severity']} {c['check_name']}: {c['description']}"
                         for c in checks)  # fmt: skip
        result = notify(
            settings, engine, kind="check_failure",
            title=f"{worst} check failed: {asset} [{partition}]",
            body=body + ("\nNothing downstream of it ran for this partition." if worst == "ERROR"
                         else "\nA WARN does not block anything; "
                         + ("the month's performance review lists it under Service levels."
                            if asset.startswith("slo_") else
                            "the reports show it in their quality appendix.")),
            dedupe_key=f"check:{asset}:{partition}:{checks[0]['id']}-{checks[-1]['id']}",
            addresses=data_team(settings),
            channels=["dashboard", "email"], severity="critical" if worst == "ERROR" else "warning",
            report=asset, period=partition,
            details={"checks": [c["check_name"] for c in checks], "run_id": checks[-1]["run_id"]},
        )  # fmt: skip
        sent.append({"asset": asset, "partition": partition, "severity": worst, **result})
        now = datetime.now(UTC)
        for c in checks:
            try:
                with engine.begin() as conn:
                    conn.execute(check_notices.insert().values(check_result_id=c["id"],
                                                               notified_at=now))  # fmt: skip
            except sa.exc.IntegrityError:
                continue  # told by a concurrent tick
    return max(after_id, rows[-1]["id"]), sent


def notify_run_failure(
    settings: Settings, engine: sa.Engine, run_id: str, job: str, partition: str | None, error: str
) -> dict:
    """Tell the data team that a report run failed, with the error."""
    return notify(
        settings, engine, kind="run_failure",
        title=f"Run failed: {job}" + (f" [{partition}]" if partition else ""),
        body=f"Run {run_id} of {job} failed: {error}", dedupe_key=f"run:{run_id}",
        addresses=data_team(settings), channels=["dashboard", "email"], severity="critical",
        period=partition, details={"run_id": run_id, "job": job},
    )  # fmt: skip


def report_in_doubt(settings: Settings, engine: sa.Engine, rows: list[Delivery]) -> dict:
    """Tell the data team which deliveries are in doubt (handed over, the answer lost) and the
    one command that settles each. Told once per set of rows."""
    if not rows:
        return {}
    first = rows[0]
    n = len(rows)
    lines = [
        f"{n} {'delivery is' if n == 1 else 'deliveries are'} in doubt for {first.report} "
        f"{first.period}: the message was handed over and the answer was lost (the sender "
        "stopped or the connection dropped), so it may or may not have arrived. Nothing is sent "
        "again by itself.",
        "",
        "Look for each Message-ID in the mail relay's log, then settle it:",
    ]
    for r in rows:
        lines += [
            f"  #{r.id} {r.channel} to {r.target}, Message-ID {r.message_id or 'not recorded'}",
            f"      arrived:        reporting resolve {r.id} delivered --by YOU",
            f"      did not arrive: reporting resolve {r.id} resend --by YOU",
        ]
    ids = ",".join(str(r.id) for r in rows)
    return notify(
        settings, engine, kind="delivery_in_doubt",
        title=f"{n} {'delivery' if n == 1 else 'deliveries'} in doubt: {first.report} "
        f"{first.period}",
        body="\n".join(lines), dedupe_key=f"in-doubt:{short_key(ids, 40)}",
        addresses=data_team(settings), channels=["dashboard", "email"], severity="warning",
        report=first.report, period=first.period,
        details={"deliveries": [r.id for r in rows]},
    )  # fmt: skip
