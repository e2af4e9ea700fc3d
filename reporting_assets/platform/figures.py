"""The platform's service-level figures as plain functions (no Dagster): which report periods a
day closes and when each is due, run times against their targets, landing to delivery, delivery
success and its causes, live-stream latency, availability, and whether each report was on time.

A platform day D covers the report periods that end on D (the daily report of D, the week that
ends on Saturday D, the month that ends on D), which are all due the day after; and what the web
app measured during D (latency, availability)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from reporting_assets.platform.causes import failure_cause

CADENCES = ("daily", "weekly", "monthly")
ON_TIME, LATE, MISSING, NOT_DUE = "on time", "late", "missing", "not due yet"


def periods_ending_on(day: date) -> dict[str, str]:
    """{cadence: partition key} of the periods that end on `day`: the day itself, the
    Sunday-to-Saturday week when `day` is a Saturday, the month when it is the month's last."""
    keys = {"daily": day.isoformat()}
    if day.weekday() == 5:
        keys["weekly"] = (day - timedelta(days=6)).isoformat()
    if (day + timedelta(days=1)).day == 1:
        keys["monthly"] = day.replace(day=1).isoformat()
    return keys


def period_days(cadence: str, key: str) -> list[date]:
    """Every day of the period with partition key `key`."""
    first = date.fromisoformat(key)
    if cadence == "daily":
        return [first]
    if cadence == "weekly":
        return [first + timedelta(days=i) for i in range(7)]
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return [first + timedelta(days=i) for i in range((nxt - first).days)]


def deadline(last_day: date, deadline_cron: str, timezone: str) -> datetime:
    """When a period ending on `last_day` is due: the hour and minute of its freshness cron on
    the day after, in the report time zone (each report's cron fires then: daily 07:30, the
    weekly Sunday 19:00, the monthly 01:00 on the 1st). DST-correct."""
    minute, hour = (int(x) for x in deadline_cron.split()[:2])
    return datetime.combine(last_day + timedelta(days=1), time(hour, minute), ZoneInfo(timezone))


def job_cadence(job: str, report_cadences: Mapping[str, str]) -> str | None:
    """The cadence of a job by its name (`daily_…`, `weekly_…`, `monthly_…`), or of the report a
    `<report>_delivery_job` delivers; None for any other job."""
    report = job.removesuffix("_delivery_job")
    if job.endswith("_delivery_job") and report in report_cadences:
        return report_cadences[report]
    prefix = job.split("_", 1)[0]
    return prefix if prefix in CADENCES else None


def job_report(job: str, report_cadences: Mapping[str, str]) -> str | None:
    """The report a job renders or delivers: `<cadence>_report_job` renders that cadence's
    report (when only one report has it), `<report>_delivery_job` delivers `<report>`."""
    if job.endswith("_delivery_job"):
        report = job.removesuffix("_delivery_job")
        return report if report in report_cadences else None
    cadence = job.removesuffix("_report_job")
    if job.endswith("_report_job") and cadence in CADENCES:
        reports = [r for r, c in report_cadences.items() if c == cadence]
        return reports[0] if len(reports) == 1 else None
    return None


@dataclass(frozen=True)
class RunTiming:
    """One finished Dagster run: which job, which partition, how it ended, when it ran."""

    run_id: str
    job: str
    partition: str
    status: str
    start: datetime | None
    end: datetime | None


GENERATION_SCHEMA = {
    "job": pl.String,
    "report": pl.String,
    "cadence": pl.String,
    "partition": pl.String,
    "run_id": pl.String,
    "status": pl.String,
    "minutes": pl.Float64,
    "target_minutes": pl.Float64,
    "within_target": pl.Boolean,
}


def generation_times(
    runs: Iterable[RunTiming],
    day: date,
    report_cadences: Mapping[str, str],
    targets: Mapping[str, float],
) -> pl.DataFrame:
    """Each finished run of a daily, weekly or monthly job for a period ending on `day`, its
    minutes from start to end against its cadence's target."""
    keys = periods_ending_on(day)
    rows = []
    for run in runs:
        cadence = job_cadence(run.job, report_cadences)
        if cadence is None or keys.get(cadence) != run.partition or not (run.start and run.end):
            continue
        minutes = (run.end - run.start).total_seconds() / 60
        rows.append(
            {
                "job": run.job,
                "report": job_report(run.job, report_cadences),
                "cadence": cadence,
                "partition": run.partition,
                "run_id": run.run_id,
                "status": run.status,
                "minutes": minutes,
                "target_minutes": targets[cadence],
                "within_target": minutes <= targets[cadence],
            }
        )
    return pl.DataFrame(rows, schema=GENERATION_SCHEMA).sort("job", "run_id")


LANDING_SCHEMA = {
    "report": pl.String,
    "cadence": pl.String,
    "period": pl.String,
    "channel": pl.String,
    "landed_at": pl.Datetime("us", "UTC"),
    "delivered_at": pl.Datetime("us", "UTC"),
    "minutes": pl.Float64,
    "target_minutes": pl.Float64,
    "within_target": pl.Boolean,
}


