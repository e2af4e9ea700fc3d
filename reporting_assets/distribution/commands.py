"""`reporting review|ack|resend|feed|ledger`: the people's side of distribution, on the CLI."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa

from reporting_assets.config import get_settings, resolve


def _fail(message: str) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(2)


def app_database():
    """The app database resource of this deployment, with its URL resolved from the env."""
    import dagster as dg

    from reporting_assets.resources import build_resources

    db = build_resources(get_settings())["app_db"]
    if isinstance(db.url, dg.EnvVar):
        db = db.model_copy(update={"url": db.url.get_value()})
    return db


def _engine() -> sa.Engine:
    return app_database().engine


def _store():
    from reporting_assets.reports.store import ArtifactStore

    return ArtifactStore(resolve(get_settings().storage.artifact_root))


def _who(by: str | None) -> str:
    import getpass

    return (by or getpass.getuser()).strip()


# -- review ------------------------------------------------------------------------------------


@click.group("review")
def review() -> None:
    """Review manual reports before they go out: list, show, approve, reject."""


@review.command("list")
@click.option("--all", "show_all", is_flag=True, help="Decided and superseded reviews too.")
def review_list(show_all: bool) -> None:
    """Reviews waiting for a decision (all of them with --all)."""
    from reporting_assets.distribution.review import OPEN, ReviewBook

    reviews = ReviewBook(_engine()).list(None if show_all else OPEN)
    if not reviews:
        click.echo("No review is open." if not show_all else "No review yet.")
    for r in reviews:
        attention = sum(1 for item in r.checklist if item["status"] != "ok")
        decided = f" by {r.decided_by}" if r.decided_by else ""
        line = f"#{r.id:<4} {r.status:<10}{decided:<28} {r.report} {r.period} {r.version} "
        click.echo(line + f"sha256 {r.artifact_sha256[:12]}  {attention} item(s) need attention")


@review.command("show")
@click.argument("review_id", type=int)
def review_show(review_id: int) -> None:
    """The checklist of one review, with its evidence and history."""
    from reporting_assets.distribution.review import ReviewBook, ReviewError

    book = ReviewBook(_engine())
    try:
        r = book.get(review_id)
    except ReviewError as exc:
        _fail(str(exc))
    version = _store().period_dir(r.report, r.period) / r.version
    click.echo(f"Review #{r.id}: {r.report} {r.period} ({r.version}), {r.status}")
    click.echo(f"Artifacts: {version}  (manifest sha256 {r.artifact_sha256})")
    for item in r.checklist:
        mark = "OK " if item["status"] == "ok" else "!! "
        click.echo(f"\n{mark}{item['item']}")
        for line in item["details"]:
            click.echo(f"    - {line}")
    click.echo("\nHistory:")
    for e in book.events(review_id):
        comment = f": {e['comment']}" if e["comment"] else ""
        click.echo(f"    {e['at']:%Y-%m-%d %H:%M:%S} {e['action']} by {e['actor']}{comment}")
    if r.status == "open":
        reviewers = " or ".join(get_settings().reports[r.report].reviewers) or "a reviewer"
        click.echo(f"\nreporting review approve {r.id} --by {reviewers} --comment '…'   "
                   "(or reject)")  # fmt: skip


def reviewer(settings, report: str, by: str | None) -> str:
    """Who decides a review: one of the report's reviewers in config, never its owner alone
    (the owner wrote it; someone else checks it)."""
    from reporting_assets.distribution.review import ReviewError

    who = (by or "").strip().lower()
    cfg = settings.reports[report]
    allowed = [r.lower() for r in cfg.reviewers]
    if not who:
        raise ReviewError("say who decides (--by): reviews are audited")
    if who == cfg.owner.lower():
        raise ReviewError(f"{who} owns {report}: someone else must review it "
                          f"({', '.join(allowed) or 'no reviewer named in config'})")  # fmt: skip
    if who not in allowed:
        raise ReviewError(f"{who} is not a reviewer of {report} (reports.{report}.reviewers: "
                          f"{', '.join(allowed) or 'none'})")  # fmt: skip
    return who


def _decide(review_id: int, by: str | None, comment: str, approve: bool) -> None:
    from reporting_assets.distribution.review import ReviewBook, ReviewError, artifact_hash

    book = ReviewBook(_engine())
    try:
        r = book.get(review_id)
        latest = _store().latest(r.report, r.period)
        if latest is None:
            raise ReviewError(f"{r.report} {r.period} has no rendered version any more")
        who = reviewer(get_settings(), r.report, by)
        decide = book.approve if approve else book.reject
        r = decide(review_id, who, comment, artifact_hash(latest))
    except ReviewError as exc:
        _fail(str(exc))
    return r


@review.command("approve")
@click.argument("review_id", type=int)
@click.option("--by", required=True, help="Who approves: one of the report's reviewers.")
@click.option("--comment", default="", help="Why, or what you checked.")
def review_approve(review_id: int, by: str | None, comment: str) -> None:
    """Approve exactly the artifacts under review; the approval sensor delivers them."""
    r = _decide(review_id, by, comment, approve=True)
    now = f"reporting materialize {r.report}_delivery_job --partition {r.period}"
    click.echo(f"Review #{r.id} approved by {r.decided_by}: {r.report} {r.period} goes out "
               f"within a minute (review_approval_sensor), or now with `{now}`.")  # fmt: skip


@review.command("reject")
@click.argument("review_id", type=int)
@click.option("--by", required=True, help="Who rejects: one of the report's reviewers.")
@click.option("--comment", required=True, help="What must change before it can go out.")
def review_reject(review_id: int, by: str | None, comment: str) -> None:
    """Reject: nothing is sent, and the report's owner is told why."""
    from reporting_assets.distribution.notify import notify

    r = _decide(review_id, by, comment, approve=False)
    settings = get_settings()
    owner = settings.reports[r.report].owner
    notify(settings, _engine(), kind="review_rejected",
           title=f"Review rejected: {settings.reports[r.report].title} {r.period}",
           body=f"{r.decided_by} rejected review #{r.id} ({r.version}): {comment}\nFix it and "
           "render the report again; that opens a new review.",
           dedupe_key=f"review-rejected:{r.id}", addresses=[owner],
           channels=["dashboard", "email"], severity="warning", report=r.report,
           period=r.period)  # fmt: skip
    click.echo(f"Review #{r.id} rejected; {owner} was notified. Nothing was sent.")


