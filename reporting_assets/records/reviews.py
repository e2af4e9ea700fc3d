"""Review before distribution: a manual report waits for a person to approve exactly what is sent.

Rendering a report whose approval policy is ``manual`` opens a review of that artifact version,
identified by the SHA-256 of its manifest (which lists the SHA-256 of every file). The review
carries the checklist a reviewer goes through (`build_checklist`). A reviewer approves or rejects
it with a comment (``reporting review approve|reject``); the delivery assets send a manual report
only when an approved review matches the current artifacts' hash, so re-rendering after an
approval needs a new approval (the old review is *superseded* and a new one opens).

Every step is an audit row in ``review_events``: who, when, what, which artifact hash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from pptx import Presentation

from reporting_assets.config.models import EMAIL, Settings
from reporting_assets.records.ledger import SENT, deliveries
from reporting_assets.resources.app_db import metadata
from reporting_assets.resources.artifacts import sha256

OPEN, APPROVED, REJECTED, SUPERSEDED = "open", "approved", "rejected", "superseded"

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report", sa.String(200), nullable=False),
    sa.Column("period", sa.String(64), nullable=False),
    sa.Column("version", sa.String(16), nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("checklist", sa.Text, nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_by", sa.String(320), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.UniqueConstraint("report", "period", "artifact_sha256", name="uq_review_artifact"),
)

review_events = sa.Table(
    "review_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("review_id", sa.Integer, sa.ForeignKey("reviews.id"), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # opened|approved|rejected|superseded
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
)


class ReviewError(ValueError):
    """A review action that cannot be taken (unknown review, already decided, stale artifact)."""


@dataclass(frozen=True)
class Review:
    id: int
    report: str
    period: str
    version: str
    artifact_sha256: str
    status: str
    checklist: list[dict]
    opened_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None


def artifact_hash(version: Path) -> str:
    """The identity of a rendered version: the SHA-256 of its manifest (hashes of every file)."""
    return sha256(Path(version) / "manifest.json")


def _as_review(row) -> Review:
    values = dict(row)
    values["checklist"] = json.loads(values["checklist"])
    return Review(**values)


# -- the checklist -----------------------------------------------------------------------------


def last_sent_targets(engine: sa.Engine, report: str, before_period: str) -> tuple[str, set[str]]:
    """The most recent earlier period of `report` that was emailed, and who received it."""
    with engine.connect() as conn:
        period = conn.execute(
            sa.select(sa.func.max(deliveries.c.period)).where(
                deliveries.c.report == report,
                deliveries.c.channel == "email",
                deliveries.c.status == SENT,
                deliveries.c.period < before_period,
            )
        ).scalar()
        if period is None:
            return "", set()
        targets = conn.execute(
            sa.select(deliveries.c.target).where(
                deliveries.c.report == report,
                deliveries.c.channel == "email",
                deliveries.c.status == SENT,
                deliveries.c.period == period,
            )
        ).scalars()
        return period, set(targets)


def distribution_check(
    settings: Settings, report: str, to: list[str], cc: list[str], engine: sa.Engine, period: str
) -> dict:
    """The list as it will be sent, its diff against the last send, and addresses to fix."""
    allowed = [d.lower() for d in settings.channels.email.allowed_domains]
    everyone = [*to, *cc]
    invalid = [a for a in everyone if not EMAIL.match(a)]
    outside = [a for a in everyone if allowed and a.rsplit("@", 1)[-1].lower() not in allowed]
    last_period, last = last_sent_targets(engine, report, period)
    added = sorted(set(everyone) - last) if last_period else []
    removed = sorted(last - set(everyone)) if last_period else []
    problems = [f"not a valid address: {a}" for a in invalid]
    problems += [f"outside the allowed domains ({', '.join(allowed)}): {a}" for a in outside]
    if last_period:
        diff = (f"compared with the {last_period} send: {len(added)} added "
                f"({', '.join(added) or 'none'}), {len(removed)} removed "
                f"({', '.join(removed) or 'none'})")  # fmt: skip
    else:
        diff = "first send of this report: no earlier list to compare with"
    return {
        "item": "Distribution list verification",
        "status": "attention" if problems else "ok",
        "details": [f"To: {', '.join(to)}", f"Cc: {', '.join(cc) or 'nobody'}", diff, *problems],
        "to": to,
        "cc": cc,
        "added": added,
        "removed": removed,
        "invalid": invalid,
        "outside_allowed_domains": outside,
    }


_NUMBER = re.compile(r"\d")


def _describe_file(entry: dict) -> str:
    counts = [f"{entry[k]} {k}" for k in ("pages", "slides", "sheets") if entry.get(k)]
    size = f"{entry['bytes']:,} bytes"
    return f"{entry['file']} ({', '.join([*counts, size])})"


def deck_slides(path: Path) -> str:
    """A deck's slides as a reviewer checks them, in order: "…_board.pptx: 1 title; 2 What
    changed, and what we ask; 3 Agenda; …" (each slide by its title)."""
    titles = []
    for n, slide in enumerate(Presentation(path).slides, start=1):
        texts = [s.text_frame.text for s in slide.shapes if s.has_text_frame and s.text_frame.text]
        titles.append(f"{n} " + ("title" if n == 1 else texts[0] if texts else "(no title)"))
    return f"{path.name}: " + "; ".join(titles)


