"""Local HTTP fake of PostHog's Query API (``POST /api/projects/:id/query/``) for tests.

It serves an in-memory list of events over real HTTP and speaks the wire format described in
/work/shared/wire-formats/README.md section 1a: drf-exceptions-hog error bodies, the full
``CachedHogQLQueryResponse`` field set, the 100-row default with ``hasMore`` when the query has
no ``LIMIT``, the silent ``LIMIT`` clamp (50,000 by default) and the 400 on ``OFFSET``.

Queries run in DuckDB: `hogql_duckdb` translates the HogQL subset the clients send (the raw
event pages, and the metrics' aggregates with PostHog's JSON and conversion functions) into
DuckDB SQL over the fake's events, and answers anything else as PostHog does (400 with the
error code). UUIDs order as their lower-case strings (real ClickHouse uses its own UUID order;
the client must not depend on either).

Usage::

    with PostHogFake(events, api_key="phx_test", project_id=1) as fake:
        client = PostHogQueryClient(fake.url, 1, "phx_test")
        fake.fail_next(status=429, retry_after=1)
        ...
        fake.requests  # parsed JSON bodies received, in order
        fake.result_rows  # rows of each query answered, in order
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import uuid as uuid_lib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import duckdb
import polars as pl

from reporting_assets_tests.fakes.hogql_duckdb import (
    MACROS,
    OFFSET_NOT_ALLOWED_DETAIL,
    HogQLError,
    translate,
)

__all__ = [
    "DEFAULT_RETURNED_ROWS",
    "MAX_SELECT_RETURNED_ROWS",
    "OFFSET_NOT_ALLOWED_DETAIL",
    "PostHogFake",
]

#: Rows returned when the query has no LIMIT (posthog/hogql/constants.py).
DEFAULT_RETURNED_ROWS = 100
#: PostHog's silent LIMIT cap (posthog/hogql/constants.py MAX_SELECT_RETURNED_ROWS).
MAX_SELECT_RETURNED_ROWS = 50_000

_MODIFIERS = {
    "bounceRatePageViewMode": "count_pageviews",
    "inCohortVia": "auto",
    "materializationMode": "legacy_null_as_null",
    "personsArgMaxVersion": "auto",
    "personsOnEventsMode": "disabled",
    "sessionTableVersion": "auto",
}

_PATH_RE = re.compile(r"^/api/projects/(?P<project>[^/]+)/query/$")


@dataclass(frozen=True)
class _Scripted:
    status: int
    retry_after: float | None
    body: dict[str, Any]


def _error_body(type_: str, code: str, detail: str) -> dict[str, Any]:
    return {"type": type_, "code": code, "detail": detail, "attr": None}


def render_timestamp(ts: datetime) -> str:
    """Render like orjson OPT_UTC_Z: ``...T09:15:02.481000Z``; whole seconds get no fraction."""
    ts = ts.astimezone(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if ts.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return ts.strftime(fmt)


def _render_iso_z(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _wire_value(value: Any, ch_type: str) -> Any:
    """A DuckDB value as PostHog's renderer (orjson) puts it on the wire."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return render_timestamp(value.replace(tzinfo=UTC) if value.tzinfo is None else value)
    if isinstance(value, bool) and "Bool" not in ch_type:
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, uuid_lib.UUID):
        return str(value)
    return value


_EVENTS_SCHEMA = {
    "uuid": pl.String(),
    "event": pl.String(),
    "distinct_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "properties": pl.String(),
}


def _events_frame(events: Iterable[Mapping[str, Any]] | pl.DataFrame) -> pl.DataFrame:
    """The fake's table: uuid (lower case), event, distinct_id, timestamp (UTC), properties."""
    if isinstance(events, pl.DataFrame):
        frame = events.select("uuid", "event", "distinct_id", "timestamp", "properties")
    else:
        rows = []
        for event in events:
            ts = event["timestamp"]
            if not isinstance(ts, datetime) or ts.tzinfo is None:
                raise ValueError(f"event timestamp must be an aware datetime, got {ts!r}")
            properties = event.get("properties") or {}
            if not isinstance(properties, str):
                properties = json.dumps(properties, separators=(",", ":"))
            rows.append(
                {
                    "uuid": str(event["uuid"]),
                    "event": str(event["event"]),
                    "distinct_id": str(event["distinct_id"]),
                    "timestamp": ts.astimezone(UTC),
                    "properties": properties,
                }
            )
        frame = pl.DataFrame(rows, schema=_EVENTS_SCHEMA)
    return frame.with_columns(
        pl.col("uuid").str.to_lowercase(),
        pl.col("timestamp").dt.convert_time_zone("UTC").dt.replace_time_zone(None),
    )