# -- acknowledgements --------------------------------------------------------------------------


@click.command("ack")
@click.argument("subject", type=click.Choice(["report", "alert"]))
@click.argument("key")
@click.argument("period")
@click.option("--by", help="Who acknowledges (default: your login name).")
@click.option("--decision", default="", help="What was decided, if anything.")
def ack(subject: str, key: str, period: str, by: str | None, decision: str) -> None:
    """Acknowledge a report (KEY = report, PERIOD = its period) or an alert (KEY = rule, PERIOD
    = its day), with an optional decision note."""
    from reporting_assets.distribution.acks import AckError, acknowledge

    try:
        a = acknowledge(_engine(), subject, key, period, _who(by), decision)
    except AckError as exc:
        _fail(str(exc))
    click.echo(f"Acknowledged {subject} {key} {period} by {a.acknowledged_by}, "
               f"{a.hours_to_decision:.1f} h after it was delivered.")  # fmt: skip


@click.command("decision-speed")
@click.option("--days", type=int, default=30, help="Acknowledgements of the last N days.")
def decision_speed_command(days: int) -> None:
    """Hours from delivery to acknowledgement (the executive decision-speed metric)."""
    from reporting_assets.distribution.acks import decision_speed

    figures = decision_speed(_engine(), datetime.now(UTC) - timedelta(days=days))
    click.echo(json.dumps(figures, indent=2))


# -- resend ------------------------------------------------------------------------------------