def build_checklist(
    settings: Settings,
    report: str,
    period: str,
    version: Path,
    to: list[str],
    cc: list[str],
    engine: sa.Engine,
) -> list[dict]:
    """The reviewer's checklist for one rendered version, with the evidence for each item."""
    content = json.loads((Path(version) / "report.json").read_text())
    manifest = json.loads((Path(version) / "manifest.json").read_text())
    summary = content.get("summary", [])
    unnumbered = [s for s in summary if not _NUMBER.search(s)]
    failed = [c for c in content.get("checks", []) if not c["passed"]]
    summary_item = {
        "item": "Executive summary accuracy",
        "status": "attention" if (unnumbered or failed or not summary) else "ok",
        "details": [*summary,
                    f"{len(content.get('kpis', []))} KPIs from checked metric tables; "
                    f"{len(failed)} quality checks did not pass"
                    + (": " + "; ".join(f"{c['severity']} {c['asset']}.{c['check']}"
                                        for c in failed) if failed else ""),
                    *[f"sentence without a number: {s}" for s in unnumbered]],
    }  # fmt: skip
    recommendations = content.get("recommendations", [])
    rec_item = {
        "item": "Strategic recommendation quality",
        "status": "ok" if recommendations else "attention",
        "details": recommendations or ["no recommendation in this version: check that none is "
                                       "warranted before approving"],
    }  # fmt: skip
    charts = sorted(p.name for p in (Path(version) / "charts").glob("*.png"))
    visual = {
        "item": "Visual presentation",
        "status": "ok",
        "details": [_describe_file(f) for f in manifest]
        + [f"slides of {deck_slides(Path(version) / f['file'])}" for f in manifest
           if f["kind"].startswith("pptx:")]
        + [f"charts to look at: {', '.join(charts)} in {Path(version) / 'charts'}"],
    }  # fmt: skip
    return [
        summary_item,
        rec_item,
        visual,
        distribution_check(settings, report, to, cc, engine, period),
    ]


def reviewer(settings: Settings, report: str, by: str | None) -> str:
    """Who decides a review: one of the report's reviewers in config, never its owner alone
    (the owner wrote it; someone else checks it)."""
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


# -- the book of reviews -----------------------------------------------------------------------


