"""Alerts as they happen: a critical breach announced within seconds of the event that caused
it, not the next morning.

PostHog's realtime "HTTP Webhook" destination posts each billing event to the web app as it
is ingested. Each event is kept once (`records.intraday_events`), and the alert rules that the
day's events alone define (the payment failure rate) are judged on the report time zone's day
so far. A breach becomes a notice exactly as the daily path's does (`realtime.py`): the same
episodes in ``alert_states``, the same re-notify interval, the same card and channels, decided
and sent under the same lock. So the next morning's daily alert of the same day continues the
episode (a reminder once the interval has passed) rather than announcing it again, and a day
that turns out fine as a whole ends the episode as usual.
"""

from __future__ import annotations

import json
import logging
import uuid as uuid_lib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

from reporting_assets.config.models import AlertRule, Settings
from reporting_assets.distribution.realtime import (
    Notice,
    alert_episodes,
    alert_lock,
    announce,
    plan_notices,
    save_state,
)
from reporting_assets.metrics.alerts import evaluate_rule
from reporting_assets.metrics.compute import SUCCESSFUL_CHARGE
from reporting_assets.metrics.layer import LONG_SCHEMA, METRICS
from reporting_assets.partitions import today
from reporting_assets.records.intraday_events import (
    EventTally,
    HookEvent,
    day_tally,
    last_event_at,
    store_event,
)
from reporting_assets.reports.notices import AlertNotice, alert_notice

log = logging.getLogger(__name__)

# The metrics the day's events alone define: each ratio's numerator and denominator counted in
# events exactly as the daily revenue table counts them (`metrics/compute.py`: a failed charge
# is one `payment_failed`, a successful one one `purchase_completed`); the ratio itself is the
# metric layer's own expression.
EVENT_METRICS: dict[str, dict[str, tuple[str, ...]]] = {
    "payment_failure_rate": {
        "payments_failed": ("payment_failed",),
        "payment_attempts": ("payment_failed", SUCCESSFUL_CHARGE),
    },
}
COUNTED_EVENTS = tuple(
    sorted({name for parts in EVENT_METRICS.values() for names in parts.values() for name in names})
)
# The event whose amounts are at stake when a payment rule fires (the daily table's
# failed_payment_amount).
FAILED_PAYMENT = "payment_failed"
MAX_NAME = 200  # characters of an event name or a distinct id the table keeps


class HookBodyError(ValueError):
    """A webhook body that is not one PostHog event; the message names what is wrong."""


