"""The demo company's product events as PostHog would export them: time-ordered UUIDs, instants
busiest in office hours, lifecycle events and the day's usage.

A busy day is built `CHUNK_EVENTS` events at a time, so memory stays bounded however many events
a day holds; the events are the same whatever the chunk size.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa

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

# Events built at a time: a million events take a few hundred MB while they are built and written.
CHUNK_EVENTS = 1_000_000

Draw = Callable[[np.random.Generator, int], np.ndarray]

# Each event's instant, ingestion lag and UUID bits, in the order the day's stream draws them.
# Reordering the draws changes every demo event.
STAMP_DRAWS: dict[str, Draw] = {
    # A mixture: 80 % around office hours (13:00 ± 3.5 h local), 20 % spread over the day.
    "office": lambda rng, m: rng.normal(13 / 24, 3.5 / 24, m),
    "spread": lambda rng, m: rng.random(m),
    "mixture": lambda rng, m: rng.random(m),
    "ingest_lag": lambda rng, m: rng.integers(200_000, 5_000_000, m),
    "uuid_a": lambda rng, m: rng.integers(0, 1 << 12, m),
    "uuid_b": lambda rng, m: rng.integers(0, 1 << 62, m, dtype=np.int64),
}


def chunk_sizes(n: int, size: int) -> list[int]:
    """How many events each chunk of a day of `n` events holds (one chunk when n <= size)."""
    if n <= size:
        return [n]
    return [size] * (n // size) + ([n % size] if n % size else [])


class Draws:
    """`n` values of each named draw from one random stream, handed out a chunk at a time.

    The values are exactly those of drawing all `n` of the first, then all `n` of the next, and
    so on, as a day drawn in one go does. NumPy draws the same values in pieces as at once, so
    each draw reads from its own copy of the stream, moved past the draws before it. Either way
    `rng` ends where the whole draws leave it, so what the day draws next does not change.
    """

    def __init__(self, rng: np.random.Generator, n: int, draws: dict[str, Draw], size: int):
        self._draws = draws
        self._sizes = chunk_sizes(n, size)
        self._whole: dict[str, np.ndarray] | None = None
        self._streams: dict[str, np.random.Generator] = {}
        if len(self._sizes) == 1:
            self._whole = {name: draw(rng, n) for name, draw in draws.items()}
            return
        for name, draw in draws.items():
            self._streams[name] = copy.deepcopy(rng)
            for m in self._sizes:
                draw(rng, m)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        if self._whole is not None:
            yield self._whole
            return
        for m in self._sizes:
            yield {name: draw(self._streams[name], m) for name, draw in self._draws.items()}


def instants(day: date, tz: ZoneInfo, d: dict[str, np.ndarray]) -> np.ndarray:
    """Event instants inside the local day, busiest in office hours (µs since epoch, UTC)."""
    start, end = day_bounds_utc(day, tz)
    length_us = int((end - start).total_seconds() * 1_000_000)
    frac = np.mod(np.where(d["mixture"] < 0.8, d["office"], d["spread"]), 1.0)
    offsets = np.minimum((frac * length_us).astype(np.int64), length_us - 1)
    return int(start.timestamp() * 1_000_000) + offsets


# Each byte's two lowercase hex digits, and where the 32 digits go in the dashed 8-4-4-4-12 form.
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)
_UUID_GROUPS = ((0, 0, 8), (9, 8, 12), (14, 12, 16), (19, 16, 20), (24, 20, 32))


def uuids(ts_us: np.ndarray, rand_a: np.ndarray, rand_b: np.ndarray) -> pl.Series:
    """Time-ordered UUIDv7-style identifiers, as PostHog assigns them."""
    n = len(ts_us)
    words = np.empty((n, 2), dtype=">u8")
    words[:, 0] = (
        ((ts_us // 1000).astype(np.uint64) << np.uint64(16))
        | np.uint64(0x7000)
        | rand_a.astype(np.uint64)
    )
    words[:, 1] = np.uint64(0x8000000000000000) | rand_b.astype(np.uint64)
    # Formatted as whole arrays of characters, straight into a string column: no Python strings.
    digits = _HEX_PAIRS[words.view(np.uint8).reshape(n, 16)].view(np.uint8)
    text = np.empty((n, 36), dtype=np.uint8)
    text[:, [8, 13, 18, 23]] = ord("-")
    for at, lo, hi in _UUID_GROUPS:
        text[:, at : at + hi - lo] = digits[:, lo:hi]
    offsets = np.arange(0, 36 * n + 1, 36, dtype=np.int64)
    strings = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))
    return pl.Series("uuid", strings)


def event_frame(
    day: date,
    tz: ZoneInfo,
    account_idx: np.ndarray,
    user_no: np.ndarray,
    event: pl.Series,
    properties: pl.Series,
    d: dict[str, np.ndarray],
) -> pl.DataFrame:
    """Events in PostHog's export columns, from their accounts, users, names, properties and
    the stamp draws (`STAMP_DRAWS`)."""
    ts = instants(day, tz, d)
    ingest = ts + d["ingest_lag"]
    acct = pl.col("acct").cast(pl.String).str.zfill(5)
    user = pl.col("user_no").cast(pl.String)
    frame = pl.DataFrame(
        {
            "uuid": uuids(ts, d["uuid_a"], d["uuid_b"]),
            "event": event.cast(pl.String),
            "acct": pl.Series(account_idx, dtype=pl.Int64),
            "user_no": pl.Series(user_no, dtype=pl.Int64),
            "properties": properties,
            "timestamp_us": ts,
            "ingest_us": ingest,
        }
    )
    utc = {
        name: pl.from_epoch(column, time_unit="us").dt.replace_time_zone("UTC")
        for name, column in (
            ("timestamp", "timestamp_us"),
            ("created_at", "ingest_us"),
            ("_inserted_at", "ingest_us"),
        )
    }
    return frame.select(
        "uuid",
        "event",
        pl.format("u_{}_{}", acct, user).alias("distinct_id"),
        pl.format("p_{}_{}", acct, user).alias("person_id"),
        "properties",
        pl.format('{{"account_id":"acct_{}"}}', acct).alias("person_properties"),
        pl.lit("").alias("elements_chain"),
        *(expr.alias(name) for name, expr in utc.items()),
    )


def lifecycle_frame(
    rng: np.random.Generator, day: date, tz: ZoneInfo, lifecycle: list[dict]
) -> pl.DataFrame:
    """The day's subscription and billing events (trials, purchases, cancellations, ...)."""
    idx = np.array([e["idx"] for e in lifecycle], dtype=np.int64)
    props = pl.Series(
        "properties",
        [
            json.dumps({**e["properties"], "$lib": "posthog-node"}, separators=(",", ":"))
            for e in lifecycle
        ],
        dtype=pl.String,
    )
    d = {name: draw(rng, len(idx)) for name, draw in STAMP_DRAWS.items()}
    events = pl.Series("event", [e["event"] for e in lifecycle], dtype=pl.String)
    return event_frame(day, tz, idx, np.zeros(len(idx), dtype=np.int64), events, props, d)


