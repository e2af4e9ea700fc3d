"""The demo company's warehouse data: cloud and vendor costs, incidents, tickets, deploys,
strategic initiatives and the industry benchmark table.

Every table is drawn day by day from a seeded stream per (seed, day, table), so a day's rows do
not change when the range is extended.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from reporting_assets.demo.accounts import WEEKDAY_FACTOR
from reporting_assets.lib.days import day_bounds_utc

# (service, vendor, team, base daily USD, share that scales with usage)
COST_LINES = (
    ("compute", "AWS", "platform", 1450.0, 0.7),
    ("compute", "AWS", "data", 620.0, 0.6),
    ("database", "AWS", "platform", 780.0, 0.4),
    ("object_storage", "AWS", "data", 210.0, 0.2),
    ("cdn", "Cloudflare", "platform", 160.0, 0.5),
    ("data_warehouse", "Snowflake", "data", 540.0, 0.5),
    ("observability", "Datadog", "platform", 330.0, 0.3),
    ("email_delivery", "SendGrid", "product", 45.0, 0.6),
    ("support_desk", "Zendesk", "support", 120.0, 0.1),
    ("product_analytics", "PostHog", "product", 95.0, 0.6),
    # An idle cluster nobody uses any more: steady spend with no usage behind it.
    ("legacy_search", "Elastic", "product", 85.0, 0.0),
)
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
SEVERITY_MIX = np.array([0.05, 0.2, 0.45, 0.3])
RESOLVE_MEDIAN_H = np.array([2.5, 5.0, 14.0, 40.0])
SERVICES = ("api", "web-app", "billing", "ingestion", "notifications", "search")
PRIORITIES = ("urgent", "high", "normal", "low")
PRIORITY_MIX = np.array([0.06, 0.22, 0.55, 0.17])
SLA_FIRST_RESPONSE_H = np.array([1.0, 4.0, 8.0, 24.0])
SLA_RESOLUTION_H = np.array([8.0, 24.0, 72.0, 120.0])
TICKET_CATEGORIES = ("billing", "bug", "how_to", "integration", "access", "performance")


def _rng(seed: int, day: date, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, day.toordinal(), 1000 + stream])


def _naive_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=None)


def cloud_costs(
    seed: int, days: list[date], activity: dict[date, float], cost_spike: date | None
) -> pl.DataFrame:
    """Daily spend per service, vendor and team; usage-driven lines follow product activity."""
    rows = []
    for day in days:
        rng = _rng(seed, day, 1)
        t = (day - days[0]).days
        for service, vendor, team, base, usage_share in COST_LINES:
            level = base * (1 + 0.0007 * t)
            cost = level * ((1 - usage_share) + usage_share * activity[day])
            cost *= rng.normal(1.0, 0.035)
            if cost_spike == day and service == "compute" and team == "data":
                cost *= 3.5
            # How busy the resources behind the line were; the idle cluster barely works.
            busy = 0.03 if usage_share == 0 else 0.45 + 0.3 * min(activity[day], 1.3) / 1.3
            utilization = float(np.clip(busy + rng.normal(0, 0.02), 0.0, 1.0))
            rows.append(
                (day, service, vendor, team, round(max(cost, 0.0), 2), round(utilization, 4))
            )
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "cost_date": pl.Date,
            "service": pl.String,
            "vendor": pl.String,
            "team": pl.String,
            "cost_usd": pl.Float64,
            "utilization": pl.Float64,
        },
    )


def budgets(days: list[date]) -> pl.DataFrame:
    """Monthly budget per service and team: last year's run rate plus planned growth."""
    months = sorted({d.replace(day=1) for d in days})
    rows = []
    for m in months:
        t = (m - days[0]).days + 15
        n = calendar.monthrange(m.year, m.month)[1]
        expected_activity = (1 + 0.0009 * t) * float(WEEKDAY_FACTOR.mean())
        for service, _vendor, team, base, usage_share in COST_LINES:
            daily = base * (1 + 0.0007 * t) * ((1 - usage_share) + usage_share * expected_activity)
            rows.append((m, service, team, round(daily * n * 1.04, 2), n))
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "month_start": pl.Date,
            "service": pl.String,
            "team": pl.String,
            "monthly_budget_usd": pl.Float64,
            "days_in_month": pl.Int64,
        },
    )


def savings_opportunities(seed: int, days: list[date]) -> pl.DataFrame:
    """Cost-saving opportunities found by FinOps reviews, and what each has saved so far."""
    rng = np.random.default_rng([seed, 77])
    rows = []
    day = days[0] + timedelta(days=10)
    n = 0
    while day <= days[-1]:
        service, _vendor, team, base, _ = COST_LINES[int(rng.integers(len(COST_LINES)))]
        monthly = round(base * 30 * float(rng.uniform(0.04, 0.18)), 2)
        realized_on = day + timedelta(days=int(rng.integers(10, 75)))
        realized = realized_on <= days[-1] and rng.random() < 0.7
        rows.append(
            (
                f"sav_{n:03d}",
                day,
                service,
                team,
                f"Rightsize {service.replace('_', ' ')} for the {team} team",
                monthly,
                realized_on if realized else None,
                round(monthly * float(rng.uniform(0.5, 1.0)), 2) if realized else None,
            )
        )
        n += 1
        day += timedelta(days=int(rng.integers(9, 20)))
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "opportunity_id": pl.String,
            "identified_date": pl.Date,
            "service": pl.String,
            "team": pl.String,
            "description": pl.String,
            "monthly_savings_usd": pl.Float64,
            "realized_date": pl.Date,
            "realized_monthly_savings_usd": pl.Float64,
        },
    )


