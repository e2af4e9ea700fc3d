"""PostHogQueryClient against the local PostHog fake, over real HTTP (no mocks)."""

from __future__ import annotations

import json
import random
import re
import socket
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from reporting_assets.resources.posthog_api import (
    EVENTS_SCHEMA,
    PostHogAuthError,
    PostHogError,
    PostHogQueryClient,
    PostHogQueryError,
    format_hogql_datetime,
)
from reporting_assets_tests.fakes.posthog_fake import (
    DEFAULT_RETURNED_ROWS,
    OFFSET_NOT_ALLOWED_DETAIL,
    PostHogFake,
)

# Copies of the reference payloads in ../shared/wire-formats/samples, kept with the tests.
SAMPLES = Path(__file__).parent / "fakes" / "wire_samples"
API_KEY = "phx_test_secret_key_123"
PROJECT_ID = 4242
DAY = datetime(2026, 1, 14, tzinfo=UTC)


def _sample(name: str) -> dict[str, Any]:
    body = json.loads((SAMPLES / name).read_text())
    body.pop("_source", None)
    return body


def make_events(
    n: int, timestamps: list[datetime], *, seed: int = 7, event: str = "$pageview"
) -> list[dict[str, Any]]:
    """``n`` events spread round-robin over ``timestamps``, with random (seeded) uuids."""
    rng = random.Random(seed)
    return [
        {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event": event,
            "distinct_id": f"user_{i % 37}",
            "timestamp": timestamps[i % len(timestamps)],
            "properties": {"i": i, "$current_url": f"https://app.example.com/p/{i}"},
        }
        for i in range(n)
    ]


def expected_uuids(events: list[dict[str, Any]], start: datetime, end: datetime) -> list[str]:
    inside = [e for e in events if start <= e["timestamp"] < end]
    return [e["uuid"] for e in sorted(inside, key=lambda e: (e["timestamp"], e["uuid"]))]


def make_client(fake: PostHogFake, sleeps: list[float] | None = None, **kwargs: Any):
    recorder = sleeps if sleeps is not None else []
    return PostHogQueryClient(
        fake.url, PROJECT_ID, kwargs.pop("api_key", API_KEY), sleep=recorder.append, **kwargs
    )


def sent_queries(fake: PostHogFake) -> list[str]:
    return [body["query"]["query"] for body in fake.requests]


def post(fake: PostHogFake, hogql: str, *, key: str | None = API_KEY) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return requests.post(
        f"{fake.url}/api/projects/{PROJECT_ID}/query/",
        json={"query": {"kind": "HogQLQuery", "query": hogql}, "refresh": "force_blocking"},
        headers=headers,
        timeout=10,
    )


# ---------------------------------------------------------------------------- pagination


def test_ties_every_row_once_in_order() -> None:
    stamps = [DAY + timedelta(hours=9, seconds=s, microseconds=481_000) for s in range(10)]
    events = make_events(1_000, stamps)
    with PostHogFake(events, api_key=API_KEY, project_id=PROJECT_ID) as fake:
        client = make_client(fake, page_size=97)
        frame = client.fetch_events(DAY, DAY + timedelta(days=1))
        queries = sent_queries(fake)

    got = frame["uuid"].to_list()
    assert len(got) == len(set(got)) == 1_000
    assert got == expected_uuids(events, DAY, DAY + timedelta(days=1))
    # 10 full pages, one short page of 30, then the empty page that ends the loop.
    assert len(queries) == 12
    assert all("LIMIT 97" in q and "OFFSET" not in q.upper() for q in queries)
    assert "(timestamp, uuid) >" not in queries[0]
    assert all("(timestamp, uuid) > (toDateTime64('2026-01-14 09:" in q for q in queries[1:])
    assert all("ORDER BY timestamp ASC, uuid ASC" in q for q in queries)
    bodies = fake.requests
    assert all(
        b["refresh"] == "force_blocking" and b["query"]["kind"] == "HogQLQuery" for b in bodies
    )
    assert all(b["name"] for b in bodies)


def test_window_is_half_open_across_day_bounds() -> None:
    start, end = DAY, DAY + timedelta(days=1)
    stamps = [
        start - timedelta(microseconds=1),
        start,  # included
        start + timedelta(hours=12),
        end - timedelta(microseconds=1),
        end,  # excluded
        end + timedelta(hours=3),
        start - timedelta(days=1),
    ]
    events = make_events(70, stamps)
    with PostHogFake(events, api_key=API_KEY, project_id=PROJECT_ID) as fake:
        frame = make_client(fake, page_size=7).fetch_events(start, end)
        first_query = sent_queries(fake)[0]

    assert frame["uuid"].to_list() == expected_uuids(events, start, end)
    assert frame.height == 30  # 10 events at each of start, noon and end - 1 µs
    assert frame["timestamp"].min() == start
    assert frame["timestamp"].max() == end - timedelta(microseconds=1)
    assert (
        "WHERE timestamp >= toDateTime64('2026-01-14 00:00:00.000000', 6, 'UTC') "
        "AND timestamp < toDateTime64('2026-01-15 00:00:00.000000', 6, 'UTC')"
    ) in first_query