class PostHogFake:
    """In-memory PostHog Query API served on ``http://127.0.0.1:<random port>``."""

    def __init__(
        self,
        events: Iterable[Mapping[str, Any]] | pl.DataFrame = (),
        *,
        api_key: str = "phx_test",
        project_id: int | str = 1,
        max_limit: int = MAX_SELECT_RETURNED_ROWS,
    ) -> None:
        """``events`` are dicts with uuid, event, distinct_id, timestamp (aware) and properties
        (a dict or JSON text), or a frame of those columns (a batch export as read)."""
        self.api_key = api_key
        self.project_id = str(project_id)
        self.max_limit = max_limit
        self.requests: list[Any] = []  # parsed JSON bodies (raw text if not JSON), in order
        self.statuses: list[int] = []  # HTTP status of each answered request, in order
        self.result_rows: list[int] = []  # rows in each query answered with 200, in order
        self._db = duckdb.connect(":memory:")
        for macro in MACROS:
            self._db.execute(macro)
        frame = _events_frame(events)
        self._db.register("incoming", frame)
        self._db.execute("CREATE TABLE events AS SELECT * FROM incoming")
        self._db.unregister("incoming")
        self._scripted: list[_Scripted] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> PostHogFake:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="posthog-fake",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("PostHogFake is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ test controls

    def fail_next(
        self,
        status: int = 500,
        *,
        retry_after: float | None = None,
        times: int = 1,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` authenticated requests with an error ``status``.

        429 carries ``Retry-After`` (default 1 s) and the throttled body; 5xx the ClickHouse error.
        """
        if body is None:
            if status == 429:
                wait = retry_after if retry_after is not None else 1
                body = _error_body(
                    "throttled_error",
                    "throttled",
                    f"Request was throttled. Expected available in {wait:g} seconds.",
                )
            elif status >= 500:
                body = _error_body(
                    "server_error", "error", "ClickHouse error while executing query."
                )
            else:
                body = _error_body("validation_error", "invalid_input", "Injected failure.")
        if status == 429 and retry_after is None:
            retry_after = 1
        self.respond_next(body, status=status, retry_after=retry_after, times=times)

    def respond_next(
        self,
        body: dict[str, Any],
        *,
        status: int = 200,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` authenticated requests with exactly ``body`` and ``status``."""
        with self._lock:
            self._scripted.extend(_Scripted(status, retry_after, body) for _ in range(times))

    # ------------------------------------------------------------------ internals

    def _handle(
        self, method: str, path: str, headers: Mapping[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Return (status, JSON body, extra headers) for one request."""
        recorded: Any = None
        if method == "POST":
            try:
                recorded = json.loads(raw_body or b"null")
            except ValueError:
                recorded = raw_body.decode("utf-8", "replace")
            with self._lock:
                self.requests.append(recorded)

        path_match = _PATH_RE.match(path.split("?", 1)[0])
        if path_match is None:
            return 404, _error_body("invalid_request", "not_found", "Not found."), {}

        auth = headers.get("Authorization")
        if not auth or not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
            return (
                401,
                _error_body(
                    "authentication_error",
                    "not_authenticated",
                    "Authentication credentials were not provided.",
                ),
                {},
            )
        if auth[len("Bearer ") :].strip() != self.api_key:
            return (
                401,
                _error_body(
                    "authentication_error",
                    "authentication_failed",
                    "Personal API key found in request Authorization header is invalid.",
                ),
                {},
            )
        if path_match["project"] != self.project_id:
            return 404, _error_body("invalid_request", "not_found", "Not found."), {}
        if method != "POST":
            return (
                405,
                _error_body(
                    "invalid_request", "method_not_allowed", f'Method "{method}" not allowed.'
                ),
                {},
            )

        with self._lock:
            scripted = self._scripted.pop(0) if self._scripted else None
        if scripted is not None:
            extra = {}
            if scripted.retry_after is not None:
                extra["Retry-After"] = f"{scripted.retry_after:g}"
            return scripted.status, scripted.body, extra

        query_obj = recorded.get("query") if isinstance(recorded, dict) else None
        if (
            not isinstance(query_obj, dict)
            or query_obj.get("kind") != "HogQLQuery"
            or not isinstance(query_obj.get("query"), str)
        ):
            return (
                400,
                _error_body(
                    "validation_error",
                    "invalid_input",
                    "The fake expects {'query': {'kind': 'HogQLQuery', 'query': '...'}}.",
                ),
                {},
            )
        try:
            return 200, self._run(query_obj["query"]), {}
        except HogQLError as exc:
            return 400, _error_body("validation_error", exc.code, exc.detail), {}

    def _run(self, query: str) -> dict[str, Any]:
        translated = translate(query)
        if translated.limit is None:
            sql = f"{translated.sql} LIMIT {DEFAULT_RETURNED_ROWS + 1}"
        else:
            sql = f"{translated.sql} LIMIT {min(translated.limit, self.max_limit)}"
        with self._lock:
            try:
                rows = self._db.execute(sql).fetchall()
            except duckdb.Error as exc:
                # What ClickHouse rejects while running a query PostHog accepted.
                detail = str(exc).strip().splitlines()[0]
                raise HogQLError("illegal_type_of_argument", detail) from None
        types = [c.expr.type_name for c in translated.columns]
        if translated.limit is None:
            has_more: bool | None = len(rows) > DEFAULT_RETURNED_ROWS
            rows = rows[:DEFAULT_RETURNED_ROWS]
            limit: int | None = DEFAULT_RETURNED_ROWS
            offset: int | None = 0
            printed_limit = f"LIMIT {DEFAULT_RETURNED_ROWS + 1} OFFSET 0"
        else:
            has_more, limit, offset = None, None, None
            printed_limit = f"LIMIT {min(translated.limit, self.max_limit)}"
        results = [[_wire_value(v, t) for v, t in zip(row, types, strict=True)] for row in rows]
        with self._lock:
            self.result_rows.append(len(results))

        hogql = re.sub(r"\s+LIMIT\s+\d+\s*;?\s*$", "", query.strip(), flags=re.IGNORECASE)
        hogql = f"{hogql} {printed_limit}"
        now = datetime.now(UTC)
        return {
            "cache_key": "cache_" + hashlib.md5(query.encode()).hexdigest(),
            "cache_target_age": _render_iso_z(now + timedelta(hours=6)),
            "calculation_trigger": None,
            "clickhouse": f"/* fake: DuckDB */ {sql}",
            "columns": [c.name for c in translated.columns],
            "error": None,
            "explain": None,
            "hasMore": has_more,
            "hogql": hogql,
            "is_cached": False,
            "last_refresh": _render_iso_z(now),
            "limit": limit,
            "metadata": None,
            "modifiers": dict(_MODIFIERS),
            "next_allowed_client_refresh": _render_iso_z(now + timedelta(minutes=1)),
            "offset": offset,
            "query": query,
            "query_status": None,
            "resolved_date_range": None,
            "results": results,
            "timezone": "UTC",
            "timings": [
                {"k": "./parse_select", "t": 0.0001},
                {"k": "./clickhouse_execute", "t": 0.001},
                {"k": ".", "t": 0.002},
            ],
            "types": [[c.name, t] for c, t in zip(translated.columns, types, strict=True)],
        }


class _Handler(BaseHTTPRequestHandler):
    owner: PostHogFake
    protocol_version = "HTTP/1.1"
    server_version = "PostHogFake/1.0"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        status, body, extra_headers = self.owner._handle(
            self.command, self.path, self.headers, raw_body
        )
        with self.owner._lock:
            self.owner.statuses.append(status)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_POST = _dispatch
    do_GET = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr logging
        pass
