"""Real-time critical alerts: the alert rules of the newest day announced as soon as it lands.

The critical-alert sensor calls `check_critical_alerts` every 15 seconds. It takes the newest day
whose alert list (`critical_alerts_daily`, every rule evaluated over its declared history) is
stored and whose blocking (ERROR) checks passed, and notifies once per *episode* of a critical
alert (a rule and scope critical since a day):

* a rule that turns critical is notified at once (``new``);
* while it stays critical it is notified again only after ``renotify_minutes`` (``reminder``);
* when it stops being critical, its episode ends (``resolved``, on the dashboard only), and a
  later breach is a new episode.

The state of each rule lives in ``alert_states``, so a restarted daemon does not notify twice.
The intraday path (`intraday.py`, alerts on the day so far) shares these episodes, and both
decide and send under `alert_lock`, so two evaluations never announce the same notice.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from reporting_assets.config.audience import list_addresses
from reporting_assets.config.models import Settings
from reporting_assets.distribution.notify import notify
from reporting_assets.lib.links import alert_url
from reporting_assets.reports.notices import AlertNotice, alert_notice
from reporting_assets.resources.app_db import AppDatabase, as_utc, metadata
from reporting_assets.resources.storage import AssetHistory

METRIC_TABLES = ("revenue_protection_daily", "cost_optimization_daily",
                 "operational_efficiency_daily")  # fmt: skip

alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("rule", sa.String(200), primary_key=True),
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("firing", sa.Boolean, nullable=False),
    sa.Column("since", sa.String(10), nullable=True),  # first critical day of the episode
    sa.Column("last_day", sa.String(10), nullable=True),  # newest day evaluated
    sa.Column("notices", sa.Integer, nullable=False, default=0),  # sent in this episode
    sa.Column("episode", sa.Integer, nullable=False, default=0),  # episodes so far (1, 2, …)
    sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class AlertState:
    rule: str
    scope: str
    firing: bool
    since: str | None
    last_day: str | None
    notices: int
    last_notified_at: datetime | None
    episode: int = 0


@dataclass(frozen=True)
class Notice:
    action: str  # new | reminder | resolved
    rule: str
    scope: str
    day: str
    since: str
    number: int  # 1 for the first notice of the episode, 2 for the first reminder, …
    evaluation: dict
    episode: int = 1  # which episode of this rule and scope (a breach that comes back is new)


def plan_notices(
    evaluations: list[dict],
    states: dict[tuple[str, str], AlertState],
    now: datetime,
    renotify: timedelta,
) -> list[Notice]:
    """What to announce for this evaluation, given what was announced before (pure logic)."""
    out = []
    for ev in evaluations:
        key = (ev["rule"], ev["scope"])
        state = states.get(key)
        day = ev["date"].isoformat()
        critical = ev["severity"] == "critical"
        firing = state is not None and state.firing
        episode = state.episode if state is not None else 0
        if critical and not firing:
            since = (ev["breaching_since"] or ev["date"]).isoformat()
            out.append(Notice("new", *key, day, since, 1, ev, episode + 1))
        elif critical and firing:
            last = as_utc(state.last_notified_at)
            if last is None or now - last >= renotify:
                out.append(Notice("reminder", *key, day, state.since, state.notices + 1, ev,
                                  episode))  # fmt: skip
        elif firing and day > (state.last_day or "") and ev["value"] is not None:
            # A day with nothing to measure ("no payments attempted") ends nothing: only a
            # measured value back inside the thresholds resolves the episode.
            out.append(Notice("resolved", *key, day, state.since, state.notices, ev, episode))
    return out


def alert_episodes(engine: sa.Engine) -> dict[tuple[str, str], AlertState]:
    """The episode state of every rule and scope announced so far."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alert_states)).mappings().all()
    return {(r["rule"], r["scope"]): AlertState(**r) for r in rows}


_PG_ALERT_LOCK = 704373  # pg_advisory_lock key (the migrator's is 704372)
_LOCAL_ALERT_LOCK = threading.Lock()  # an in-memory SQLite database lives in one process


