"""Local HTTP fake of PostHog's Query API (``POST /api/projects/:id/query/``) for tests.

It serves an in-memory list of events over real HTTP and speaks the wire format described in
/work/shared/wire-formats/README.md section 1a: drf-exceptions-hog error bodies, the full
``CachedHogQLQueryResponse`` field set, the 100-row default with ``hasMore`` when the query has
no ``LIMIT``, the silent ``LIMIT`` clamp (50,000 by default) and the 400 on ``OFFSET``.

Only the small HogQL subset the client sends is understood:
``SELECT <cols> FROM events [WHERE ...] [ORDER BY ...] [LIMIT n]`` where the ``WHERE`` is an
``AND`` of ``timestamp <op> toDateTime64('...', 6, 'UTC')``,
``(timestamp, uuid) <op> (toDateTime64(...), toUUID('...'))`` and ``event = '...'``.
UUIDs order as their lower-case strings (real ClickHouse uses its own UUID order; the client
must not depend on either).

Usage::

    with PostHogFake(events, api_key="phx_test", project_id=1) as fake:
        client = PostHogQueryClient(fake.url, 1, "phx_test")
        fake.fail_next(status=429, retry_after=1)
        ...
        fake.requests  # parsed JSON bodies received, in order
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DEFAULT_RETURNED_ROWS", "MAX_SELECT_RETURNED_ROWS", "PostHogFake"]

#: Rows returned when the query has no LIMIT (posthog/hogql/constants.py).
DEFAULT_RETURNED_ROWS = 100
#: PostHog's silent LIMIT cap (posthog/hogql/constants.py MAX_SELECT_RETURNED_ROWS).
MAX_SELECT_RETURNED_ROWS = 50_000

OFFSET_NOT_ALLOWED_DETAIL = (
    "OFFSET is not supported on queries made with a personal API key. For pagination, use "
    "keyset pagination on the `timestamp` column, e.g. `WHERE timestamp > :last_seen_timestamp "
    "ORDER BY timestamp LIMIT N`. For bulk data extraction, use batch exports: "
    "https://posthog.com/docs/cdp/batch-exports"
)

_COLUMN_TYPES = {
    "uuid": "UUID",
    "event": "String",
    "distinct_id": "String",
    "timestamp": "DateTime64(6, 'UTC')",
    "properties": "String",
}

_MODIFIERS = {
    "bounceRatePageViewMode": "count_pageviews",
    "inCohortVia": "auto",
    "materializationMode": "legacy_null_as_null",
    "personsArgMaxVersion": "auto",
    "personsOnEventsMode": "disabled",
    "sessionTableVersion": "auto",
}

_PATH_RE = re.compile(r"^/api/projects/(?P<project>[^/]+)/query/$")
_STRING_LITERAL_RE = re.compile(r"'(?:[^'\\]|\\.)*'")
_QUERY_RE = re.compile(
    r"^\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+events"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?"
    r"\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_OP = r"(?P<op>>=|<=|!=|==|=|>|<)"
_DT = (
    r"toDateTime(?:64)?\(\s*'(?P<{name}>[^']*)'\s*(?:,\s*\d+\s*)?"
    r"(?:,\s*'(?P<{name}_tz>[^']*)'\s*)?\)"
)
_TS_COND_RE = re.compile(
    rf"^timestamp\s*{_OP}\s*{_DT.format(name='ts')}$", re.IGNORECASE | re.DOTALL
)
_KEYSET_COND_RE = re.compile(
    rf"^\(\s*timestamp\s*,\s*uuid\s*\)\s*{_OP}\s*\(\s*{_DT.format(name='ts')}\s*,\s*"
    r"toUUID\(\s*'(?P<uuid>[^']*)'\s*\)\s*\)$",
    re.IGNORECASE | re.DOTALL,
)
_EVENT_COND_RE = re.compile(
    rf"^(?P<col>event|distinct_id)\s*{_OP}\s*'(?P<value>[^']*)'$", re.IGNORECASE | re.DOTALL
)
_ORDER_TERM_RE = re.compile(r"^(?P<col>\w+)(?:\s+(?P<dir>ASC|DESC))?$", re.IGNORECASE)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class _HogQLError(Exception):
    """A query the fake answers with HTTP 400."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class _Event:
    key: tuple[datetime, str]  # (timestamp UTC, lower-case uuid)
    fields: dict[str, str]  # rendered wire values by column name


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