@click.command("resend")
@click.argument("report")
@click.argument("period")
@click.option("--by", required=True, help="Who asks for the resend (kept in the ledger).")
@click.option("--channel", default="email", show_default=True)
@click.option("--to", "targets", multiple=True, help="Only these addresses (repeatable).")
def resend(report: str, period: str, by: str, channel: str, targets: tuple[str, ...]) -> None:
    """Send a report period again on one channel, recorded as a resend."""
    from reporting_assets.cli import _dagster_home, run_job
    from reporting_assets.distribution.assets import delivery_keys

    if report not in get_settings().reports:
        _fail(f"unknown report '{report}' (one of {', '.join(get_settings().reports)})")
    asset = f"{report}_{channel}"
    if asset not in delivery_keys(report):
        _fail(f"{report} is not delivered by {channel} (its assets: "
              f"{', '.join(delivery_keys(report))})")  # fmt: skip
    _dagster_home()
    config = {"resend": True, "requested_by": by, "targets": list(targets)}
    ok = run_job(f"{report}_delivery_job", period,
                 run_config={"ops": {asset: {"config": config}}})  # fmt: skip
    _print_ledger(report, period)
    if not ok:
        sys.exit(1)


# -- deliveries in doubt ----------------------------------------------------------------------


@click.command("in-doubt")
@click.option("--report", default=None)
@click.option("--period", default=None)
def in_doubt(report: str | None, period: str | None) -> None:
    """Deliveries in doubt: handed over when the sender stopped or the connection dropped,
    never sent again by themselves. Settle each with `reporting resolve`."""
    from reporting_assets.distribution.ledger import DeliveryLedger

    rows = DeliveryLedger(_engine()).in_doubt(report, period)
    if not rows:
        click.echo("Nothing is in doubt.")
    for r in rows:
        click.echo(f"#{r.id:<6} {r.report} {r.period} {r.channel} {r.target}  Message-ID "
                   f"{r.message_id or '-'}  since {r.updated_at:%Y-%m-%d %H:%M}  "
                   f"[{r.last_error or 'the sender stopped during the hand-over'}]")  # fmt: skip
    if rows:
        click.echo("\nLook for the Message-ID in the mail relay's log, then: reporting resolve ID "
                   "delivered --by YOU (it arrived) or reporting resolve ID resend --by YOU "
                   "(it did not).")  # fmt: skip


def resolver(settings, report: str, by: str) -> str:
    """Who may settle a delivery in doubt: the data team, or the report's owner or reviewers."""
    from reporting_assets.distribution.notify import data_team

    who = by.strip().lower()
    cfg = settings.reports.get(report)
    allowed = {a.lower() for a in data_team(settings)}
    if cfg is not None:
        allowed |= {cfg.owner.lower(), *(r.lower() for r in cfg.reviewers)}
    if who not in allowed:
        raise ValueError(f"{who or '(nobody)'} may not settle deliveries of {report}: the data "
                         "team (notifications.data_team), its owner or reviewers may")  # fmt: skip
    return who


@click.command("resolve")
@click.argument("delivery_id", type=int)
@click.argument("action", type=click.Choice(["delivered", "resend"]))
@click.option("--by", required=True, help="Who settles it (the data team, owner or reviewer).")
@click.option("--note", default="", help="What you checked (e.g. the relay's log line).")
def resolve_command(delivery_id: int, action: str, by: str, note: str) -> None:
    """Settle a delivery in doubt: DELIVERED (the relay's log shows its Message-ID) or RESEND
    (it did not arrive: a new, recorded copy goes out with the next delivery run)."""
    from reporting_assets.distribution.ledger import DeliveryLedger, ResolveError

    ledger = DeliveryLedger(_engine())
    try:
        row = ledger.get(delivery_id)
        who = resolver(get_settings(), row.report, by)
        current = ledger.resolve(delivery_id, action, who, note)
    except (ResolveError, ValueError, sa.exc.NoResultFound) as exc:
        _fail(str(exc) if not isinstance(exc, sa.exc.NoResultFound)
              else f"there is no delivery {delivery_id}")  # fmt: skip
    if action == "delivered":
        click.echo(f"Delivery #{delivery_id} to {current.target} marked delivered by {who}.")
    else:
        job = f"reporting materialize {current.report}_delivery_job --partition {current.period}"
        click.echo(f"Resend #{current.id} to {current.target} queued by {who} (generation "
                   f"{current.generation}); it goes out with the next delivery run, or now: "
                   f"{job}")  # fmt: skip


