"""The day's product events reduced to what the daily metrics read, computed where the events
are: in DuckDB over the stored day, or by PostHog itself.

The account and revenue metrics never need the day's rows, only three small tables:

- `activity`: per account, its events, distinct users, page views and feature uses;
- `revenue_events`: the revenue events' rows with their typed properties (a few per account a
  day, however many events the day has);
- `events_by_plan`: how many events each plan sent (anonymous events under a null plan).

`RawAggregates` computes them from the stored day (the typed `posthog_events` partition) in
DuckDB within the engine's memory limit, so a day of any size aggregates in the same memory.
`PushdownAggregates` has PostHog compute them in HogQL on its ClickHouse, so only these tables
cross the network. Both give identical frames: the HogQL types each property exactly as
`lib.events.typed_events` does (see `_typed`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import polars as pl

from reporting_assets.lib.engine import EngineLimits, connect
from reporting_assets.lib.events import PROPERTY_TYPES
from reporting_assets.resources.posthog_api import (
    PostHogError,
    PostHogQueryClient,
    hogql_datetime,
    hogql_string,
)

# The events that move MRR or money; everything else is product usage.
REVENUE_EVENTS = (
    "subscription_created",
    "subscription_upgraded",
    "subscription_downgraded",
    "subscription_cancelled",
    "subscription_renewed",
    "payment_failed",
    "payment_recovered",
    "purchase_completed",
)
PAGEVIEW, FEATURE_USE = "$pageview", "feature_used"

ACTIVITY_SCHEMA = {
    "account_id": pl.String(),
    "events": pl.Int64(),
    "active_users": pl.Int64(),
    "pageviews": pl.Int64(),
    "feature_uses": pl.Int64(),
}
REVENUE_EVENT_SCHEMA = {
    "timestamp": pl.Datetime("us", "UTC"),
    "uuid": pl.String(),
    "event": pl.String(),
    "account_id": pl.String(),
    "plan": pl.String(),
    "amount_minor": pl.Int64(),
    "mrr": pl.Float64(),
    "previous_mrr": pl.Float64(),
    "reason": pl.String(),
    "reactivation": pl.Boolean(),
}
EVENTS_BY_PLAN_SCHEMA = {"plan": pl.String(), "events_received": pl.Int64()}


def _activity_frame(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(list(ACTIVITY_SCHEMA)).cast(ACTIVITY_SCHEMA).sort("account_id")


def _revenue_frame(frame: pl.DataFrame) -> pl.DataFrame:
    # One order for both paths (the stored day's), so sums over them are bit-for-bit the same.
    return (
        frame.select(list(REVENUE_EVENT_SCHEMA))
        .cast(REVENUE_EVENT_SCHEMA)
        .sort(list(REVENUE_EVENT_SCHEMA), nulls_last=True)
    )


def _by_plan_frame(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.select(list(EVENTS_BY_PLAN_SCHEMA))
        .cast(EVENTS_BY_PLAN_SCHEMA)
        .filter(pl.col("events_received") > 0)
        .sort("plan", nulls_last=True)
    )


# ---------------------------------------------------------------------------------- raw


class RawAggregates:
    """The aggregates of the stored day (typed events: `lib.events.TYPED_SCHEMA`), in DuckDB.

    `events` may be a lazy scan of the partition: each aggregate streams only the columns it
    uses from it into DuckDB, which aggregates within `limits` (spilling beyond them), so memory
    grows with accounts and users, not with the day's events.
    """

    path = "raw"

    def __init__(self, events: pl.DataFrame | pl.LazyFrame, limits: EngineLimits | None = None):
        self._events = events.lazy()
        self._limits = limits
        self.rows_transferred = 0
        self.queries = 0

    def _sql(self, sql: str, columns: list[str], where: pl.Expr | None = None) -> pl.DataFrame:
        source = self._events if where is None else self._events.filter(where)
        stream = source.select(columns).collect_batches(engine="streaming", maintain_order=False)
        con = connect(self._limits)
        try:
            con.execute("SET enable_progress_bar = false")
            con.register("day_events", stream)
            return con.sql(sql).pl()
        finally:
            con.close()

    def activity(self) -> pl.DataFrame:
        """Per account: events, distinct users (a missing distinct_id counts as one), page views
        and feature uses; events without an account are left out."""
        # Two steps, (account, user) then account, so that every step is a plain grouping that
        # DuckDB can spill; a user's group counts as one however many events it holds.
        frame = self._sql(
            f"""
            SELECT account_id, sum(n)::BIGINT AS events, count(*) AS active_users,
                   sum(pageviews)::BIGINT AS pageviews, sum(feature_uses)::BIGINT AS feature_uses
            FROM (
                SELECT account_id, distinct_id, count(*) AS n,
                       count(*) FILTER (WHERE event = '{PAGEVIEW}') AS pageviews,
                       count(*) FILTER (WHERE event = '{FEATURE_USE}') AS feature_uses
                FROM day_events
                WHERE account_id IS NOT NULL
                GROUP BY account_id, distinct_id
            )
            GROUP BY account_id
            """,
            ["account_id", "distinct_id", "event"],
        )
        return _activity_frame(frame)

    def revenue_events(self) -> pl.DataFrame:
        """The day's revenue events with their typed properties, in time order."""
        columns = list(REVENUE_EVENT_SCHEMA)
        frame = self._sql(
            "SELECT * FROM day_events", columns, pl.col("event").is_in(REVENUE_EVENTS)
        )
        return _revenue_frame(frame)

    def events_by_plan(self) -> pl.DataFrame:
        """Events per plan; events without a plan (anonymous visitors) under a null plan."""
        frame = self._sql(
            "SELECT plan, count(*) AS events_received FROM day_events GROUP BY plan", ["plan"]
        )
        return _by_plan_frame(frame)


