"""Product events: reading PostHog batch-export files and typing the properties reports use."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import polars as pl
from upath import UPath

RAW_SCHEMA = {
    "uuid": pl.String(),
    "event": pl.String(),
    "distinct_id": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "properties": pl.String(),
}
# The event properties the reports rely on, with their types. PostHog leaves property names to
# the customer; these are the demo company's (revenue in minor units, as PostHog's docs advise).
PROPERTY_SCHEMA = pl.Struct(
    {
        "account_id": pl.String(),
        "plan": pl.String(),
        "revenue": pl.Int64(),
        "amount": pl.Int64(),
        "currency": pl.String(),
        "mrr": pl.Float64(),
        "previous_mrr": pl.Float64(),
        "seats": pl.Int64(),
        "reason": pl.String(),
        "feature": pl.String(),
        "reactivation": pl.Boolean(),
    }
)
_INTERVAL = re.compile(
    r"(?P<start>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00)-"
    r"(?P<end>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00)_manifest\.json$"
)


class BatchExportError(RuntimeError):
    """Batch-export files are missing or unreadable."""


def empty_raw_events() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)


def _read_file(path: UPath) -> pl.DataFrame:
    name = path.name
    if ".parquet" in name:
        with path.open("rb") as fh:
            frame = pl.read_parquet(fh, columns=list(RAW_SCHEMA))
    elif ".jsonl" in name:
        compression = None
        if name.endswith(".gz"):
            compression = "gzip"
        with path.open("rb", compression=compression) as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        frame = pl.DataFrame(
            {
                "uuid": [r["uuid"] for r in rows],
                "event": [r["event"] for r in rows],
                "distinct_id": [r["distinct_id"] for r in rows],
                "timestamp": [r["timestamp"] for r in rows],
                "properties": [json.dumps(r.get("properties") or {}) for r in rows],
            },
            schema={**RAW_SCHEMA, "timestamp": pl.String()},
        ).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC", time_unit="us"))
    else:
        raise BatchExportError(f"{path}: unknown batch-export file type")
    return frame.with_columns(pl.col("timestamp").dt.convert_time_zone("UTC")).cast(RAW_SCHEMA)


def read_batch_export(root: str, start_utc: datetime, end_utc: datetime) -> pl.DataFrame:
    """Events with start_utc <= timestamp < end_utc from a PostHog S3-style batch export.

    `root` is the export prefix (a local folder or an object-store URL). The export's manifests
    (`<start>-<end>_manifest.json`) say which data files cover which interval; only intervals that
    overlap the window are read.
    """
    base = UPath(root)
    if not base.exists():
        raise BatchExportError(
            f"batch-export folder {root} does not exist; for the demo run `reporting demo-data`"
        )
    frames = []
    for manifest in sorted(base.glob("*_manifest.json")):
        m = _INTERVAL.search(manifest.name)
        if not m:
            continue
        lo, hi = (datetime.fromisoformat(m[k]).astimezone(UTC) for k in ("start", "end"))
        if hi <= start_utc or lo >= end_utc:
            continue
        for key in json.loads(manifest.read_text())["files"]:
            # Manifest entries are keys under the export's prefix; the files sit beside it.
            frames.append(_read_file(base / key.rsplit("/", 1)[-1]))
    if not frames:
        return empty_raw_events()
    events = pl.concat(frames)
    return events.filter((pl.col("timestamp") >= start_utc) & (pl.col("timestamp") < end_utc)).sort(
        "timestamp", "uuid"
    )


def typed_events(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per event with the properties reports use as typed columns.

    Duplicate deliveries of the same event (same uuid) are kept: dropping them silently would
    hide a problem upstream; the completeness check reports them instead.
    """
    props = pl.col("properties").str.json_decode(PROPERTY_SCHEMA)
    return raw.select(
        "uuid",
        "event",
        "distinct_id",
        "timestamp",
        props.struct.field("account_id").alias("account_id"),
        props.struct.field("plan").alias("plan"),
        pl.coalesce(props.struct.field("revenue"), props.struct.field("amount")).alias(
            "amount_minor"
        ),
        props.struct.field("currency").alias("currency"),
        props.struct.field("mrr").alias("mrr"),
        props.struct.field("previous_mrr").alias("previous_mrr"),
        props.struct.field("seats").alias("seats"),
        props.struct.field("reason").alias("reason"),
        props.struct.field("feature").alias("feature"),
        props.struct.field("reactivation").fill_null(False).alias("reactivation"),
        "properties",
    )