# -- feed and ledger ---------------------------------------------------------------------------


@click.group("feed")
def feed() -> None:
    """The dashboard feed: list a user's notifications, mark them read, export it as JSON."""


@feed.command("list")
@click.option("--user", required=True, help="Email address of the reader.")
@click.option("--unread", is_flag=True, help="Only the unread ones.")
def feed_list(user: str, unread: bool) -> None:
    from reporting_assets.distribution.feed import Feed

    items = Feed(_engine()).for_user(user, unread_only=unread)
    for n in items:
        flag = " " if n.read else "*"
        click.echo(f"{flag} #{n.id:<5} {n.created_at}  {n.severity:<8} {n.kind:<16} {n.title}")
    click.echo(f"{sum(1 for n in items if not n.read)} unread of {len(items)}")


@feed.command("read")
@click.option("--user", required=True)
@click.argument("ids", type=int, nargs=-1)
def feed_read(user: str, ids: tuple[int, ...]) -> None:
    """Mark notifications read for a user (all of them when no id is given)."""
    from reporting_assets.distribution.feed import Feed

    f = Feed(_engine())
    n = f.mark_read(user, list(ids) or None)
    f.export(resolve(get_settings().notifications.feed_export))
    click.echo(f"{n} marked read for {user}")


@feed.command("export")
@click.option(
    "--output", type=click.Path(), default=None, help="Default: notifications.feed_export."
)
def feed_export(output: str | None) -> None:
    """Write the feed as JSON (what a dashboard polls)."""
    from reporting_assets.distribution.feed import Feed

    path = resolve(output or get_settings().notifications.feed_export)
    doc = Feed(_engine()).export(path)
    click.echo(f"{len(doc['notifications'])} notifications written to {path}")


def _print_ledger(
    report: str | None = None, period: str | None = None, *, summary: bool = False
) -> None:
    from reporting_assets.distribution.ledger import DeliveryLedger, deliveries

    ledger = DeliveryLedger(_engine())
    query = sa.select(deliveries).order_by(deliveries.c.id)
    if report:
        query = query.where(deliveries.c.report == report)
    if period:
        query = query.where(deliveries.c.period == period)
    with ledger.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    if summary:
        from collections import Counter

        groups = Counter((r["report"], r["period"], r["channel"], r["status"]) for r in rows)
        for (rep, per, channel, status), n in sorted(groups.items()):
            click.echo(f"  {rep:<30} {per:<24} {channel:<9} {n:>3} {status}")
    for r in [] if summary else rows:
        extra = f" resend {r['generation']} by {r['requested_by']}" if r["generation"] else ""
        error = f"  [{r['last_error']}]" if r["last_error"] else ""
        click.echo(f"  {r['report']:<30} {r['period']:<12} {r['channel']:<9} {r['target']:<34} "
                   f"{r['status']:<16} attempts {r['attempts']}{extra}{error}")  # fmt: skip
    rate = ledger.success_rate()
    click.echo(f"  {len(rows)} deliveries; success rate "
               + ("n/a" if rate is None else f"{rate:.2%}"))  # fmt: skip


@click.command("ledger")
@click.option("--report", default=None)
@click.option("--period", default=None)
def ledger(report: str | None, period: str | None) -> None:
    """Every delivery: report, period, channel, target, status, attempts."""
    _print_ledger(report, period)


commands = [review, ack, decision_speed_command, resend, in_doubt, resolve_command, feed, ledger]