# ---------------------------------------------------------------------------------- pushdown

# How each property is typed in HogQL, reproducing DuckDB's `from_json` in `typed_events` (JSON
# types as ClickHouse's JSONType names them; a missing key, a JSON null and properties that are
# not valid JSON are all 'Null'):
# - text (VARCHAR): a string unescaped; an integer or a boolean as its JSON text; else null.
# - integer (BIGINT): a JSON integer within Int64; else null.
# - decimal (DOUBLE): any JSON number; else null.
# - flag (BOOLEAN, never null): true, a non-zero number, or a string DuckDB reads as true.
# The two differ only on values the source's schema check rejects (money sent as a string or a
# fraction: `lib.events.ALLOWED_JSON_TYPES`) and on text properties sent as a fraction, an array
# or an object (DuckDB renders its own JSON text for those; here they are null).


def _json_type(key: str) -> str:
    return f"JSONType(properties, {hogql_string(key)})"


def _text(key: str) -> str:
    t, k = _json_type(key), hogql_string(key)
    return (
        f"multiIf({t} = 'String', JSONExtractString(properties, {k}), "
        f"{t} IN ('Int64', 'UInt64'), JSONExtractRaw(properties, {k}), "
        f"{t} = 'Bool', if(JSONExtractBool(properties, {k}) = 1, 'true', 'false'), NULL)"
    )


def _integer(key: str) -> str:
    t, k = _json_type(key), hogql_string(key)
    return f"if({t} IN ('Int64', 'UInt64'), toInt(JSONExtractRaw(properties, {k})), NULL)"


def _decimal(key: str) -> str:
    t, k = _json_type(key), hogql_string(key)
    return f"if({t} IN ('Int64', 'UInt64', 'Double'), JSONExtractFloat(properties, {k}), NULL)"


def _flag(key: str) -> str:
    t, k = _json_type(key), hogql_string(key)
    return (
        f"multiIf({t} = 'Bool', JSONExtractBool(properties, {k}) = 1, "
        f"{t} IN ('Int64', 'UInt64', 'Double'), JSONExtractFloat(properties, {k}) != 0, "
        f"{t} = 'String', lower(JSONExtractString(properties, {k})) "
        "IN ('true', 't', 'yes', 'y', '1'), 0)"
    )


_TYPERS = {"VARCHAR": _text, "BIGINT": _integer, "DOUBLE": _decimal, "BOOLEAN": _flag}


def _typed(key: str) -> str:
    """The HogQL expression for property `key`, typed as `typed_events` types it."""
    return _TYPERS[PROPERTY_TYPES[key]](key)


