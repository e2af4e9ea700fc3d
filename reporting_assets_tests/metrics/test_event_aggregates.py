"""The metrics' event aggregates computed both ways, by DuckDB from the stored day and by PostHog
(HogQL, here the local fake that runs it in DuckDB with ClickHouse's function semantics), give
the same metric tables; the pushdown pages past PostHog's LIMIT clamp; and what it moves over
the network grows with accounts, not with events."""

import json
import math
import uuid
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from reporting_assets.config import get_settings
from reporting_assets.lib.events import property_problems, read_batch_export, typed_events
from reporting_assets.metrics import compute
from reporting_assets.metrics.assets import metric_assets
from reporting_assets.metrics.event_aggregates import (
    REVENUE_EVENTS,
    PushdownAggregates,
    RawAggregates,
)
from reporting_assets.partitions import day_window
from reporting_assets.resources import build_resources
from reporting_assets.resources.posthog_api import PostHogQueryClient
from reporting_assets.resources.sources import PostHogEventsResource, WarehouseResource
from reporting_assets.resources.storage import PartitionedParquetIOManager
from reporting_assets.sources.assets import (
    WAREHOUSE_SOURCES,
    read_warehouse_source,
    source_assets,
)
from reporting_assets_tests.conftest import manifest_dates
from reporting_assets_tests.fakes.posthog_fake import PostHogFake

API_KEY = "phx_test"


def _client(fake: PostHogFake, **kwargs) -> PostHogQueryClient:
    return PostHogQueryClient(fake.url, 1, API_KEY, sleep=lambda s: None, **kwargs)


def _all_three(aggregates) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return aggregates.activity(), aggregates.revenue_events(), aggregates.events_by_plan()


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert_frame_equal(a, b, check_exact=True)


def _demo_days(demo_company) -> list[str]:
    anomalies = manifest_dates(demo_company)
    return [
        "2026-03-08",  # the spring DST change: a 23-hour day
        "2026-02-28",  # a month's last day
        anomalies["payment_failure_spike"],
        anomalies["tracking_outage"],
    ]


def test_pushdown_and_raw_give_identical_metric_tables_on_the_demo_company(demo_company, tmp_path):
    root = str(demo_company["path"] / "posthog" / "events")
    warehouse = WarehouseResource(duckdb_path=str(demo_company["path"] / "warehouse.duckdb"))
    snapshot = next(s for s in WAREHOUSE_SOURCES if s.name == "account_snapshot")
    for key in _demo_days(demo_company):
        w = day_window(key)
        # PostHog holds the days around it too: the window must keep them out.
        served = read_batch_export(root, w.start_utc - timedelta(days=1), w.end_utc + timedelta(1))
        stored = tmp_path / f"{key}.parquet"
        typed_events(read_batch_export(root, w.start_utc, w.end_utc)).write_parquet(stored)
        raw = RawAggregates(pl.scan_parquet(stored))
        with PostHogFake(served, api_key=API_KEY) as fake:
            pushed = PushdownAggregates(_client(fake), w.start_utc, w.end_utc)
            pushed_frames = _all_three(pushed)
        raw_frames = _all_three(raw)
        for a, b in zip(raw_frames, pushed_frames, strict=True):
            _same(a, b)

        accounts = read_warehouse_source(snapshot, warehouse, w)
        activity = compute.account_activity(raw_frames[0], w.day)
        # A few accounts whose usage "fell", so the at-risk table has every reason in it.
        drops = activity.sort("events", "account_id").head(12).select("account_id")
        tables = [
            (
                compute.account_activity(frames[0], w.day),
                *compute.revenue_protection(frames[1], frames[2], accounts, drops, w.day),
            )
            for frames in (raw_frames, pushed_frames)
        ]
        for a, b in zip(*tables, strict=True):
            _same(a, b)
        assert tables[0][0].height > 50 and tables[0][1].height == 5, key
        total = tables[0][1].filter(pl.col("plan") == "total").row(0, named=True)
        assert total["events_received"] == demo_company["events_per_day"][key]
        assert total["payment_attempts"] > 0 and total["accounts_at_risk"] > 0, key
        # Only aggregates crossed: a row per account, plan and revenue event.
        assert pushed.rows_transferred == sum(f.height for f in pushed_frames)
        assert pushed.rows_transferred < served.height / 2