def test_page_size_is_capped_at_50000() -> None:
    stamps = [DAY + timedelta(seconds=s) for s in range(600)]
    events = make_events(60_000, stamps)
    with PostHogFake(events, api_key=API_KEY, project_id=PROJECT_ID) as fake:
        client = make_client(fake, page_size=120_000)
        assert client.page_size == 50_000
        frame = client.fetch_events(DAY, DAY + timedelta(days=1))
        queries = sent_queries(fake)

    assert all(re.search(r"\bLIMIT 50000$", q) for q in queries)
    assert len(queries) == 3  # 50,000 + 10,000 + empty
    assert frame.height == 60_000
    assert frame["uuid"].n_unique() == 60_000
    assert frame["uuid"].to_list() == expected_uuids(events, DAY, DAY + timedelta(days=1))


def test_server_clamp_below_client_limit_loses_no_rows() -> None:
    """PostHog clamps LIMIT silently; a short page is not the end, so the client reads on."""
    events = make_events(250, [DAY + timedelta(minutes=m) for m in range(5)])
    with PostHogFake(events, api_key=API_KEY, project_id=PROJECT_ID, max_limit=40) as fake:
        frame = make_client(fake, page_size=100).fetch_events(DAY, DAY + timedelta(days=1))
        queries = sent_queries(fake)

    # The first page already came back shorter than the LIMIT sent (40 < 100): stopping on a
    # short page would have returned 40 of 250 rows.
    assert all("LIMIT 100" in q for q in queries)
    assert len(queries) == 8  # ceil(250 / 40) = 7 pages, then the empty page
    assert frame["uuid"].to_list() == expected_uuids(events, DAY, DAY + timedelta(days=1))


def test_frame_schema_and_values() -> None:
    events = [
        {
            "uuid": "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "event": "subscription_created",
            "distinct_id": "user_123",
            "timestamp": datetime(2026, 1, 14, 9, 15, 2, 481000, tzinfo=UTC),
            "properties": {"plan": "pro", "revenue": 4900, "currency": "USD"},
        },
        {  # whole second: rendered without a fraction, like orjson
            "uuid": "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
            "event": "$pageview",
            "distinct_id": "user_9",
            "timestamp": datetime(2026, 1, 14, 10, 0, 0, tzinfo=UTC),
            "properties": {},
        },
    ]
    with PostHogFake(events, api_key=API_KEY, project_id=PROJECT_ID) as fake:
        frame = make_client(fake).fetch_events(DAY, DAY + timedelta(days=1))
        empty = make_client(fake).fetch_events(DAY - timedelta(days=2), DAY - timedelta(days=1))

    assert frame.schema == pl.Schema(EVENTS_SCHEMA)
    assert frame.columns == ["uuid", "event", "distinct_id", "timestamp", "properties"]
    assert frame.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert frame.row(0) == (
        "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "subscription_created",
        "user_123",
        datetime(2026, 1, 14, 9, 15, 2, 481000, tzinfo=UTC),
        '{"plan":"pro","revenue":4900,"currency":"USD"}',
    )
    assert frame["timestamp"][1] == datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
    assert empty.height == 0
    assert empty.schema == pl.Schema(EVENTS_SCHEMA)


def test_columns_located_by_name_and_offsets_parsed() -> None:
    """A response with shuffled columns and ``+hh:mm`` timestamps still maps correctly."""
    body = {
        "columns": ["properties", "timestamp", "uuid", "distinct_id", "event"],
        "results": [
            [
                '{"a":1}',
                "2026-01-14T10:15:02.481000+01:00",
                "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
                "u1",
                "e1",
            ],
            [
                '{"a":2}',
                "2026-01-14T09:20:00+00:00",
                "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
                "u2",
                "e2",
            ],
        ],
    }
    with PostHogFake([], api_key=API_KEY, project_id=PROJECT_ID) as fake:
        fake.respond_next(body)
        fake.respond_next({"columns": body["columns"], "results": []})
        frame = make_client(fake).fetch_events(DAY, DAY + timedelta(days=1))

    assert frame.schema == pl.Schema(EVENTS_SCHEMA)
    assert frame["timestamp"].to_list() == [
        datetime(2026, 1, 14, 9, 15, 2, 481000, tzinfo=UTC),
        datetime(2026, 1, 14, 9, 20, tzinfo=UTC),
    ]
    assert frame["event"].to_list() == ["e1", "e2"]
    assert frame["properties"].to_list() == ['{"a":1}', '{"a":2}']