def _text(value: object, what: str, limit: int = MAX_NAME) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise HookBodyError(f"{what} must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise HookBodyError(f"{what} is empty")
    if len(text) > limit:
        raise HookBodyError(f"{what} is longer than {limit} characters")
    return text


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise HookBodyError("event.timestamp is missing (an ISO 8601 time, as PostHog sends it)")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise HookBodyError(f"event.timestamp '{value[:40]}' is not an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _minor_units(properties: dict) -> int | None:
    """The amount in minor units, as the daily source reads it: `revenue`, else `amount`."""
    for key in ("revenue", "amount"):
        value = properties.get(key)
        if value is None:
            continue
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole or abs(value) >= 2**63:
            raise HookBodyError(
                f"property '{key}' must be a whole number of minor units (cents), got {value!r}"
            )
        return int(value)
    return None


def parse_hook_body(raw: bytes) -> HookEvent:
    """One event from the body PostHog's webhook destination posts (its default body,
    ``{"event": {...}, "person": {...}}``; older PostHog versions name the event `name`)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HookBodyError(f"the body is not JSON ({exc})") from None
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise HookBodyError(
            "the body has no 'event' object (the destination's body must be "
            'PostHog\'s default: {"event": "{event}", ...})'
        )
    event = body["event"]
    name = event.get("event", event.get("name"))
    if name is None:
        raise HookBodyError("event.event (event.name in older PostHog versions) is missing")
    if event.get("uuid") is None:
        raise HookBodyError(
            "event.uuid is missing: without it a retried delivery would count twice"
        )
    properties = event.get("properties") or {}
    if isinstance(properties, str):
        try:
            properties = json.loads(properties)
        except json.JSONDecodeError:
            raise HookBodyError("event.properties is not a JSON object") from None
    if not isinstance(properties, dict):
        raise HookBodyError("event.properties is not a JSON object")
    distinct = event.get("distinct_id")
    account = properties.get("account_id")
    return HookEvent(
        uuid=_text(event["uuid"], "event.uuid", 64),
        event=_text(name, "event.event"),
        occurred_at=_timestamp(event.get("timestamp")),
        distinct_id=None if distinct in (None, "") else _text(distinct, "event.distinct_id"),
        account_id=None if account is None else _text(account, "properties.account_id"),
        amount_minor=_minor_units(properties),
        properties=properties,
    )


def report_day(moment: datetime, timezone: str) -> date:
    """The day an instant belongs to in the report time zone (a New York day by default)."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def receive_event(settings: Settings, engine: sa.Engine, event: HookEvent) -> tuple[date, bool]:
    """Keep one delivered event; return its day and whether it was new (not a retry)."""
    day = report_day(event.occurred_at, settings.calendar.report_timezone)
    return day, store_event(engine, event, day)


def intraday_rules(settings: Settings) -> list[AlertRule]:
    """The alert rules the day's events alone can judge: a metric counted from events,
    compared with its thresholds as it is, over the whole company, firing on its first day."""
    return [
        r
        for r in settings.alert_rules
        if r.metric in EVENT_METRICS
        and r.comparison in ("above", "below")
        and r.scope == "total"
        and r.min_duration_days == 1
    ]


def metric_parts(metric: str, tallies: dict[str, EventTally]) -> dict[str, int]:
    """A metric's numerator and denominator over the events counted so far."""
    return {
        column: sum(tallies.get(name, EventTally()).count for name in names)
        for column, names in EVENT_METRICS[metric].items()
    }


def metric_value(metric: str, parts: dict[str, int]) -> float | None:
    """The metric from its parts, by the metric layer's own expression (None: nothing to
    measure yet, e.g. "no payments attempted")."""
    frame = pl.DataFrame({column: [n] for column, n in parts.items()})
    return frame.select(METRICS[metric].expression()).item()


def evaluate_day_so_far(
    settings: Settings, tallies: dict[str, EventTally], day: date
) -> list[dict]:
    """Every intraday rule on the day so far, in the daily alert list's shape (the one
    `plan_notices` and `alert_notice` read), plus the rate's parts. A day with fewer charges
    attempted than `intraday.min_payment_attempts` is not judged yet (severity info)."""
    out = []
    for rule in intraday_rules(settings):
        m = METRICS[rule.metric]
        parts = metric_parts(rule.metric, tallies)
        value = metric_value(rule.metric, parts)
        history = pl.DataFrame(
            {"date": [day], "metric": [rule.metric], "scope": ["total"], "value": [value]},
            schema=LONG_SCHEMA,
        )
        ev = evaluate_rule(rule, history, day)
        volume, least = parts[m.denominator], settings.intraday.min_payment_attempts
        if volume < least and ev["severity"] != "info":
            ev.update(
                severity="info",
                threshold=rule.warning,
                breaching_since=None,
                consecutive_days=0,
                message=f"{rule.metric} is {value:.4g} over only {volume} "
                f"{m.parts[1]} so far; the day is judged from {least}",
            )
        ev.update(numerator=parts[m.numerator], denominator=volume)
        out.append(ev)
    return out


def intraday_card(
    settings: Settings,
    notice: Notice,
    tallies: dict[str, EventTally],
    through: datetime | None,
    base_url: str = "",
) -> AlertNotice:
    """The alert's card, as the daily path makes it, saying the figure is the day so far."""
    ev = notice.evaluation
    day = ev["date"]
    failed = tallies.get(FAILED_PAYMENT, EventTally()).amount_minor / 100
    revenue = pl.DataFrame({"date": [day], "plan": ["total"], "failed_payment_amount": [failed]})
    card = alert_notice(
        ev,
        settings,
        revenue,
        None,
        action=notice.action,
        reminder=notice.number - 1 if notice.action == "reminder" else 0,
        base_url=base_url,
    )
    num, den = METRICS[ev["metric"]].parts
    clock = ""
    if through is not None:
        local = through.astimezone(ZoneInfo(settings.calendar.report_timezone))
        clock = f" (to {local:%H:%M} {local.tzname()})"
    measured = f"{ev['numerator']} {num} of {ev['denominator']} {den}, the day so far{clock}"
    # The day's report is made tomorrow: no link to it yet.
    links = [(label, url) for label, url in card.links if "/daily_executive/" not in url]
    return replace(
        card,
        title=f"{card.title}, so far today",
        facts=[*card.facts, ("Measured", measured)],
        links=links,
    )


def check_intraday_alerts(
    settings: Settings,
    engine: sa.Engine,
    day: date,
    *,
    now: datetime | None = None,
    base_url: str = "",
) -> list[dict]:
    """Judge `day` so far and send what `plan_notices` decides for its critical breaches (a
    new episode, or a reminder once the re-notify interval has passed); return the sends.

    Days before yesterday are left to the daily path, which has them whole. A breach that is
    no longer critical resolves nothing here: only a whole day can say it is over."""
    now = now or datetime.now(UTC)
    if day < today(settings.calendar.report_timezone) - timedelta(days=1):
        return []
    renotify = timedelta(minutes=settings.notifications.critical_alerts.renotify_minutes)

    def plan() -> tuple[dict[str, EventTally], list[Notice]]:
        tallies = day_tally(engine, day, COUNTED_EVENTS)
        critical = [
            ev for ev in evaluate_day_so_far(settings, tallies, day) if ev["severity"] == "critical"
        ]
        if not critical:
            return tallies, []
        return tallies, plan_notices(critical, alert_episodes(engine), now, renotify)

    tallies, notices = plan()
    if not notices:  # the usual case decides without waiting for the lock
        return []
    sent = []
    with alert_lock(engine):
        tallies, notices = plan()  # again: another request may have announced it meanwhile
        episodes = alert_episodes(engine)
        through = last_event_at(engine, day)
        for notice in notices:
            card = intraday_card(settings, notice, tallies, through, base_url)
            ev = notice.evaluation
            result = announce(
                settings,
                engine,
                notice,
                card,
                base_url,
                details={
                    "measured": "day so far",
                    "numerator": ev["numerator"],
                    "denominator": ev["denominator"],
                },
            )
            # The episode has taken in the days before this one only: the daily evaluation of
            # this whole day still counts (a reminder, or the end of the episode).
            state = episodes.get((notice.rule, notice.scope))
            before = (day - timedelta(days=1)).isoformat()
            save_state(engine, notice, now, last_day=max(before, (state and state.last_day) or ""))
            sent.append(
                {
                    "action": notice.action,
                    "rule": notice.rule,
                    "day": notice.day,
                    "number": notice.number,
                    "value": ev["value"],
                    "channels": result,
                }
            )
    return sent


def evaluate_quietly(settings: Settings, engine: sa.Engine, day: date, base_url: str) -> None:
    """`check_intraday_alerts` after a delivery has been answered: a failure is logged (the
    next event judges the day again), never lost in a closed connection."""
    try:
        for s in check_intraday_alerts(settings, engine, day, base_url=base_url):
            log.info("intraday %s %s (%s): %s", s["action"], s["rule"], s["day"], s["channels"])
    except Exception:
        log.exception("intraday alert evaluation of %s failed", day)


def hook_body(
    event: str,
    moment: datetime,
    properties: dict,
    *,
    uuid: str | None = None,
    distinct_id: str = "",
    legacy: bool = False,
) -> dict:
    """A body as PostHog's webhook destination posts it (default body; `legacy`: the event's
    name under `name`, as older versions sent it). For tests and the demo replay."""
    uuid = uuid or str(uuid_lib.uuid4())
    stamp = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    ev = {
        "uuid": uuid,
        "name" if legacy else "event": event,
        "distinct_id": distinct_id,
        "properties": properties,
        "elements_chain": "",
        "timestamp": stamp,
        "url": f"https://us.posthog.com/project/1/events/{uuid}/{stamp}",
    }
    person = {
        "id": str(uuid_lib.uuid5(uuid_lib.NAMESPACE_URL, distinct_id)),
        "properties": {"account_id": properties.get("account_id")},
        "name": distinct_id,
        "url": f"https://us.posthog.com/project/1/person/{distinct_id}",
    }
    return {"event": ev, "person": person}