def _revenue_event(i: int, properties) -> dict:
    return {
        "uuid": str(uuid.UUID(int=i + 1)),
        "event": REVENUE_EVENTS[i % len(REVENUE_EVENTS)],
        "distinct_id": f"u{i}",
        "timestamp": datetime(2026, 3, 10, 12, tzinfo=UTC) + timedelta(seconds=i),
        "properties": properties if isinstance(properties, str) else json.dumps(properties),
    }


# Properties as they may arrive, every JSON type the source's schema check lets through.
ACCEPTED = [
    {
        "account_id": "acct_1",
        "plan": "growth",
        "revenue": 4900,
        "mrr": 49.5,
        "previous_mrr": 10,
        "reason": "voluntary",
        "reactivation": True,
    },
    {"account_id": 'a"b\\c\u00e9\n\u263a', "plan": "sc\u00e9", "reason": ""},
    {"account_id": 123, "plan": True, "reason": False, "amount": 12_000},
    {"account_id": None, "plan": "", "revenue": None, "amount": 7},
    {},
    "not json {",
    '{"account_id": "spaced" , "revenue" : 5 }',
    {"revenue": 9_223_372_036_854_775_807, "mrr": 1e3},
    {"revenue": 18_446_744_073_709_551_615, "amount": 3, "mrr": 18_446_744_073_709_551_615},
    {"revenue": -5, "previous_mrr": -0.25, "mrr": 0.1},
    {"reactivation": False},
    {"reactivation": 1},
    {"reactivation": 0},
    {"reactivation": 2.5},
    {"reactivation": "true"},
    {"reactivation": "YES"},
    {"reactivation": "no"},
    {"reactivation": "maybe"},
    {"reactivation": None},
    {"reactivation": {"x": 1}},
    {"nested": {"account_id": "not me"}, "account_id": "me"},
]
# Money in the wrong JSON type: the source's schema check fails the day (so no metric reads it).
REJECTED = [{"revenue": "4900"}, {"revenue": 49.5}, {"amount": True}, {"mrr": "12.5"}]


def test_pushdown_types_every_property_as_the_stored_day_does():
    events = [_revenue_event(i, p) for i, p in enumerate(ACCEPTED + REJECTED)]
    typed = typed_events(
        pl.DataFrame(events).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    )
    with PostHogFake(events, api_key=API_KEY) as fake:
        pushed = PushdownAggregates(
            _client(fake), datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC)
        ).revenue_events()
    stored = RawAggregates(typed).revenue_events()
    accepted = {e["uuid"] for e in events[: len(ACCEPTED)]}
    assert stored.filter(pl.col("uuid").is_in(accepted)).height == len(ACCEPTED)
    _same(
        stored.filter(pl.col("uuid").is_in(accepted)),
        pushed.filter(pl.col("uuid").is_in(accepted)),
    )
    # Where the two differ, the day's schema check has already failed it, naming the property.
    differing = stored.join(pushed, on="uuid", suffix="_pushed").filter(
        pl.any_horizontal(
            pl.col(c).ne_missing(pl.col(f"{c}_pushed")) for c in stored.columns if c != "uuid"
        )
    )
    assert set(differing.get_column("uuid")) <= {e["uuid"] for e in events[len(ACCEPTED) :]}
    with duckdb.connect() as con:
        con.register("day", typed)
        problems = " ".join(property_problems(con, "day"))
    assert all(f"'{key}'" in problems for key in ("revenue", "amount", "mrr"))


def _event(name: str, distinct_id: str, at: datetime, **properties) -> dict:
    return {
        "uuid": str(uuid.uuid4()),
        "event": name,
        "distinct_id": distinct_id,
        "timestamp": at,
        "properties": properties,
    }


def _day(accounts: int, per_account: int, plans: int = 3) -> list[dict]:
    """A synthetic day: each account sends `per_account` usage events and one revenue event;
    one anonymous visitor sends one page view."""
    start = datetime(2026, 3, 10, 5, tzinfo=UTC)
    kinds = ("$pageview", "feature_used", "$pageleave")
    events = [_event("$pageview", "anonymous", start)]
    for a in range(accounts):
        who = {"account_id": f"acct_{a:04d}", "plan": f"plan_{a % plans}"}
        at = start + timedelta(seconds=a * per_account)
        events += [
            _event(kinds[k % 3], f"u_{a}_{k % 5}", at + timedelta(seconds=k), **who)
            for k in range(per_account)
        ]
        paid = start + timedelta(hours=1, seconds=a)
        events.append(_event("payment_failed", f"u_{a}_0", paid, amount=100 * a, **who))
    return events