def landing_to_delivery(
    landings: Mapping[tuple[str, str], list[datetime]],
    deliveries: Iterable[Mapping],
    targets: Mapping[str, float],
) -> pl.DataFrame:
    """Minutes from the data landing to each channel's first delivery of a report period.

    `landings[(report, period)]` are the times the period's source partitions first landed;
    the data a delivery carried landed at the latest of those not after the delivery. Each of
    `deliveries` is {report, cadence, period, channel, sent_at} (first sent on that channel)."""
    rows = []
    for d in deliveries:
        sent = d["sent_at"]
        before = [t for t in landings.get((d["report"], d["period"]), []) if t <= sent]
        landed = max(before) if before else None
        minutes = (sent - landed).total_seconds() / 60 if landed else None
        target = targets[d["cadence"]]
        rows.append(
            {
                **{k: d[k] for k in ("report", "cadence", "period", "channel")},
                "landed_at": landed,
                "delivered_at": sent,
                "minutes": minutes,
                "target_minutes": target,
                "within_target": None if minutes is None else minutes <= target,
            }
        )
    return pl.DataFrame(rows, schema=LANDING_SCHEMA).sort("report", "channel")


SUCCESS_SCHEMA = {
    "scope": pl.String,
    "name": pl.String,
    "sent": pl.Int64,
    "failed": pl.Int64,
    "open": pl.Int64,
    "success_rate": pl.Float64,
    "target": pl.Float64,
    "meets_target": pl.Boolean,
}
CAUSE_SCHEMA = {
    "report": pl.String,
    "channel": pl.String,
    "kind": pl.String,
    "cause": pl.String,
    "deliveries": pl.Int64,
}


def delivery_success(rows: Iterable[Mapping], target: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Delivery success per channel and per report, and the failures by cause.

    `rows` are ledger rows {report, channel, status, last_error, provider_response}. Success is
    sent / (sent + refused for good); rows still pending or in doubt are `open`, counted
    neither way. A scope with nothing decided has no rate and misses nothing."""
    rows = list(rows)
    out = []
    for scope in ("channel", "report"):
        for name in sorted({r[scope] for r in rows}):
            mine = [r for r in rows if r[scope] == name]
            sent = sum(r["status"] == "sent" for r in mine)
            failed = sum(r["status"] == "failed_permanent" for r in mine)
            rate = sent / (sent + failed) if sent + failed else None
            out.append(
                {
                    "scope": scope,
                    "name": name,
                    "sent": sent,
                    "failed": failed,
                    "open": len(mine) - sent - failed,
                    "success_rate": rate,
                    "target": target,
                    "meets_target": rate is None or rate >= target,
                }
            )
    # Refused for good (bounces), and still pending after a transient failure.
    failures = [
        r
        for r in rows
        if r["status"] == "failed_permanent" or (r["status"] == "pending" and r["last_error"])
    ]
    causes: dict[tuple, int] = {}
    for r in failures:
        answer = " ".join(filter(None, (r["last_error"], r["provider_response"])))
        key = (r["report"], r["channel"], *failure_cause(answer))
        causes[key] = causes.get(key, 0) + 1
    cause_rows = [dict(zip(CAUSE_SCHEMA, (*k, n), strict=True)) for k, n in causes.items()]
    return (
        pl.DataFrame(out, schema=SUCCESS_SCHEMA),
        pl.DataFrame(cause_rows, schema=CAUSE_SCHEMA).sort("report", "channel", "cause"),
    )


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` of the values are at or below it); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


LATENCY_SCHEMA = {
    "measured": pl.Int64,
    "percentile": pl.Float64,
    "seconds": pl.Float64,
    "max_seconds": pl.Float64,
    "target_s": pl.Float64,
    "within_target": pl.Boolean,
}
AVAILABILITY_SCHEMA = {
    "probes": pl.Int64,
    "down": pl.Int64,
    "availability": pl.Float64,
    "target": pl.Float64,
    "meets_target": pl.Boolean,
}


def latency_summary(seconds: list[float], share: float, target_s: float) -> dict:
    """The day's live-stream latency: how many measured, the percentile, the worst, and whether
    the percentile is within the target (no measurement: nothing to miss)."""
    p = percentile(seconds, share)
    return {
        "measured": len(seconds),
        "percentile": share,
        "seconds": p,
        "max_seconds": max(seconds) if seconds else None,
        "target_s": target_s,
        "within_target": p is None or p <= target_s,
    }


def availability_summary(ups: list[bool], target: float) -> dict:
    """The share of the day's health probes answered OK, against the target."""
    share = sum(ups) / len(ups) if ups else None
    return {
        "probes": len(ups),
        "down": len(ups) - sum(ups),
        "availability": share,
        "target": target,
        "meets_target": share is None or share >= target,
    }


FRESHNESS_SCHEMA = {
    "report": pl.String,
    "cadence": pl.String,
    "period": pl.String,
    "deadline": pl.Datetime("us", "UTC"),
    "first_materialized": pl.Datetime("us", "UTC"),
    "minutes_late": pl.Float64,
    "status": pl.String,
}


def freshness(items: Iterable[Mapping], now: datetime) -> pl.DataFrame:
    """Whether each report period was there by its deadline.

    Each item is {report, cadence, period, deadline, first_materialized}: the *first* time the
    period was materialized, so a later re-run or backfill never makes a late period on time.
    `late`: first materialized after the deadline; `missing`: not materialized and the deadline
    has passed; `not due yet`: neither, before the deadline."""
    rows = []
    for item in items:
        due, first = item["deadline"], item["first_materialized"]
        if first is not None:
            status = ON_TIME if first <= due else LATE
            late = max(0.0, (first - due).total_seconds() / 60)
        else:
            status = MISSING if now > due else NOT_DUE
            late = max(0.0, (now - due).total_seconds() / 60) if now > due else 0.0
        rows.append(
            {
                **{k: item[k] for k in ("report", "cadence", "period", "deadline")},
                "first_materialized": first,
                "minutes_late": late,
                "status": status,
            }
        )
    return pl.DataFrame(rows, schema=FRESHNESS_SCHEMA).sort("report")
