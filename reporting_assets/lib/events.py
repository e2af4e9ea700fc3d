"""Product events: reading PostHog batch-export files and typing the properties reports use.

Reading is lenient and honest: a file whose columns were renamed or retyped is not a crash but a
list of problems that the source's schema check reports by name, with the file and the column.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import duckdb
import polars as pl
from upath import UPath

from reporting_assets.lib.formatting import plural

RAW_SCHEMA = {
    "uuid": pl.String(),
    "event": pl.String(),
    "distinct_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "properties": pl.String(),
}
# The event properties reports rely on, with their types. PostHog leaves property names to the
# customer; these are the demo company's (revenue in minor units, as PostHog's docs advise).
PROPERTY_TYPES = {
    "account_id": "VARCHAR",
    "plan": "VARCHAR",
    "revenue": "BIGINT",
    "amount": "BIGINT",
    "currency": "VARCHAR",
    "mrr": "DOUBLE",
    "previous_mrr": "DOUBLE",
    "seats": "BIGINT",
    "reason": "VARCHAR",
    "feature": "VARCHAR",
    "reactivation": "BOOLEAN",
}
# JSON types each property may arrive as (DuckDB json_type names).
ALLOWED_JSON_TYPES = {
    "revenue": ("UBIGINT", "BIGINT"),
    "amount": ("UBIGINT", "BIGINT"),
    "mrr": ("UBIGINT", "BIGINT", "DOUBLE"),
    "previous_mrr": ("UBIGINT", "BIGINT", "DOUBLE"),
}
TYPED_SCHEMA = {
    "uuid": pl.String(), "event": pl.String(), "distinct_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"), "account_id": pl.String(), "plan": pl.String(),
    "amount_minor": pl.Int64(), "currency": pl.String(), "mrr": pl.Float64(),
    "previous_mrr": pl.Float64(), "seats": pl.Int64(), "reason": pl.String(),
    "feature": pl.String(), "reactivation": pl.Boolean(), "properties": pl.String(),
}  # fmt: skip
_INTERVAL = re.compile(
    r"(?P<start>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00)-"
    r"(?P<end>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00)_manifest\.json$"
)


class BatchExportError(RuntimeError):
    """The batch-export folder is missing or unreadable."""


def empty_raw_events() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)


def _load(path: UPath) -> tuple[pl.DataFrame, list[str]]:
    """The file's event columns (only those we use, when present) and all its column names."""
    name = path.name
    if ".parquet" in name:
        with path.open("rb") as fh:
            names = list(pl.read_parquet_schema(fh))
            fh.seek(0)
            return pl.read_parquet(fh, columns=[c for c in names if c in RAW_SCHEMA]), names
    if ".jsonl" in name:
        compression = "gzip" if name.endswith(".gz") else None
        with path.open("rb", compression=compression) as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        for r in rows:
            for key in ("properties", "person_properties"):
                if isinstance(r.get(key), dict):
                    r[key] = json.dumps(r[key], separators=(",", ":"))
        frame = pl.DataFrame(rows, infer_schema_length=None)
        return frame, frame.columns
    raise BatchExportError(f"{path}: unknown batch-export file type")


def conform_raw(
    frame: pl.DataFrame, origin: str, names: list[str] | None = None
) -> tuple[pl.DataFrame | None, list[str]]:
    """The export's columns in the expected types, or the problems that prevent it.

    Without a usable `timestamp` no row can be placed in a day, so the file is skipped (and
    reported); any other missing or mistyped column is reported and left empty.
    """
    problems = []
    columns = []
    for name, dtype in RAW_SCHEMA.items():
        if name not in frame.columns:
            problems.append(
                f"{origin}: column '{name}' is missing (found: {', '.join(names or frame.columns)})"
            )
            columns.append(pl.lit(None, dtype).alias(name))
            continue
        actual = frame.schema[name]
        if name == "timestamp" and actual == pl.String:
            col = pl.col(name).str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
        elif name == "timestamp" and isinstance(actual, pl.Datetime):
            col = (
                pl.col(name).dt.convert_time_zone("UTC")
                if actual.time_zone
                else pl.col(name).dt.replace_time_zone("UTC")
            ).dt.cast_time_unit("us")
        elif actual == dtype:
            col = pl.col(name)
        else:
            problems.append(f"{origin}: column '{name}' has type {actual}, expected {dtype}")
            col = pl.lit(None, dtype)
        columns.append(col.alias(name))
    out = frame.select(columns)
    bad_ts = out.get_column("timestamp").null_count()
    if "timestamp" in frame.columns and bad_ts == frame.height and frame.height:
        problems.append(f"{origin}: no readable timestamps; the file's rows were skipped")
        return None, problems
    return out, problems