def _raw(events: list[dict]) -> RawAggregates:
    frame = pl.DataFrame(
        [{**e, "properties": json.dumps(e["properties"])} for e in events]
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    return RawAggregates(typed_events(frame))


WINDOW = (datetime(2026, 3, 10, 4, tzinfo=UTC), datetime(2026, 3, 11, 4, tzinfo=UTC))


@pytest.mark.parametrize("clamp", [7, 1])
def test_pushdown_pages_past_the_limit_clamp(clamp):
    events = _day(accounts=40, per_account=6, plans=12)
    with PostHogFake(events, api_key=API_KEY, max_limit=clamp) as fake:
        client = _client(fake)
        pushed = _all_three(PushdownAggregates(client, *WINDOW))
        queries = [b["query"]["query"] for b in fake.requests]
        rows = list(fake.result_rows)
    for a, b in zip(_all_three(_raw(events)), pushed, strict=True):
        _same(a, b)
    assert pushed[0].height == 40 and pushed[1].height == 40 and pushed[2].height == 13
    # The client asks for 50,000 and PostHog silently returns fewer: a short page is not the end.
    assert all(q.endswith("LIMIT 50000") for q in queries if "LIMIT" in q)
    assert not any("OFFSET" in q for q in queries)
    activity = [q for q in queries if "uniqExact" in q]
    assert len(activity) == math.ceil(40 / clamp) + 1  # the last page comes back empty
    assert all("account_id > 'acct_" in q for q in activity[1:])
    assert max(rows) == clamp and rows.count(0) == 3  # one empty page for each paged aggregate


def test_only_aggregates_cross_the_network():
    def transferred(per_account: int) -> tuple[int, int, int]:
        events = _day(accounts=25, per_account=per_account)
        with PostHogFake(events, api_key=API_KEY) as fake:
            client = _client(fake)
            aggregates = PushdownAggregates(client, *WINDOW)
            frames = _all_three(aggregates)
            answered = sum(fake.result_rows)
            raw_rows = _client(fake).fetch_events(*WINDOW).height
        assert answered == aggregates.rows_transferred == client.transfer.rows
        assert aggregates.rows_transferred == sum(f.height for f in frames)
        return aggregates.rows_transferred, client.transfer.bytes, raw_rows

    rows, size, raw_rows = transferred(per_account=200)
    more_rows, more_size, more_raw_rows = transferred(per_account=800)
    # A row per account (25), per revenue event (25) and per plan (3, and the anonymous
    # visitor's null plan); the raw pull moves every one of 5,026 or 20,026 events.
    assert rows == more_rows == 25 + 25 + 3 + 1
    assert (raw_rows, more_raw_rows) == (25 * 201 + 1, 25 * 801 + 1)
    assert more_size < size * 1.05  # the bytes do not grow with the events either


def test_an_empty_day_gives_empty_aggregates_both_ways():
    with PostHogFake([], api_key=API_KEY) as fake:
        pushed = _all_three(PushdownAggregates(_client(fake), *WINDOW))
    raw = _all_three(RawAggregates(typed_events(pl.DataFrame(schema=dict(_EMPTY)))))
    for a, b in zip(raw, pushed, strict=True):
        _same(a, b)
        assert a.is_empty()
    assert compute.account_activity(raw[0], date(2026, 3, 10)).is_empty()


_EMPTY = {
    "uuid": pl.String(),
    "event": pl.String(),
    "distinct_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "properties": pl.String(),
}


@pytest.mark.parametrize(
    ("hogql", "code", "detail"),
    [
        (
            "SELECT uniqHLL12(distinct_id) FROM events LIMIT 1",
            "hogql_query_error",
            "Unsupported function call 'uniqHLL12(...)'",
        ),
        (
            "SELECT properties.plan AS plan, count() FROM sales GROUP BY plan LIMIT 1",
            "hogql_query_error",
            "Unknown table",
        ),
        (
            "SELECT account_id FROM events LIMIT 1",
            "hogql_query_error",
            "Unable to resolve field: account_id",
        ),
        ("SELECT count( FROM events", "hogql_syntax_error", "Syntax error"),
    ],
)
def test_the_fake_rejects_what_posthog_rejects(hogql, code, detail):
    with PostHogFake([], api_key=API_KEY) as fake:
        response = _client(fake)._session.post(
            f"{fake.url}/api/projects/1/query/",
            json={"query": {"kind": "HogQLQuery", "query": hogql}},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error" and body["code"] == code
    assert body["detail"].startswith(detail)


def test_the_fake_answers_aggregates_with_clickhouse_types_and_property_strings():
    events = [
        _revenue_event(0, {"account_id": "acct_1", "revenue": 4900, "n": 1.5}),
        _revenue_event(1, {"account_id": "acct_1", "revenue": "4900"}),
    ]
    with PostHogFake(events, api_key=API_KEY) as fake:
        body = _client(fake).query(
            "SELECT properties.account_id AS account, properties.revenue, count() AS n, "
            "uniqExact(distinct_id), toInt(JSONExtractRaw(properties, 'revenue')) AS revenue "
            "FROM events GROUP BY account, properties.revenue, revenue ORDER BY n DESC LIMIT 5"
        )
    names = ["account", "properties.revenue", "n", "uniqExact(distinct_id)", "revenue"]
    assert body["columns"] == names
    assert body["types"] == [
        ["account", "Nullable(String)"],
        ["properties.revenue", "Nullable(String)"],
        ["n", "UInt64"],
        ["uniqExact(distinct_id)", "UInt64"],
        ["revenue", "Nullable(Int64)"],
    ]
    # properties.revenue is a string whether the JSON held a number or a string.
    assert sorted(body["results"], key=str) == [
        ["acct_1", "4900", 1, 1, 4900],
        ["acct_1", "4900", 1, 1, None],
    ]
    assert body["hasMore"] is None and body["limit"] is None


@pytest.mark.integration
def test_metric_assets_store_the_same_tables_with_pushdown(demo_company, tmp_path):
    """The day through Dagster with the Query API back-end, once with pushdown and once
    without: the stored metric tables are the same, and the metadata says which path ran."""
    key = "2026-03-08"
    w = day_window(key)
    root = str(demo_company["path"] / "posthog" / "events")
    served = read_batch_export(root, w.start_utc - timedelta(days=1), w.end_utc + timedelta(1))
    selection = [
        a
        for a in [*source_assets, *metric_assets]
        if a.key.to_user_string()
        in (
            "posthog_events",
            "account_snapshot",
            "account_activity_daily",
            "revenue_protection_daily",
        )
    ]
    stored, metadata = {}, {}
    with PostHogFake(served, api_key=API_KEY) as fake:
        for pushdown in (True, False):
            assets_root = tmp_path / f"pushdown-{pushdown}"
            resources = {
                **build_resources(get_settings()),
                "io_manager": PartitionedParquetIOManager(root=str(assets_root)),
                "posthog": PostHogEventsResource(
                    backend="query_api",
                    host=fake.url,
                    project_id="1",
                    api_key=API_KEY,
                    pushdown=pushdown,
                ),
            }
            result = dg.materialize(
                selection, partition_key=key, resources=resources, raise_on_error=False
            )
            for asset in ("account_activity_daily", "revenue_protection_daily"):
                stored[asset, pushdown] = pl.read_parquet(assets_root / asset / f"{key}.parquet")
                mat = result.asset_materializations_for_node(asset)[0]
                metadata[asset, pushdown] = {k: v.value for k, v in mat.metadata.items()}
            events = pl.read_parquet(assets_root / "posthog_events" / f"{key}.parquet").height
    for asset in ("account_activity_daily", "revenue_protection_daily"):
        _same(stored[asset, True], stored[asset, False])
        assert metadata[asset, True]["event_aggregates"] == "pushdown"
        assert metadata[asset, False]["event_aggregates"] == "raw"
        assert metadata[asset, False]["rows_transferred"] == 0
        assert 0 < metadata[asset, True]["rows_transferred"] < events
    assert events == demo_company["events_per_day"][key]
    assert stored["account_activity_daily", True].height > 50
