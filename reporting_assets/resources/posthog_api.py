"""Plain HTTP client for PostHog's Query API (``POST /api/projects/:id/query/``).

It runs HogQL queries and pulls raw events for a time window into a Polars frame, using
tie-safe keyset pagination on ``(timestamp, uuid)`` because PostHog rejects ``OFFSET`` for
personal API keys and silently caps ``LIMIT`` at 50,000. It counts what crossed the network
(`Transfer`). It has no Dagster dependency; the Dagster resource wraps it.
"""

from __future__ import annotations

import json
import time
import uuid as uuid_lib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
import requests

from reporting_assets.lib import retry

__all__ = [
    "EVENTS_SCHEMA",
    "MAX_PAGE_SIZE",
    "PostHogAuthError",
    "PostHogError",
    "PostHogQueryClient",
    "PostHogQueryError",
    "Transfer",
    "format_hogql_datetime",
    "hogql_datetime",
    "hogql_string",
]

#: PostHog clamps any HogQL ``LIMIT`` to this many rows, without telling the caller.
MAX_PAGE_SIZE = 50_000

#: Schema of the frame returned by :meth:`PostHogQueryClient.fetch_events`.
EVENTS_SCHEMA: dict[str, pl.DataType] = {
    "uuid": pl.String(),
    "event": pl.String(),
    "distinct_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "properties": pl.String(),
}

_DETAIL_MAX_CHARS = 500


