"""What the platform figures are read from: Dagster's run records and event log (when runs ran,
when each asset partition was first materialized) and the delivery ledger."""

from collections.abc import Iterable
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from reporting_assets.platform.figures import RunTiming
from reporting_assets.records.delivery_rows import SENT, deliveries

PARTITION_TAG = "dagster/partition"
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
PAGE = 1000


def _at(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None


def finished_runs(instance: dg.DagsterInstance, partition_keys: Iterable[str]) -> list[RunTiming]:
    """Every finished run of any job for these partition keys, with its start and end."""
    keys = sorted(set(partition_keys))
    records = instance.get_run_records(dg.RunsFilter(tags={PARTITION_TAG: keys}, statuses=FINISHED))
    return [
        RunTiming(
            r.dagster_run.run_id,
            r.dagster_run.job_name,
            r.dagster_run.tags.get(PARTITION_TAG, ""),
            r.dagster_run.status.value,
            _at(r.start_time),
            _at(r.end_time),
        )
        for r in records
    ]


def first_materializations(
    instance: dg.DagsterInstance, asset: str, partitions: Iterable[str]
) -> dict[str, datetime]:
    """When each of these partitions of `asset` was first materialized (partitions never
    materialized are absent). The first, not the latest: a re-run or a backfill later on does
    not move it."""
    wanted = sorted(set(partitions))
    first: dict[str, datetime] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=wanted),
            limit=PAGE,
            cursor=cursor,
            ascending=True,
        )
        for record in result.records:
            first.setdefault(record.partition_key, _at(record.timestamp))
        if not result.has_more:
            return first
        cursor = result.cursor


def ledger_rows(engine: sa.Engine, periods: dict[str, str]) -> list[dict]:
    """Every delivery row (each generation) of these report periods ({report: period})."""
    if not periods:
        return []
    wanted = sa.or_(
        *(sa.and_(deliveries.c.report == r, deliveries.c.period == p) for r, p in periods.items())
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries).where(wanted).order_by(deliveries.c.id))
        return [dict(r) for r in rows.mappings()]


def first_sent(rows: Iterable[dict]) -> dict[tuple[str, str, str], datetime]:
    """The first delivery on each (report, period, channel), from ledger rows."""
    first: dict[tuple[str, str, str], datetime] = {}
    for r in rows:
        if r["status"] != SENT or r["sent_at"] is None:
            continue
        at = r["sent_at"] if r["sent_at"].tzinfo else r["sent_at"].replace(tzinfo=UTC)
        key = (r["report"], r["period"], r["channel"])
        first[key] = min(first.get(key, at), at)
    return first