def test_format_hogql_datetime() -> None:
    cet = timezone(timedelta(hours=1))
    assert format_hogql_datetime(datetime(2026, 1, 14, 10, 0, tzinfo=cet)) == (
        "2026-01-14 09:00:00.000000"
    )
    assert format_hogql_datetime(datetime(2026, 1, 14, 9, 15, 2, 481)) == (
        "2026-01-14 09:15:02.000481"
    )


# ---------------------------------------------------------------------------- the fake's wire


def test_fake_without_limit_returns_100_rows_and_has_more() -> None:
    events = make_events(150, [DAY + timedelta(minutes=m) for m in range(3)])
    with PostHogFake(events, api_key=API_KEY, project_id=PROJECT_ID) as fake:
        many = post(fake, "SELECT uuid, event, timestamp FROM events ORDER BY timestamp, uuid")
        few = post(fake, "select uuid from events where event = 'nope'")
        limited = post(fake, "SELECT uuid FROM events ORDER BY timestamp LIMIT 120")

    assert many.status_code == 200
    body = many.json()
    assert len(body["results"]) == DEFAULT_RETURNED_ROWS
    assert (body["hasMore"], body["limit"], body["offset"]) == (True, 100, 0)
    assert body["columns"] == ["uuid", "event", "timestamp"]
    assert body["types"] == [
        ["uuid", "UUID"],
        ["event", "String"],
        ["timestamp", "DateTime64(6, 'UTC')"],
    ]
    assert few.json()["results"] == []
    assert (few.json()["hasMore"], few.json()["limit"]) == (False, 100)
    limited_body = limited.json()
    assert len(limited_body["results"]) == 120
    assert (limited_body["hasMore"], limited_body["limit"], limited_body["offset"]) == (
        None,
        None,
        None,
    )


def test_fake_response_carries_every_field_of_the_sample() -> None:
    events = make_events(3, [datetime(2026, 1, 14, 9, 15, 2, 481000, tzinfo=UTC)])
    with PostHogFake(events, api_key=API_KEY, project_id=PROJECT_ID) as fake:
        body = post(
            fake, "SELECT uuid, event, timestamp, distinct_id, properties FROM events"
        ).json()

    sample = _sample("posthog_query_response_no_limit_paginated.json")
    expected_fields = set(sample)
    assert set(body) == expected_fields
    for null_field in ("calculation_trigger", "error", "explain", "metadata", "query_status"):
        assert null_field in body and body[null_field] is None
    row = body["results"][0]
    assert row[2] == "2026-01-14T09:15:02.481000Z"
    assert isinstance(row[4], str) and json.loads(row[4])["$current_url"].startswith("https://")
    uuid.UUID(row[0])
    assert body["is_cached"] is False and body["timezone"] == "UTC"


def test_fake_rejects_offset_with_the_exact_body() -> None:
    with PostHogFake([], api_key=API_KEY, project_id=PROJECT_ID) as fake:
        response = post(fake, "SELECT uuid FROM events ORDER BY timestamp LIMIT 10 OFFSET 10")
        syntax = post(fake, "SELEC uuid FROM events")

    assert response.status_code == 400
    expected = _sample("posthog_error_offset_rejected.json")
    assert expected["detail"] == OFFSET_NOT_ALLOWED_DETAIL
    assert response.json() == expected
    assert syntax.status_code == 400
    assert syntax.json()["code"] == "hogql_syntax_error"


def test_fake_auth_and_project_errors() -> None:
    with PostHogFake([], api_key=API_KEY, project_id=PROJECT_ID) as fake:
        wrong = post(fake, "SELECT uuid FROM events", key="phx_wrong")
        missing = post(fake, "SELECT uuid FROM events", key=None)
        other_project = requests.post(
            f"{fake.url}/api/projects/999/query/",
            json={"query": {"kind": "HogQLQuery", "query": "SELECT uuid FROM events"}},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )

    assert wrong.status_code == 401
    assert wrong.json() == _sample("posthog_error_auth.json")
    assert missing.status_code == 401
    assert missing.json()["code"] == "not_authenticated"
    assert other_project.status_code == 404
    assert set(other_project.json()) == {"type", "code", "detail", "attr"}


# ---------------------------------------------------------------------------- retries and errors