def export_files(root: str, start_utc: datetime, end_utc: datetime) -> list[tuple[UPath, str]]:
    """The files of a PostHog S3-style batch export that may hold events of the window, each
    with the manifest that lists it.

    `root` is the export prefix (a local folder or an object-store URL). The manifests
    (`<start>-<end>_manifest.json`) say which files cover which interval; only intervals that
    overlap the window count.
    """
    base = UPath(root)
    if not base.exists():
        raise BatchExportError(
            f"batch-export folder {root} does not exist; for the demo run `reporting demo-data`"
        )
    files = []
    for manifest in sorted(base.glob("*_manifest.json")):
        m = _INTERVAL.search(manifest.name)
        if not m:
            continue
        lo, hi = (datetime.fromisoformat(m[k]).astimezone(UTC) for k in ("start", "end"))
        if hi <= start_utc or lo >= end_utc:
            continue
        # Manifest entries are keys under the export's prefix; the files sit beside it.
        files += [(base / key.rsplit("/", 1)[-1], manifest.name)
                  for key in json.loads(manifest.read_text())["files"]]  # fmt: skip
    return files


def unreadable(path: UPath, exc: Exception) -> str:
    """A truncated or corrupt file, in words: its events are missing and the check says which."""
    text = str(exc).strip()
    reason = text.splitlines()[0][:200] if text else ""
    return f"{path.name}: unreadable ({type(exc).__name__}: {reason})"


def read_batch_export(
    root: str, start_utc: datetime, end_utc: datetime, problems: list[str] | None = None
) -> pl.DataFrame:
    """Events with start_utc <= timestamp < end_utc from a PostHog S3-style batch export, in
    memory (the pipeline streams the day instead: `lib.event_files`).

    Problems with a file (renamed or retyped columns) are appended to `problems` instead of
    failing the read.
    """
    problems = problems if problems is not None else []
    frames = []
    for path, manifest in export_files(root, start_utc, end_utc):
        try:
            loaded, names = _load(path)
        except FileNotFoundError:
            problems.append(f"{path.name}: listed in {manifest} but missing")
            continue
        except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
            problems.append(unreadable(path, exc))
            continue
        frame, found = conform_raw(loaded, path.name, names)
        problems.extend(found)
        if frame is not None:
            frames.append(frame)
    if not frames:
        return empty_raw_events()
    return (
        pl.concat(frames)
        .filter((pl.col("timestamp") >= start_utc) & (pl.col("timestamp") < end_utc))
        .sort("timestamp", "uuid")
    )


def property_problems(
    con: duckdb.DuckDBPyConnection, relation: str, *, typed: bool = True
) -> list[str]:
    """Properties that are not valid JSON, or that carry a money field in the wrong type, among
    the events of `relation` (a table, view or `read_parquet(...)` that DuckDB can scan; `typed`
    when it holds the typed columns, as the stored day does)."""
    checks = ", ".join(
        f"count(*) FILTER (WHERE json_valid(properties) AND json_type(properties, '$.{key}') "
        f"NOT IN ({', '.join(repr(t) for t in allowed)}) "
        f"AND json_type(properties, '$.{key}') <> 'NULL') AS \"{key}\""
        for key, allowed in ALLOWED_JSON_TYPES.items()
    )
    # Only events that mention a money field need the (slower) per-key type inspection; and
    # properties that are not JSON left `account_id` empty when the events were typed, so only
    # those events are parsed again.
    keys = "|".join(ALLOWED_JSON_TYPES)
    mentions = f"regexp_matches(properties, '\"(?:{keys})\"')"
    invalid = con.execute(
        f"SELECT count(*) FROM {relation} WHERE {'account_id IS NULL AND ' if typed else ''}"
        "properties IS NOT NULL AND NOT json_valid(properties)"
    ).fetchall()[0][0]
    row = (
        invalid,
        *con.execute(
            f"SELECT {checks} FROM (SELECT properties FROM {relation} WHERE {mentions})"
        ).fetchall()[0],
    )
    problems = []
    if row[0]:
        problems.append(f"properties is not valid JSON in {plural(row[0], 'event')}")
    for (key, allowed), n in zip(ALLOWED_JSON_TYPES.items(), row[1:], strict=True):
        if n:
            problems.append(
                f"property '{key}' has the wrong type in {plural(n, 'event')} "
                f"(expected {' or '.join(allowed)})"
            )
    return problems


def typed_events(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per event with the properties reports use as typed columns (parsed in DuckDB).

    Duplicate deliveries of the same event (same uuid) are kept: dropping them silently would
    hide a problem upstream; the schema check reports them instead.
    """
    if raw.is_empty():
        return pl.DataFrame(schema=TYPED_SCHEMA)
    typed = duckdb.sql(typed_select("raw")).pl()
    return typed.with_columns(pl.col("timestamp").dt.convert_time_zone("UTC")).cast(TYPED_SCHEMA)


def typed_select(relation: str) -> str:
    """The SELECT that turns raw events (`relation`) into one typed row per event: the
    properties reports use as columns, parsed by DuckDB's `from_json` (invalid JSON: nulls)."""
    spec = json.dumps(PROPERTY_TYPES)
    return f"""
        SELECT uuid, event, distinct_id, timestamp,
               p.account_id, p.plan, coalesce(p.revenue, p.amount) AS amount_minor, p.currency,
               p.mrr, p.previous_mrr, p.seats, p.reason, p.feature,
               coalesce(p.reactivation, false) AS reactivation, properties
        FROM (
            SELECT *, CASE WHEN json_valid(properties) THEN from_json(properties, '{spec}') END
                   AS p
            FROM {relation}
        )
    """