def _instants(rng: np.random.Generator, day: date, tz: ZoneInfo, n: int) -> list[datetime]:
    start, end = day_bounds_utc(day, tz)
    length = (end - start).total_seconds()
    return [_naive_utc(start + timedelta(seconds=float(s))) for s in rng.random(n) * length]


def incidents(seed: int, days: list[date], tz: ZoneInfo, surge: date | None) -> pl.DataFrame:
    """Production incidents: when opened and resolved (UTC), severity and service."""
    rows = []
    for day in days:
        rng = _rng(seed, day, 2)
        n = int(rng.poisson(0.45))
        sev = list(rng.choice(4, n, p=SEVERITY_MIX))
        if surge == day:
            n, sev = 7, [0, 0, 1, 1, 2, 2, 3]
        for k, opened in enumerate(_instants(rng, day, tz, n)):
            s = int(sev[k])
            hours = float(rng.lognormal(np.log(RESOLVE_MEDIAN_H[s]), 0.6))
            rows.append(
                (
                    f"inc_{day:%Y%m%d}_{k}",
                    opened,
                    opened + timedelta(hours=hours),
                    SEVERITIES[s],
                    SERVICES[int(rng.integers(len(SERVICES)))],
                    f"{SEVERITIES[s].upper()}: degraded {SERVICES[int(rng.integers(6))]}",
                )
            )
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "incident_id": pl.String,
            "opened_at": pl.Datetime("us"),
            "resolved_at": pl.Datetime("us"),
            "severity": pl.String,
            "service": pl.String,
            "title": pl.String,
        },
    )


def support_tickets(
    seed: int, days: list[date], tz: ZoneInfo, live_accounts: dict[date, list[str]]
) -> pl.DataFrame:
    """Support tickets: opened, first response and resolution (UTC), priority and SLA hours."""
    rows = []
    for day in days:
        rng = _rng(seed, day, 3)
        accounts = live_accounts[day]
        n = int(rng.poisson(len(accounts) * 0.018 * WEEKDAY_FACTOR[day.weekday()]))
        for k, opened in enumerate(_instants(rng, day, tz, n)):
            p = int(rng.choice(4, p=PRIORITY_MIX))
            weekend = 1.2 if day.weekday() >= 5 else 1.0
            first = float(rng.gamma(2.0, SLA_FIRST_RESPONSE_H[p] * 0.2 * weekend))
            resolve = first + float(rng.gamma(2.0, SLA_RESOLUTION_H[p] * 0.28))
            rows.append(
                (
                    f"tkt_{day:%Y%m%d}_{k:03d}",
                    accounts[int(rng.integers(len(accounts)))],
                    opened,
                    opened + timedelta(hours=first),
                    opened + timedelta(hours=resolve),
                    PRIORITIES[p],
                    TICKET_CATEGORIES[int(rng.integers(len(TICKET_CATEGORIES)))],
                    float(SLA_FIRST_RESPONSE_H[p]),
                    float(SLA_RESOLUTION_H[p]),
                )
            )
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "ticket_id": pl.String,
            "account_id": pl.String,
            "opened_at": pl.Datetime("us"),
            "first_response_at": pl.Datetime("us"),
            "resolved_at": pl.Datetime("us"),
            "priority": pl.String,
            "category": pl.String,
            "sla_first_response_hours": pl.Float64,
            "sla_resolution_hours": pl.Float64,
        },
    )


def deploys(seed: int, days: list[date], tz: ZoneInfo) -> pl.DataFrame:
    """Deploys and data pipeline runs, with their outcome."""
    rows = []
    for day in days:
        rng = _rng(seed, day, 4)
        start, _ = day_bounds_utc(day, tz)
        n_deploys = int(rng.poisson(7 if day.weekday() < 5 else 1))
        for k, at in enumerate(_instants(rng, day, tz, n_deploys)):
            ok = rng.random() > 0.04
            rows.append(
                (
                    f"dep_{day:%Y%m%d}_{k:02d}",
                    "deploy",
                    SERVICES[int(rng.integers(len(SERVICES)))],
                    at,
                    at + timedelta(minutes=float(rng.uniform(4, 25))),
                    "success" if ok else "failed",
                )
            )
        for k in range(24):  # hourly pipeline runs
            at = _naive_utc(start + timedelta(hours=k, minutes=5))
            ok = rng.random() > 0.02
            rows.append(
                (
                    f"pipe_{day:%Y%m%d}_{k:02d}",
                    "pipeline",
                    "warehouse_sync",
                    at,
                    at + timedelta(minutes=float(rng.uniform(3, 12))),
                    "success" if ok else "failed",
                )
            )
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "run_id": pl.String,
            "kind": pl.String,
            "service": pl.String,
            "started_at": pl.Datetime("us"),
            "finished_at": pl.Datetime("us"),
            "status": pl.String,
        },
    )