def test_429_sleeps_for_retry_after_then_succeeds() -> None:
    events = make_events(5, [DAY + timedelta(hours=1)])
    sleeps: list[float] = []
    with PostHogFake(events, api_key=API_KEY, project_id=PROJECT_ID) as fake:
        fake.fail_next(status=429, retry_after=3)
        frame = make_client(fake, sleeps).fetch_events(DAY, DAY + timedelta(days=1))
        statuses = list(fake.statuses)

    assert sleeps == [3.0]
    assert statuses == [429, 200, 200]
    assert frame.height == 5


def test_500_then_success_backs_off_with_jitter() -> None:
    sleeps: list[float] = []
    with PostHogFake(make_events(2, [DAY]), api_key=API_KEY, project_id=PROJECT_ID) as fake:
        fake.fail_next(status=500)
        fake.fail_next(status=503)
        body = make_client(fake, sleeps).query("SELECT uuid FROM events LIMIT 5")

    assert len(body["results"]) == 2
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_persistent_500_gives_up_after_max_attempts() -> None:
    sleeps: list[float] = []
    with PostHogFake([], api_key=API_KEY, project_id=PROJECT_ID) as fake:
        fake.fail_next(status=500, times=50)
        with pytest.raises(PostHogError, match="gave up") as excinfo:
            make_client(fake, sleeps, max_attempts=4).query("SELECT uuid FROM events LIMIT 1")
        attempts = len(fake.requests)

    assert attempts == 4 and len(sleeps) == 3
    assert excinfo.value.status == 500
    assert "HTTP 500" in str(excinfo.value)
    assert "ClickHouse error while executing query." in str(excinfo.value)


def test_persistent_500_gives_up_when_the_budget_runs_out() -> None:
    sleeps: list[float] = []
    with PostHogFake([], api_key=API_KEY, project_id=PROJECT_ID) as fake:
        fake.fail_next(status=500, times=50)
        client = make_client(fake, sleeps, max_attempts=20, retry_budget_s=10)
        with pytest.raises(PostHogError, match="retry budget") as excinfo:
            client.query("SELECT uuid FROM events LIMIT 1")
        attempts = len(fake.requests)

    assert sum(sleeps) <= 10
    assert attempts == len(sleeps) + 1 < 20
    assert "HTTP 500" in str(excinfo.value)


def test_429_longer_than_the_budget_gives_up_without_waiting() -> None:
    sleeps: list[float] = []
    with PostHogFake([], api_key=API_KEY, project_id=PROJECT_ID) as fake:
        fake.fail_next(status=429, retry_after=600)
        with pytest.raises(PostHogError, match="HTTP 429 throttled"):
            make_client(fake, sleeps, retry_budget_s=120).query("SELECT uuid FROM events LIMIT 1")
    assert sleeps == []


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps: list[float] = []
    client = PostHogQueryClient(
        f"http://127.0.0.1:{port}", PROJECT_ID, API_KEY, max_attempts=3, sleep=sleeps.append
    )
    with pytest.raises(PostHogError, match="ConnectionError") as excinfo:
        client.query("SELECT 1")
    assert len(sleeps) == 2
    assert API_KEY not in str(excinfo.value)


def test_400_raises_query_error_with_posthog_detail_without_retry() -> None:
    sleeps: list[float] = []
    with PostHogFake([], api_key=API_KEY, project_id=PROJECT_ID) as fake:
        with pytest.raises(PostHogQueryError) as excinfo:
            make_client(fake, sleeps).query("SELECT uuid FROM events LIMIT 10 OFFSET 5")
        attempts = len(fake.requests)

    message = str(excinfo.value)
    assert "hogql_query_error" in message and OFFSET_NOT_ALLOWED_DETAIL in message
    assert excinfo.value.status == 400 and excinfo.value.code == "hogql_query_error"
    assert attempts == 1 and sleeps == []


def test_bad_key_raises_auth_error_naming_the_env_var_not_the_key() -> None:
    bad_key = "phx_this_is_the_wrong_key_42"
    sleeps: list[float] = []
    with PostHogFake([], api_key=API_KEY, project_id=PROJECT_ID) as fake:
        with pytest.raises(PostHogAuthError) as excinfo:
            make_client(fake, sleeps, api_key=bad_key).fetch_events(DAY, DAY + timedelta(days=1))
        attempts = len(fake.requests)

    message = str(excinfo.value)
    assert "POSTHOG_API_KEY" in message and "query:read" in message
    assert bad_key not in message and bad_key not in repr(excinfo.value)
    assert excinfo.value.status == 401
    assert attempts == 1 and sleeps == []