class PushdownAggregates:
    """The aggregates of events with start_utc <= timestamp < end_utc, computed by PostHog.

    Each is one HogQL query, paged with a keyset (account, plan, or time and uuid) because
    PostHog rejects OFFSET and silently caps LIMIT; paging stops only on an empty page.
    """

    path = "pushdown"

    def __init__(self, client: PostHogQueryClient, start_utc: datetime, end_utc: datetime):
        self._client = client
        self._window = (
            f"timestamp >= {hogql_datetime(start_utc)} AND timestamp < {hogql_datetime(end_utc)}"
        )
        self._start = (client.transfer.rows, client.transfer.queries)

    @property
    def rows_transferred(self) -> int:
        return self._client.transfer.rows - self._start[0]

    @property
    def queries(self) -> int:
        return self._client.transfer.queries - self._start[1]

    def _pages(
        self,
        what: str,
        query: Callable[[str], str],
        schema: dict[str, pl.DataType],
        cursor: Callable[[dict[str, Any]], str],
    ) -> pl.DataFrame:
        """Every page of `query(after)`: `after` is '' for the first page, then the keyset
        condition `cursor` builds from the previous page's last row."""
        frames: list[pl.DataFrame] = []
        after = ""
        while True:
            name = f"reporting_assets {what} page {len(frames) + 1}"
            frame = self._client.query_frame(query(after), schema, name=name)
            if frame.is_empty():
                break
            frames.append(frame)
            following = cursor(frame.row(-1, named=True))
            if following == after:
                raise PostHogError(f"PostHog paging of {what} did not advance past {after!r}")
            after = following
        return pl.concat(frames) if frames else pl.DataFrame(schema=schema)

    def activity(self) -> pl.DataFrame:
        """Per account: events, distinct users, page views and feature uses."""
        limit = self._client.page_size

        def query(after: str) -> str:
            return (
                "SELECT account_id, count() AS event_count, "
                "uniqExact(distinct_id) AS active_users, "
                f"countIf(event = {hogql_string(PAGEVIEW)}) AS pageviews, "
                f"countIf(event = {hogql_string(FEATURE_USE)}) AS feature_uses "
                f"FROM (SELECT {_typed('account_id')} AS account_id, distinct_id, event "
                f"FROM events WHERE {self._window}) AS day_events "
                f"WHERE account_id IS NOT NULL{f' AND {after}' if after else ''} "
                f"GROUP BY account_id ORDER BY account_id ASC LIMIT {limit}"
            )

        schema = {**ACTIVITY_SCHEMA, "event_count": pl.Int64()}
        del schema["events"]
        frame = self._pages(
            "account activity",
            query,
            schema,
            lambda row: f"account_id > {hogql_string(row['account_id'])}",
        )
        return _activity_frame(frame.rename({"event_count": "events"}))

    def revenue_events(self) -> pl.DataFrame:
        """The day's revenue events with their typed properties."""
        limit = self._client.page_size
        typed = {
            "account_id": _typed("account_id"),
            "plan": _typed("plan"),
            "amount_minor": f"coalesce({_typed('revenue')}, {_typed('amount')})",
            "mrr": _typed("mrr"),
            "previous_mrr": _typed("previous_mrr"),
            "reason": _typed("reason"),
            "reactivation": _typed("reactivation"),
        }
        select = ", ".join(
            ["timestamp", "uuid", "event", *(f"{e} AS {c}" for c, e in typed.items())]
        )
        names = ", ".join(hogql_string(e) for e in REVENUE_EVENTS)

        def query(after: str) -> str:
            return (
                f"SELECT {select} FROM events WHERE {self._window} AND event IN ({names})"
                f"{f' AND {after}' if after else ''} ORDER BY timestamp ASC, uuid ASC LIMIT {limit}"
            )

        def cursor(row: dict[str, Any]) -> str:
            # A tie-safe keyset: events may share a timestamp.
            return (
                f"(timestamp, uuid) > ({hogql_datetime(row['timestamp'])}, "
                f"toUUID({hogql_string(row['uuid'])}))"
            )

        frame = self._pages("revenue events", query, REVENUE_EVENT_SCHEMA, cursor)
        return _revenue_frame(frame)

    def events_by_plan(self) -> pl.DataFrame:
        """Events per plan; events without a plan (anonymous visitors) under a null plan."""
        limit = self._client.page_size

        def query(after: str) -> str:
            # The null plan sorts first (HogQL keeps no NULLS FIRST: it orders by isNull).
            return (
                f"SELECT plan, count() AS events_received FROM (SELECT {_typed('plan')} AS plan "
                f"FROM events WHERE {self._window}) AS day_events"
                f"{f' WHERE {after}' if after else ''} "
                f"GROUP BY plan ORDER BY isNull(plan) DESC, plan ASC LIMIT {limit}"
            )

        def cursor(row: dict[str, Any]) -> str:
            plan = row["plan"]
            return "plan IS NOT NULL" if plan is None else f"plan > {hogql_string(plan)}"

        frame = self._pages("events by plan", query, EVENTS_BY_PLAN_SCHEMA, cursor)
        return _by_plan_frame(frame)


DayEvents = RawAggregates | PushdownAggregates
