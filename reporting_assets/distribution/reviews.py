"""A reviewer's decision, the same from the command line and the web app: only one of the
report's reviewers decides (never its owner alone), only on the version rendered now, and a
rejection tells the owner why."""

from __future__ import annotations

import sqlalchemy as sa

from reporting_assets.config.models import Settings
from reporting_assets.distribution.notify import notify
from reporting_assets.records.reviews import (
    Review,
    ReviewBook,
    ReviewError,
    artifact_hash,
    reviewer,
)
from reporting_assets.resources.artifacts import ArtifactStore


def decide_review(
    settings: Settings,
    engine: sa.Engine,
    store: ArtifactStore,
    review_id: int,
    by: str,
    comment: str,
    *,
    approve: bool,
) -> Review:
    """Approve or reject review `review_id` as `by`; the approval sensor then delivers an approved
    report. Raises ReviewError when `by` may not decide or the review is not of what is current."""
    book = ReviewBook(engine)
    review = book.get(review_id)
    latest = store.latest(review.report, review.period)
    if latest is None:
        raise ReviewError(f"{review.report} {review.period} has no rendered version any more")
    who = reviewer(settings, review.report, by)
    decide = book.approve if approve else book.reject
    review = decide(review_id, who, comment, artifact_hash(latest))
    if not approve:
        report = settings.reports[review.report]
        notify(settings, engine, kind="review_rejected",
               title=f"Review rejected: {report.title} {review.period}",
               body=f"{review.decided_by} rejected review #{review.id} ({review.version}): "
               f"{comment}\nFix it and render the report again; that opens a new review.",
               dedupe_key=f"review-rejected:{review.id}", addresses=[report.owner],
               channels=["dashboard", "email"], severity="warning", report=review.report,
               period=review.period)  # fmt: skip
    return review