class PostHogError(RuntimeError):
    """A PostHog Query API call failed; the message carries the HTTP status and PostHog's detail."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail


class PostHogAuthError(PostHogError):
    """PostHog refused the API key (HTTP 401/403)."""


class PostHogQueryError(PostHogError):
    """PostHog rejected the HogQL query (HTTP 400)."""


def format_hogql_datetime(dt: datetime) -> str:
    """Render ``dt`` in UTC as ``YYYY-MM-DD HH:MM:SS.ffffff`` for ``toDateTime64(..., 6, 'UTC')``.

    Naive datetimes are taken to be UTC already.
    """
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def _hogql_datetime_literal(dt: datetime) -> str:
    return f"toDateTime64('{format_hogql_datetime(dt)}', 6, 'UTC')"


def hogql_datetime(dt: datetime) -> str:
    """A HogQL DateTime64 literal (microseconds, UTC) for ``dt``."""
    return _hogql_datetime_literal(dt)


_HOGQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\0": "\\0",
    "\b": "\\b",
    "\f": "\\f",
    "\a": "\\a",
    "\v": "\\v",
}


def hogql_string(value: str) -> str:
    """A HogQL string literal: single quotes, backslash escapes (as PostHog's own printer)."""
    return "'" + "".join(_HOGQL_ESCAPES.get(ch, ch) for ch in value) + "'"


def _parse_timestamp(value: Any) -> datetime:
    """Parse PostHog's ISO-8601 timestamps (``...Z`` or ``...+hh:mm``) into aware UTC datetimes."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise PostHogError(f"PostHog returned a non-timestamp value in `timestamp`: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _uuid_literal(value: str) -> str:
    """Canonical form of a UUID for a HogQL literal (also guards against injection)."""
    try:
        return str(uuid_lib.UUID(value))
    except (TypeError, ValueError) as exc:
        raise PostHogError(f"PostHog returned an invalid event uuid: {value!r}") from exc


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Transfer:
    """What crossed the network from PostHog: answered queries, result rows and body bytes."""

    queries: int = 0
    rows: int = 0
    bytes: int = 0


class PostHogQueryClient:
    """Runs HogQL through PostHog's Query API with retries, and fetches events page by page."""

    def __init__(
        self,
        host: str,
        project_id: str | int,
        api_key: str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        timeout_s: float = 60.0,
        retry_budget_s: float = 120.0,
        max_attempts: int = 6,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create a client.

        ``page_size`` is capped at :data:`MAX_PAGE_SIZE`. ``retry_budget_s`` bounds the time spent
        waiting between the tries of one query; ``max_attempts`` bounds the number of requests.
        """
        if not api_key:
            raise PostHogAuthError(
                "No PostHog API key given: set the POSTHOG_API_KEY environment variable to a "
                "personal API key with the `query:read` scope."
            )
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.host = host.rstrip("/")
        self.project_id = str(project_id)
        self.page_size = min(page_size, MAX_PAGE_SIZE)
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self.max_attempts = max_attempts
        self._api_key = api_key
        self._session = session or requests.Session()
        self._sleep = sleep
        self.transfer = Transfer()

    def __repr__(self) -> str:
        return f"PostHogQueryClient(host={self.host!r}, project_id={self.project_id!r})"

    @property
    def query_url(self) -> str:
        return f"{self.host}/api/projects/{self.project_id}/query/"

    # ------------------------------------------------------------------ single query

    def query(self, hogql: str, *, name: str | None = None) -> dict[str, Any]:
        """Run one HogQL query (bypassing PostHog's result cache) and return the parsed JSON body.

        Retries 429 (honouring ``Retry-After``), 5xx, timeouts and connection errors.
        Raises :class:`PostHogQueryError` on 400, :class:`PostHogAuthError` on 401/403 and
        :class:`PostHogError` otherwise or when the retry budget runs out.
        """
        payload: dict[str, Any] = {
            "query": {"kind": "HogQLQuery", "query": hogql},
            "refresh": "force_blocking",
        }
        if name is not None:
            payload["name"] = name
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}

        retrying = retry.policy(max_attempts=self.max_attempts, budget_s=self.retry_budget_s,
                                sleep=self._sleep)  # fmt: skip
        try:
            for attempt in retrying:
                with attempt:
                    return self._query_once(payload, headers)
        except retry.RetryLater as exc:
            raise PostHogError(f"PostHog query {retry.gave_up(retrying)}; last error: {exc}",
                               status=exc.status) from None  # fmt: skip
        raise AssertionError("unreachable")  # pragma: no cover

    def _query_once(self, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """One POST: the body on 200; `RetryLater` on 429, 5xx, timeouts and dropped
        connections; the matching `PostHogError` on anything else."""
        try:
            response = self._session.post(
                self.query_url, json=payload, headers=headers, timeout=self.timeout_s
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise retry.RetryLater(f"{type(exc).__name__}: {self._redact(str(exc))}") from None
        status = response.status_code
        if status == 200:
            body = self._json_body(response)
            self.transfer.queries += 1
            self.transfer.rows += len(body.get("results") or [])
            self.transfer.bytes += len(response.content)
            return body
        if status == 429 or status >= 500:
            wait = retry.retry_after(response.headers.get("Retry-After")) if status == 429 else None
            raise retry.RetryLater(self._describe(response), retry_after=wait, status=status)
        raise self._error_for(response)

    def query_frame(
        self, hogql: str, schema: dict[str, pl.DataType], *, name: str | None = None
    ) -> pl.DataFrame:
        """Run one HogQL query and return its rows as a frame with ``schema``.

        Columns are found by name in the response (every column of ``schema`` must be there);
        timestamps are parsed from PostHog's ISO-8601 strings and 0/1 answers become booleans.
        """
        body = self.query(hogql, name=name)
        columns = body.get("columns") or []
        missing = [c for c in schema if c not in columns]
        if missing:
            raise PostHogError(f"PostHog response is missing columns {missing}; got {columns}")
        results = body.get("results") or []
        data = {}
        for column, dtype in schema.items():
            at = columns.index(column)
            values = [row[at] for row in results]
            if isinstance(dtype, pl.Datetime):
                values = [None if v is None else _parse_timestamp(v) for v in values]
            elif dtype == pl.Boolean:
                values = [None if v is None else bool(v) for v in values]
            elif dtype == pl.String:
                values = [_as_text(v) for v in values]
            data[column] = values
        return pl.DataFrame(data, schema=schema)

    # ------------------------------------------------------------------ events

    def fetch_events(self, start_utc: datetime, end_utc: datetime) -> pl.DataFrame:
        """Return every event with ``start_utc <= timestamp < end_utc``, by (timestamp, uuid),
        in one frame (for a small window; a day goes page by page: :meth:`event_pages`).
        Columns and dtypes are :data:`EVENTS_SCHEMA`; ``properties`` is the raw JSON string.
        """
        frames = list(self.event_pages(start_utc, end_utc))
        if not frames:
            return pl.DataFrame(schema=EVENTS_SCHEMA)
        return pl.concat(frames, how="vertical")

    def event_pages(self, start_utc: datetime, end_utc: datetime) -> Iterator[pl.DataFrame]:
        """Every event with ``start_utc <= timestamp < end_utc``, one page at a time.

        Pages with a ``(timestamp, uuid)`` keyset and stops only on an **empty** page: PostHog
        may clamp ``LIMIT`` below what was sent without saying so, so a short page does not
        prove the window is exhausted. Row order is the server's (ClickHouse's UUID order).
        """
        if end_utc <= start_utc:
            return
        window = (
            f"timestamp >= {_hogql_datetime_literal(start_utc)} "
            f"AND timestamp < {_hogql_datetime_literal(end_utc)}"
        )
        cursor: tuple[datetime, str] | None = None
        page = 0
        while True:
            page += 1
            where = window
            if cursor is not None:
                where += (
                    f" AND (timestamp, uuid) > ({_hogql_datetime_literal(cursor[0])}, "
                    f"toUUID('{_uuid_literal(cursor[1])}'))"
                )
            hogql = (
                "SELECT uuid, event, distinct_id, timestamp, properties FROM events "
                f"WHERE {where} ORDER BY timestamp ASC, uuid ASC LIMIT {self.page_size}"
            )
            body = self.query(hogql, name=f"reporting_assets fetch_events page {page}")
            frame = _events_frame(body)
            if frame.height == 0:
                return
            yield frame
            last = frame.row(-1, named=True)
            new_cursor = (last["timestamp"], last["uuid"])
            if new_cursor == cursor:
                raise PostHogError(
                    f"PostHog pagination did not advance past {new_cursor!r}; stopping to avoid "
                    "an endless loop"
                )
            cursor = new_cursor

    # ------------------------------------------------------------------ helpers

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "<redacted>") if self._api_key else text

    def _json_body(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise PostHogError(
                f"PostHog returned HTTP {response.status_code} with a non-JSON body: "
                f"{self._redact(response.text[:_DETAIL_MAX_CHARS])!r}",
                status=response.status_code,
            ) from exc
        if not isinstance(body, dict):
            raise PostHogError(
                f"PostHog returned HTTP {response.status_code} with an unexpected JSON body "
                f"of type {type(body).__name__}",
                status=response.status_code,
            )
        return body

    def _error_fields(self, response: requests.Response) -> tuple[str | None, str]:
        """Return PostHog's error ``code`` and ``detail`` (or the raw text) from a response."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = body.get("code")
            detail = body.get("detail")
            if detail is None:
                detail = body.get("error_message") or json.dumps(body)[:_DETAIL_MAX_CHARS]
            return (str(code) if code is not None else None), self._redact(str(detail))
        return None, self._redact(response.text[:_DETAIL_MAX_CHARS].strip()) or "(empty body)"

    def _describe(self, response: requests.Response) -> str:
        code, detail = self._error_fields(response)
        code_part = f" {code}" if code else ""
        return f"HTTP {response.status_code}{code_part}: {detail}"

    def _error_for(self, response: requests.Response) -> PostHogError:
        status = response.status_code
        code, detail = self._error_fields(response)
        if status in (401, 403):
            return PostHogAuthError(
                f"PostHog rejected the API key (HTTP {status} {code or ''}: {detail}). Check the "
                "POSTHOG_API_KEY environment variable: it must be a personal API key with the "
                f"`query:read` scope for project {self.project_id}.",
                status=status,
                code=code,
                detail=detail,
            )
        if status == 400:
            return PostHogQueryError(
                f"PostHog rejected the HogQL query (HTTP 400 {code or 'invalid_input'}): {detail}",
                status=status,
                code=code,
                detail=detail,
            )
        if status == 202:
            return PostHogError(
                "PostHog answered HTTP 202 (async query) although refresh=force_blocking was sent",
                status=status,
            )
        return PostHogError(
            f"PostHog query failed: {self._describe(response)}",
            status=status,
            code=code,
            detail=detail,
        )


def _events_frame(body: dict[str, Any]) -> pl.DataFrame:
    """Build an :data:`EVENTS_SCHEMA` frame from a Query API body; fields found by ``columns``."""
    columns = body.get("columns") or []
    results = body.get("results") or []
    if not results:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    missing = [name for name in EVENTS_SCHEMA if name not in columns]
    if missing:
        raise PostHogError(f"PostHog response is missing columns {missing}; got {columns}")
    idx = {name: columns.index(name) for name in EVENTS_SCHEMA}
    data = {
        "uuid": [_as_text(row[idx["uuid"]]) for row in results],
        "event": [_as_text(row[idx["event"]]) for row in results],
        "distinct_id": [_as_text(row[idx["distinct_id"]]) for row in results],
        "timestamp": [_parse_timestamp(row[idx["timestamp"]]) for row in results],
        "properties": [_as_text(row[idx["properties"]]) for row in results],
    }
    return pl.DataFrame(data, schema=EVENTS_SCHEMA)
