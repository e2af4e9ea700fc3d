"""The demo company's product events as PostHog would export them: time-ordered UUIDs, instants
busiest in office hours, lifecycle events and the day's usage."""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from reporting_assets.demo.accounts import (
    FEATURES,
    PAGES,
    STATUS_ACTIVE,
    STATUS_PAST_DUE,
    STATUS_TRIAL,
    Accounts,
)
from reporting_assets.lib.days import day_bounds_utc
from reporting_assets.lib.plans import PLANS


def timestamps(rng: np.random.Generator, day: date, n: int, tz: ZoneInfo) -> np.ndarray:
    """Event instants inside the local day, busiest in office hours (µs since epoch, UTC)."""
    start, end = day_bounds_utc(day, tz)
    length_us = int((end - start).total_seconds() * 1_000_000)
    # A mixture: 80 % around office hours (13:00 ± 3.5 h local), 20 % spread over the day.
    office = rng.normal(13 / 24, 3.5 / 24, n)
    spread = rng.random(n)
    frac = np.where(rng.random(n) < 0.8, office, spread)
    frac = np.mod(frac, 1.0)
    offsets = np.minimum((frac * length_us).astype(np.int64), length_us - 1)
    return int(start.timestamp() * 1_000_000) + offsets


def uuids(rng: np.random.Generator, ts_us: np.ndarray) -> list[str]:
    """Time-ordered UUIDv7-style identifiers, as PostHog assigns them."""
    ms = ts_us // 1000
    rand_a = rng.integers(0, 1 << 12, len(ts_us))
    rand_b = rng.integers(0, 1 << 62, len(ts_us), dtype=np.int64)
    hi = (ms.astype(np.uint64) << np.uint64(16)) | np.uint64(0x7000) | rand_a.astype(np.uint64)
    lo = np.uint64(0x8000000000000000) | rand_b.astype(np.uint64)
    h = np.char.mod("%016x", hi)
    lw = np.char.mod("%016x", lo)
    return [f"{x[:8]}-{x[8:12]}-{x[12:16]}-{y[:4]}-{y[4:]}" for x, y in zip(h, lw, strict=True)]


def event_frame(
    rng: np.random.Generator,
    day: date,
    tz: ZoneInfo,
    account_idx: np.ndarray,
    user_no: np.ndarray,
    event: list[str] | np.ndarray,
    properties: pl.Series,
) -> pl.DataFrame:
    n = len(account_idx)
    ts = timestamps(rng, day, n, tz)
    ingest_lag = rng.integers(200_000, 5_000_000, n)
    accounts = pl.Series("a", account_idx, dtype=pl.Int64)
    distinct = pl.format(
        "u_{}_{}", accounts.cast(pl.String).str.zfill(5), pl.Series(user_no).cast(pl.String)
    )
    frame = pl.DataFrame(
        {
            "uuid": pl.Series(uuids(rng, ts), dtype=pl.String),
            "event": pl.Series(event, dtype=pl.String),
            "timestamp_us": ts,
            "ingest_us": ts + ingest_lag,
            "acct": accounts,
            "properties": properties,
        }
    ).with_columns(
        distinct_id=distinct,
        person_id=pl.format(
            "p_{}_{}", accounts.cast(pl.String).str.zfill(5), pl.Series(user_no).cast(pl.String)
        ),
    )
    return frame.select(
        "uuid",
        "event",
        "distinct_id",
        "person_id",
        "properties",
        pl.format('{{"account_id":"acct_{}"}}', pl.col("acct").cast(pl.String).str.zfill(5)).alias(
            "person_properties"
        ),
        pl.lit("").alias("elements_chain"),
        pl.from_epoch("timestamp_us", time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("timestamp"),
        pl.from_epoch("ingest_us", time_unit="us").dt.replace_time_zone("UTC").alias("created_at"),
        pl.from_epoch("ingest_us", time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("_inserted_at"),
    )


def lifecycle_frame(
    rng: np.random.Generator, day: date, tz: ZoneInfo, lifecycle: list[dict]
) -> pl.DataFrame:
    idx = np.array([e["idx"] for e in lifecycle], dtype=np.int64)
    props = pl.Series(
        "properties",
        [
            json.dumps({**e["properties"], "$lib": "posthog-node"}, separators=(",", ":"))
            for e in lifecycle
        ],
        dtype=pl.String,
    )
    return event_frame(
        rng,
        day,
        tz,
        idx,
        np.zeros(len(idx), dtype=np.int64),
        [e["event"] for e in lifecycle],
        props,
    )


def usage_events(
    rng: np.random.Generator,
    day: date,
    tz: ZoneInfo,
    a: Accounts,
    events_per_day: int,
    activity: float,
    already: int,
) -> pl.DataFrame:
    """The day's product usage: page views, feature use and page leaves of the live accounts,
    weighted by seats and engagement."""
    status = np.array(a.status)
    live = np.flatnonzero(np.isin(status, (STATUS_TRIAL, STATUS_ACTIVE, STATUS_PAST_DUE)))
    n = max(0, int(events_per_day * activity / 1.06 * rng.uniform(0.97, 1.03)) - already)
    if n == 0 or len(live) == 0:
        return event_frame(
            rng,
            day,
            tz,
            np.zeros(0, dtype=np.int64),
            np.zeros(0, np.int64),
            [],
            pl.Series("properties", [], dtype=pl.String),
        )
    weight = np.array(a.seats)[live] ** 0.7 * np.array(a.engagement)[live]
    chosen = live[rng.choice(len(live), n, p=weight / weight.sum())]
    seats = np.array(a.seats)[chosen]
    user_no = (rng.random(n) * np.minimum(seats, 50)).astype(np.int64)
    kind = rng.random(n)
    event = np.where(kind < 0.62, "$pageview", np.where(kind < 0.93, "feature_used", "$pageleave"))
    plan = np.array(PLANS)[np.array(a.plan)[chosen]]
    page = np.array(PAGES)[rng.integers(0, len(PAGES), n)]
    feature = np.array(FEATURES)[rng.integers(0, len(FEATURES), n)]
    acct = pl.Series(chosen).cast(pl.String).str.zfill(5)
    props = (
        pl.DataFrame({"event": event, "plan": plan, "page": page, "feature": feature, "acct": acct})
        .select(
            pl.when(pl.col("event") == "feature_used")
            .then(
                pl.format(
                    '{{"account_id":"acct_{}","plan":"{}","feature":"{}","$lib":"web"}}',
                    "acct",
                    "plan",
                    "feature",
                )
            )
            .otherwise(
                pl.format(
                    '{{"account_id":"acct_{}","plan":"{}","$current_url":'
                    '"https://app.northwind.example{}","$pathname":"{}","$lib":"web"}}',
                    "acct",
                    "plan",
                    "page",
                    "page",
                )
            )
            .alias("properties")
        )
        .to_series()
    )
    return event_frame(rng, day, tz, chosen, user_no, event, props)