class ReviewBook:
    """Open, decide and look up reviews in the app database."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def _event(self, conn, review_id: int, action: str, actor: str, sha: str, comment=None):
        conn.execute(review_events.insert().values(
            review_id=review_id, action=action, actor=actor, at=datetime.now(UTC),
            artifact_sha256=sha, comment=comment))  # fmt: skip

    def open(
        self, report: str, period: str, version: Path, checklist: list[dict]
    ) -> tuple[Review, bool]:
        """Open the review of this version (once per artifact hash); supersede older open ones
        (an approval of earlier artifacts stays as it was, but no longer matches what is current).

        Returns the review and whether it is new.
        """
        sha = artifact_hash(version)
        existing = self.find(report, period, sha)
        if existing is not None:
            return existing, False
        now = datetime.now(UTC)
        try:
            with self.engine.begin() as conn:
                stale = conn.execute(sa.select(reviews.c.id, reviews.c.artifact_sha256).where(
                    reviews.c.report == report, reviews.c.period == period,
                    reviews.c.status == OPEN)).all()  # fmt: skip
                for review_id, old_sha in stale:
                    conn.execute(reviews.update().where(reviews.c.id == review_id)
                                 .values(status=SUPERSEDED))  # fmt: skip
                    self._event(conn, review_id, SUPERSEDED, "system", old_sha,
                                f"the report was rendered again (now {sha[:12]})")  # fmt: skip
                new_id = conn.execute(reviews.insert().values(
                    report=report, period=period, version=Path(version).name,
                    artifact_sha256=sha, status=OPEN, checklist=json.dumps(checklist),
                    opened_at=now)).inserted_primary_key[0]  # fmt: skip
                self._event(conn, new_id, "opened", "system", sha)
        except sa.exc.IntegrityError:  # opened by a concurrent run
            return self.find(report, period, sha), False
        return self.get(int(new_id)), True

    def find(self, report: str, period: str, sha: str) -> Review | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(reviews).where(
                reviews.c.report == report, reviews.c.period == period,
                reviews.c.artifact_sha256 == sha)).mappings().first()  # fmt: skip
        return _as_review(row) if row else None

    def get(self, review_id: int) -> Review:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(reviews).where(reviews.c.id == review_id)).mappings()
            row = row.first()
        if row is None:
            raise ReviewError(f"there is no review #{review_id}")
        return _as_review(row)

    def list(self, status: str | None = None) -> list[Review]:
        query = sa.select(reviews).order_by(reviews.c.id)
        if status:
            query = query.where(reviews.c.status == status)
        with self.engine.connect() as conn:
            return [_as_review(r) for r in conn.execute(query).mappings()]

    def events(self, review_id: int | None = None, after_id: int = 0) -> list[dict]:
        query = sa.select(review_events).where(review_events.c.id > after_id)
        if review_id is not None:
            query = query.where(review_events.c.review_id == review_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(review_events.c.id)).mappings()]

    def _decide(self, review_id: int, status: str, who: str, comment: str, current_sha: str):
        who = who.strip()
        if not who:
            raise ReviewError("say who decides (--by): reviews are audited")
        review = self.get(review_id)
        if review.status != OPEN:
            raise ReviewError(f"review #{review_id} is {review.status}, not open")
        if review.artifact_sha256 != current_sha:
            raise ReviewError(
                f"review #{review_id} is of artifacts {review.artifact_sha256[:12]}, but the "
                f"current version is {current_sha[:12]}: review the new version instead"
            )
        with self.engine.begin() as conn:
            done = conn.execute(reviews.update().where(
                reviews.c.id == review_id, reviews.c.status == OPEN).values(
                status=status, decided_by=who, decided_at=datetime.now(UTC),
                comment=comment)).rowcount  # fmt: skip
            if not done:
                raise ReviewError(f"review #{review_id} was decided meanwhile")
            self._event(conn, review_id, status, who, review.artifact_sha256, comment)
        return self.get(review_id)

    def approve(self, review_id: int, who: str, comment: str, current_sha: str) -> Review:
        """Approve the review of the version whose hash is `current_sha` (else ReviewError)."""
        return self._decide(review_id, APPROVED, who, comment, current_sha)

    def reject(self, review_id: int, who: str, comment: str, current_sha: str) -> Review:
        if not comment.strip():
            raise ReviewError("a rejection needs a comment saying what to fix (--comment)")
        return self._decide(review_id, REJECTED, who, comment, current_sha)

    def approved_for(self, report: str, period: str, sha: str) -> Review | None:
        """The approved review of exactly these artifacts, if any."""
        review = self.find(report, period, sha)
        return review if review is not None and review.status == APPROVED else None