def _parse_dt_literal(value: str, tz: str | None) -> datetime:
    if tz not in (None, "UTC"):
        raise _HogQLError("hogql_query_error", f"The fake only supports UTC, got timezone {tz!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _HogQLError("hogql_query_error", f"Cannot parse DateTime64 from '{value}'") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _strip_outer_parens(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        depth = 0
        in_string = False
        encloses = True
        for i, ch in enumerate(expr):
            if ch == "'":
                in_string = not in_string
            elif not in_string and ch == "(":
                depth += 1
            elif not in_string and ch == ")":
                depth -= 1
                if depth == 0 and i != len(expr) - 1:
                    encloses = False
                    break
        if not encloses:
            break
        expr = expr[1:-1].strip()
    return expr


def _split_top_level_and(expr: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    in_string = False
    start = 0
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch == "'":
            in_string = not in_string
        elif not in_string and ch == "(":
            depth += 1
        elif not in_string and ch == ")":
            depth -= 1
        elif not in_string and depth == 0 and re.match(r"\sAND\s", expr[i : i + 5], re.IGNORECASE):
            parts.append(expr[start:i])
            start = i + 5
            i += 4
        i += 1
    parts.append(expr[start:])
    return [p.strip() for p in parts if p.strip()]


def _compile_where(expr: str) -> Callable[[_Event], bool]:
    expr = _strip_outer_parens(expr)
    parts = _split_top_level_and(expr)
    if len(parts) > 1:
        predicates = [_compile_where(p) for p in parts]
        return lambda ev: all(pred(ev) for pred in predicates)
    if match := _TS_COND_RE.match(expr):
        bound = _parse_dt_literal(match["ts"], match["ts_tz"])
        compare = _COMPARE[match["op"]]
        return lambda ev: compare(ev.key[0], bound)
    if match := _KEYSET_COND_RE.match(expr):
        key = (_parse_dt_literal(match["ts"], match["ts_tz"]), match["uuid"].lower())
        compare = _COMPARE[match["op"]]
        return lambda ev: compare(ev.key, key)
    if match := _EVENT_COND_RE.match(expr):
        col, value, compare = match["col"].lower(), match["value"], _COMPARE[match["op"]]
        return lambda ev: compare(ev.fields[col], value)
    raise _HogQLError("hogql_syntax_error", f"Syntax error: the fake cannot parse '{expr}'")


@dataclass(frozen=True)
class _ParsedQuery:
    columns: list[str]
    where: Callable[[_Event], bool] | None
    order: list[tuple[str, bool]]  # (column, descending)
    limit: int | None


def _parse_query(query: str) -> _ParsedQuery:
    without_strings = _STRING_LITERAL_RE.sub("''", query)
    if re.search(r"\bOFFSET\b", without_strings, re.IGNORECASE):
        raise _HogQLError("hogql_query_error", OFFSET_NOT_ALLOWED_DETAIL)
    match = _QUERY_RE.match(query)
    if match is None:
        raise _HogQLError("hogql_syntax_error", f"Syntax error: the fake cannot parse {query!r}")
    columns = [c.strip() for c in match["cols"].split(",")]
    for column in columns:
        if column not in _COLUMN_TYPES:
            raise _HogQLError("hogql_query_error", f"Unable to resolve field: {column}")
    where = _compile_where(match["where"]) if match["where"] else None
    order: list[tuple[str, bool]] = []
    if match["order"]:
        for term in match["order"].split(","):
            term_match = _ORDER_TERM_RE.match(term.strip())
            if term_match is None or term_match["col"] not in _COLUMN_TYPES:
                raise _HogQLError("hogql_query_error", f"Unable to resolve field: {term.strip()}")
            order.append((term_match["col"], (term_match["dir"] or "ASC").upper() == "DESC"))
    limit = int(match["limit"]) if match["limit"] is not None else None
    return _ParsedQuery(columns, where, order, limit)


class PostHogFake:
    """In-memory PostHog Query API served on ``http://127.0.0.1:<random port>``."""

    def __init__(
        self,
        events: Iterable[Mapping[str, Any]] = (),
        *,
        api_key: str = "phx_test",
        project_id: int | str = 1,
        max_limit: int = MAX_SELECT_RETURNED_ROWS,
    ) -> None:
        """``events`` are dicts with uuid, event, distinct_id, timestamp (aware), properties."""
        self.api_key = api_key
        self.project_id = str(project_id)
        self.max_limit = max_limit
        self.requests: list[Any] = []  # parsed JSON bodies (raw text if not JSON), in order
        self.statuses: list[int] = []  # HTTP status of each answered request, in order
        self._events = [self._prepare(e) for e in events]
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

    @staticmethod
    def _prepare(event: Mapping[str, Any]) -> _Event:
        ts = event["timestamp"]
        if not isinstance(ts, datetime) or ts.tzinfo is None:
            raise ValueError(f"event timestamp must be an aware datetime, got {ts!r}")
        ts = ts.astimezone(UTC)
        uuid = str(event["uuid"]).lower()
        properties = event.get("properties") or {}
        raw_properties = (
            properties
            if isinstance(properties, str)
            else json.dumps(properties, separators=(",", ":"))
        )
        fields = {
            "uuid": uuid,
            "event": str(event["event"]),
            "distinct_id": str(event["distinct_id"]),
            "timestamp": render_timestamp(ts),
            "properties": raw_properties,
        }
        return _Event(key=(ts, uuid), fields=fields)

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
        except _HogQLError as exc:
            return 400, _error_body("validation_error", exc.code, exc.detail), {}

    def _run(self, query: str) -> dict[str, Any]:
        parsed = _parse_query(query)
        rows = [ev for ev in self._events if parsed.where is None or parsed.where(ev)]
        for column, descending in reversed(parsed.order):
            if column == "timestamp":
                rows.sort(key=lambda ev: ev.key[0], reverse=descending)
            else:
                rows.sort(key=lambda ev, c=column: ev.fields[c], reverse=descending)

        if parsed.limit is None:
            page = rows[: DEFAULT_RETURNED_ROWS + 1]
            has_more: bool | None = len(page) > DEFAULT_RETURNED_ROWS
            rows = page[:DEFAULT_RETURNED_ROWS]
            limit: int | None = DEFAULT_RETURNED_ROWS
            offset: int | None = 0
            printed_limit = f"LIMIT {DEFAULT_RETURNED_ROWS + 1} OFFSET 0"
        else:
            effective = min(parsed.limit, self.max_limit)
            rows = rows[:effective]
            has_more, limit, offset = None, None, None
            printed_limit = f"LIMIT {effective}"

        hogql = re.sub(r"\s+LIMIT\s+\d+\s*;?\s*$", "", query.strip(), flags=re.IGNORECASE)
        hogql = f"{hogql} {printed_limit}"
        now = datetime.now(UTC)
        return {
            "cache_key": "cache_" + hashlib.md5(query.encode()).hexdigest(),
            "cache_target_age": _render_iso_z(now + timedelta(hours=6)),
            "calculation_trigger": None,
            "clickhouse": f"/* fake */ {hogql} SETTINGS readonly=2, max_execution_time=60",
            "columns": list(parsed.columns),
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
            "results": [[ev.fields[c] for c in parsed.columns] for ev in rows],
            "timezone": "UTC",
            "timings": [
                {"k": "./parse_select", "t": 0.0001},
                {"k": "./clickhouse_execute", "t": 0.001},
                {"k": ".", "t": 0.002},
            ],
            "types": [[c, _COLUMN_TYPES[c]] for c in parsed.columns],
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
