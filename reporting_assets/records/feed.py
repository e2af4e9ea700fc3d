"""The dashboard feed: notifications kept in the app database, read/unread per user.

A notification is one thing a reader should see on the dashboard: a critical alert as it fires, a
report becoming available (daily, the weekly summary, the monthly report), an updated version of
a report already sent, a review asked for or rejected, a failed run or check for the data team.

* ``dedupe_key`` makes publishing idempotent: publishing the same notification twice (a re-run, a
  sensor tick repeated after a crash) stores it once.
* ``audience`` is the list of users (email addresses) it is for; empty means everyone.
* Each user's reads are rows of ``notification_reads``, so "unread" is per user.

The web app shows each reader their feed; `Feed.export` writes one reader's as a JSON document
(atomically replaced) for a script of theirs to poll without a database connection.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from reporting_assets.resources.app_db import as_utc, metadata

KINDS = (
    "critical_alert",
    "alert_resolved",
    "daily_report",
    "weekly_summary",
    "monthly_report",
    "report_update",
    "review_requested",
    "review_rejected",
    "run_failure",
    "check_failure",
    "delivery_in_doubt",
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("report", sa.String(200), nullable=True),
    sa.Column("period", sa.String(64), nullable=True),
    sa.Column("url", sa.String(1000), nullable=True),
    # ",a@x,b@y," so that one LIKE finds a user; "" for everyone.
    sa.Column("audience", sa.Text, nullable=False, default=""),
    sa.Column("payload", sa.Text, nullable=True),
    sa.Column("dedupe_key", sa.String(400), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_notifications_created", "created_at"),
)

notification_reads = sa.Table(
    "notification_reads",
    metadata,
    sa.Column("notification_id", sa.Integer, sa.ForeignKey("notifications.id"), primary_key=True),
    sa.Column("reader", sa.String(320), primary_key=True),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
)


def short_key(key: str, limit: int) -> str:
    """`key` if it fits in `limit` characters, else its start and a hash: still unique."""
    if len(key) <= limit:
        return key
    return f"{key[: limit - 17]}~{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Notification:
    id: int
    kind: str
    severity: str
    title: str
    body: str
    report: str | None
    period: str | None
    url: str | None
    audience: list[str]
    payload: dict | None
    created_at: str
    read: bool | None = None  # for one user; None when listed for nobody in particular


def _audience(users: list[str] | None) -> str:
    users = sorted({u.strip().lower() for u in users or [] if u.strip()})
    return f",{','.join(users)}," if users else ""


def _as_notification(row, read: bool | None = None) -> Notification:
    created = as_utc(row["created_at"])
    return Notification(
        id=row["id"],
        kind=row["kind"],
        severity=row["severity"],
        title=row["title"],
        body=row["body"],
        report=row["report"],
        period=row["period"],
        url=row["url"],
        audience=[u for u in row["audience"].split(",") if u],
        payload=json.loads(row["payload"]) if row["payload"] else None,
        created_at=created.isoformat(timespec="seconds"),
        read=read,
    )


class Feed:
    """Publish, list and mark notifications. `engine` is the app database."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def publish(
        self,
        kind: str,
        title: str,
        body: str,
        *,
        dedupe_key: str,
        severity: str = "info",
        report: str | None = None,
        period: str | None = None,
        url: str | None = None,
        audience: list[str] | None = None,
        payload: dict | None = None,
    ) -> tuple[int, bool]:
        """Store a notification once per `dedupe_key`; return (its id, whether it is new)."""
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind '{kind}' (one of {', '.join(KINDS)})")
        dedupe_key = short_key(dedupe_key, 400)
        row = dict(kind=kind, severity=severity, title=title[:300], body=body, report=report,
                   period=period, url=url, audience=_audience(audience),
                   payload=json.dumps(payload, default=str) if payload is not None else None,
                   dedupe_key=dedupe_key, created_at=datetime.now(UTC))  # fmt: skip
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(notifications.insert().values(**row)).inserted_primary_key[0]
            return int(new_id), True
        except sa.exc.IntegrityError:
            with self.engine.connect() as conn:
                found = conn.execute(
                    sa.select(notifications.c.id).where(notifications.c.dedupe_key == dedupe_key)
                ).scalar_one()
            return int(found), False

    def _query(self, user: str | None):
        query = sa.select(notifications)
        if user is not None:
            query = query.where(
                sa.or_(
                    notifications.c.audience == "",
                    notifications.c.audience.contains(f",{user.strip().lower()},", autoescape=True),
                )
            )
        return query

    def for_user(
        self, user: str, *, unread_only: bool = False, limit: int = 200
    ) -> list[Notification]:
        """The user's notifications, newest first, each with its read flag for that user."""
        user = user.strip().lower()
        read_ids = sa.select(notification_reads.c.notification_id).where(
            notification_reads.c.reader == user
        )
        query = self._query(user)
        if unread_only:
            query = query.where(notifications.c.id.not_in(read_ids))
        with self.engine.connect() as conn:
            rows = conn.execute(
                query.order_by(notifications.c.id.desc()).limit(limit)
            ).mappings().all()  # fmt: skip
            read = set(conn.execute(read_ids).scalars())
        return [_as_notification(r, r["id"] in read) for r in rows]

    def one(self, user: str, notification_id: int) -> Notification | None:
        """One notification, if `user` may see it (None otherwise)."""
        query = self._query(user).where(notifications.c.id == notification_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _as_notification(row) if row else None

    def after(self, user: str, after_id: int, limit: int = 100) -> list[Notification]:
        """The user's notifications newer than `after_id`, oldest first: what an open page has
        not shown yet (its live stream, and the replay for a page that reconnects)."""
        query = self._query(user).where(notifications.c.id > after_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(notifications.c.id).limit(limit)).mappings().all()
        return [_as_notification(r) for r in rows]

    def all(self, *, kind: str | None = None) -> list[Notification]:
        """Every notification, oldest first (optionally of one kind)."""
        query = sa.select(notifications)
        if kind is not None:
            query = query.where(notifications.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(notifications.c.id)).mappings().all()
        return [_as_notification(r) for r in rows]

    def unread_count(self, user: str) -> int:
        return len(self.for_user(user, unread_only=True, limit=10_000))

    def mark_read(self, user: str, ids: list[int] | None = None) -> int:
        """Mark these notifications (all the user's, when `ids` is None) read; return how many
        were newly marked. Ids the user cannot see are ignored."""
        user = user.strip().lower()
        query = self._query(user).with_only_columns(notifications.c.id)
        if ids is not None:  # (opening one notification reads only that one)
            query = query.where(notifications.c.id.in_(ids))
        already = sa.select(notification_reads.c.notification_id).where(
            notification_reads.c.reader == user
        )
        with self.engine.connect() as conn:
            wanted = conn.execute(query.where(notifications.c.id.not_in(already))).scalars().all()
        rows = [{"notification_id": i, "reader": user, "read_at": datetime.now(UTC)}
                for i in wanted]  # fmt: skip
        for row in rows:
            try:
                with self.engine.begin() as conn:
                    conn.execute(notification_reads.insert().values(**row))
            except sa.exc.IntegrityError:
                continue  # marked by someone else meanwhile
        return len(rows)

    def export(self, path: Path, user: str, *, limit: int = 500) -> dict:
        """Write one reader's newest notifications, each with its read flag, as JSON at `path`
        (atomically): what that reader's own dashboard or script may poll. Nobody else's
        addresses or reads are in it."""
        user = user.strip().lower()
        items = []
        for n in self.for_user(user, limit=limit):
            item = asdict(n)
            item.pop("audience")
            items.append(item)
        document = {
            "user": user,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "unread": sum(1 for i in items if not i["read"]),
            "notifications": items,
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(document, indent=2) + "\n")
        os.replace(tmp, path)
        return document