def usage_events(
    rng: np.random.Generator,
    day: date,
    tz: ZoneInfo,
    a: Accounts,
    events_per_day: int,
    activity: float,
    already: int,
    chunk_events: int = CHUNK_EVENTS,
) -> Iterator[pl.DataFrame]:
    """The day's product usage: page views, feature use and page leaves of the live accounts,
    weighted by seats and engagement, `chunk_events` at a time.

    The random draws are taken from `rng` when this is called (the day's later draws come after
    them); the events are built as the chunks are read.
    """
    status = np.array(a.status)
    live = np.flatnonzero(np.isin(status, (STATUS_TRIAL, STATUS_ACTIVE, STATUS_PAST_DUE)))
    n = max(0, int(events_per_day * activity / 1.06 * rng.uniform(0.97, 1.03)) - already)
    if n == 0 or len(live) == 0:
        return iter(())
    seats = np.array(a.seats)
    weight = seats[live] ** 0.7 * np.array(a.engagement)[live]
    p = weight / weight.sum()
    draws = Draws(
        rng,
        n,
        {
            "account": lambda g, m: g.choice(len(live), m, p=p),
            "user": lambda g, m: g.random(m),
            "kind": lambda g, m: g.random(m),
            "page": lambda g, m: g.integers(0, len(PAGES), m),
            "feature": lambda g, m: g.integers(0, len(FEATURES), m),
            **STAMP_DRAWS,
        },
        chunk_events,
    )
    plans = np.array(a.plan)
    return (_usage_frame(day, tz, live, seats, plans, d) for d in draws)


def _usage_frame(
    day: date,
    tz: ZoneInfo,
    live: np.ndarray,
    seats: np.ndarray,
    plans: np.ndarray,
    d: dict[str, np.ndarray],
) -> pl.DataFrame:
    chosen = live[d["account"]]
    user_no = (d["user"] * np.minimum(seats[chosen], 50)).astype(np.int64)
    kind = pl.col("kind")
    parts = pl.DataFrame(
        {
            "kind": d["kind"],
            "acct": pl.Series(chosen, dtype=pl.Int64).cast(pl.String).str.zfill(5),
            "plan": pl.Series(PLANS).gather(plans[chosen]),
            "page": pl.Series(PAGES).gather(d["page"]),
            "feature": pl.Series(FEATURES).gather(d["feature"]),
        }
    ).select(
        pl.when(kind < 0.62)
        .then(pl.lit("$pageview"))
        .when(kind < 0.93)
        .then(pl.lit("feature_used"))
        .otherwise(pl.lit("$pageleave"))
        .alias("event"),
        pl.when(kind.is_between(0.62, 0.93, closed="left"))
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
        .alias("properties"),
    )
    return event_frame(
        day, tz, chosen, user_no, parts.get_column("event"), parts.get_column("properties"), d
    )
