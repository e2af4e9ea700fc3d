"""`reporting review …`: reviewers approve or reject a manual report before it goes out."""

from __future__ import annotations

import click

from reporting_assets.cli.common import artifact_store, engine, fail
from reporting_assets.config import get_settings
from reporting_assets.distribution.reviews import decide_review
from reporting_assets.lib.formatting import plural
from reporting_assets.records.reviews import OPEN, Review, ReviewBook, ReviewError


@click.group("review")
def review() -> None:
    """Review manual reports before they go out: list, show, approve, reject."""


@review.command("list")
@click.option("--all", "show_all", is_flag=True, help="Decided and superseded reviews too.")
def review_list(show_all: bool) -> None:
    """Reviews waiting for a decision (all of them with --all)."""
    reviews = ReviewBook(engine()).list(None if show_all else OPEN)
    if not reviews:
        click.echo("No review is open." if not show_all else "No review yet.")
    for r in reviews:
        attention = sum(1 for item in r.checklist if item["status"] != "ok")
        decided = f" by {r.decided_by}" if r.decided_by else ""
        line = f"#{r.id:<4} {r.status:<10}{decided:<28} {r.report} {r.period} {r.version} "
        click.echo(
            line
            + f"sha256 {r.artifact_sha256[:12]}  {plural(attention, 'item')} "
            + ("needs" if attention == 1 else "need")
            + " attention"
        )


@review.command("show")
@click.argument("review_id", type=int)
def review_show(review_id: int) -> None:
    """The checklist of one review, with its evidence and history."""
    book = ReviewBook(engine())
    try:
        r = book.get(review_id)
    except ReviewError as exc:
        fail(str(exc))
    version = artifact_store().period_dir(r.report, r.period) / r.version
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


def _decide(review_id: int, by: str | None, comment: str, approve: bool) -> Review:
    try:
        return decide_review(get_settings(), engine(), artifact_store(), review_id, by or "",
                             comment, approve=approve)  # fmt: skip
    except ReviewError as exc:
        fail(str(exc))


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
    r = _decide(review_id, by, comment, approve=False)
    owner = get_settings().reports[r.report].owner
    click.echo(f"Review #{r.id} rejected; {owner} was notified. Nothing was sent.")