@contextmanager
def alert_lock(engine: sa.Engine, wait_s: float = 120) -> Iterator[None]:
    """Held while one evaluation decides and sends alert notices, across threads and processes
    (the web app's hook, the sensor): a PostgreSQL advisory lock, or a lock file beside a SQLite
    database. The notices themselves are written on other connections meanwhile."""
    if engine.dialect.name == "postgresql":
        # Waiters hold no connection (a burst of deliveries must not drain the pool that the
        # holder needs to write its notices): they try again every 50 ms.
        deadline = time.monotonic() + wait_s
        while True:
            conn = engine.connect()
            held = conn.execute(sa.text(f"SELECT pg_try_advisory_lock({_PG_ALERT_LOCK})")).scalar()
            conn.commit()
            if held:
                break
            conn.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"another alert evaluation held the lock for {wait_s:g} s")
            time.sleep(0.05)
        try:
            yield
        finally:
            conn.execute(sa.text(f"SELECT pg_advisory_unlock({_PG_ALERT_LOCK})"))
            conn.commit()
            conn.close()
        return
    path = engine.url.database
    if not path or path == ":memory:":
        with _LOCAL_ALERT_LOCK:
            yield
        return
    with open(f"{path}.alerts.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def save_state(
    engine: sa.Engine, notice: Notice, now: datetime, last_day: str | None = None
) -> None:
    """Record a sent notice in its rule's episode state. `last_day`, the newest day whose
    evaluation the episode has taken in, defaults to the notice's day."""
    values = {"firing": notice.action != "resolved", "since": notice.since,
              "last_day": last_day or notice.day, "notices": notice.number,
              "episode": notice.episode}  # fmt: skip
    if notice.action != "resolved":
        values["last_notified_at"] = now
    where = (alert_states.c.rule == notice.rule, alert_states.c.scope == notice.scope)
    for _ in range(2):  # update, else insert; a concurrent insert makes the retry an update
        try:
            with engine.begin() as conn:
                if conn.execute(alert_states.update().where(*where).values(**values)).rowcount:
                    return
                conn.execute(alert_states.insert().values(rule=notice.rule, scope=notice.scope,
                                                          **values))  # fmt: skip
                return
        except sa.exc.IntegrityError:
            continue


def newest_checked_day(history: AssetHistory, app_db: AppDatabase) -> date | None:
    """The newest day whose alert list is stored and whose daily gates (ERROR) all ran and
    passed: a day with no recorded check result for one of its tables is not a checked day."""
    gated = [*METRIC_TABLES, "critical_alerts_daily"]
    for key in reversed(history.stored_keys("critical_alerts_daily")):
        checks = app_db.latest_checks(key, gated)
        if {c["asset"] for c in checks} != set(gated):
            continue
        if not any(not c["passed"] and c["severity"] == "ERROR" for c in checks):
            return date.fromisoformat(key)
    return None


def evaluate_day(history: AssetHistory, day: date) -> list[dict]:
    """Every alert rule on `day`, as `critical_alerts_daily` evaluated it over its declared
    history (and its own gate re-checked)."""
    alerts = history.read("critical_alerts_daily", [day.isoformat()])
    return [] if alerts is None else alerts.to_dicts()


def check_critical_alerts(
    settings: Settings,
    history: AssetHistory,
    app_db: AppDatabase,
    *,
    now: datetime | None = None,
    report_base_url: str = "",
) -> list[dict]:
    """Evaluate the newest checked day and send what `plan_notices` decides; return the sends."""
    now = now or datetime.now(UTC)
    engine = app_db.engine
    day = newest_checked_day(history, app_db)
    if day is None:
        return []
    evaluations = evaluate_day(history, day)
    renotify = timedelta(minutes=settings.notifications.critical_alerts.renotify_minutes)
    sent = []
    with alert_lock(engine):
        for notice in plan_notices(evaluations, alert_episodes(engine), now, renotify):
            card = alert_notice(
                notice.evaluation,
                settings,
                history.read("revenue_protection_daily", [notice.day]),
                history.read("cost_optimization_daily", [notice.day]),
                action=notice.action,
                reminder=notice.number - 1 if notice.action == "reminder" else 0,
                base_url=report_base_url,
            )
            result = announce(settings, engine, notice, card, report_base_url)
            save_state(engine, notice, now)
            sent.append(
                {
                    "action": notice.action,
                    "rule": notice.rule,
                    "day": notice.day,
                    "number": notice.number,
                    "channels": result,
                }
            )
    return sent


def announce(
    settings: Settings,
    engine: sa.Engine,
    notice: Notice,
    card: AlertNotice,
    base_url: str = "",
    details: dict | None = None,
) -> dict:
    """Send one planned notice on the critical-alert channels (a resolution on the dashboard
    only); return what happened on each. Its key makes a repeated send a no-op."""
    cfg = settings.notifications.critical_alerts
    to, cc = list_addresses(settings, [cfg.distribution_list] if cfg.distribution_list else [])
    b = settings.branding
    ev = notice.evaluation
    resolved = notice.action == "resolved"
    channels = (["dashboard"] if "dashboard" in cfg.channels else []) if resolved else cfg.channels
    return notify(
        settings,
        engine,
        kind="alert_resolved" if resolved else "critical_alert",
        title=card.title,
        body=card.text,
        severity="info" if resolved else "critical",
        dedupe_key=f"alert:{notice.rule}:{notice.scope}:e{notice.episode}:{notice.action}:"
        f"{notice.number}",
        addresses=[*to, *cc],
        channels=channels,
        report=notice.rule,
        period=notice.day,
        url=alert_url(base_url, notice.rule, notice.day) if base_url else None,
        details={
            "rule": notice.rule,
            "scope": notice.scope,
            "day": notice.day,
            "value": ev["value"],
            "threshold": ev["threshold"],
            "since": notice.since,
            "action": notice.action,
            **(details or {}),
        },
        html=card.html(b.company_name, b.primary_color),
    )
