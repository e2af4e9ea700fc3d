"""What the platform figures are read from: Dagster's run records and event log (when runs ran,
when each asset partition was first materialized), the delivery ledger, the web app's feedback
and usage records, the recorded check results, and the rendered reports' content."""

import json
from collections.abc import Iterable
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from reporting_assets.platform.figures import RunTiming
from reporting_assets.records.delivery_rows import SENT, deliveries
from reporting_assets.records.usage import feedback, usage_events
from reporting_assets.resources.app_db import check_results

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


def quarter_records(
    engine: sa.Engine, since: datetime, until: datetime, first: str, last: str, low_rating: int = 2
) -> dict:
    """The quarter's records from the app database: feedback given in [since, until) and the
    count of section ratings at or below `low_rating` in it, the
    readers of each report in the app, and the delivery ledger's rows for report periods
    `first` to `last` (notices included: a bounce of a notice is a delivery problem too)."""
    with engine.connect() as conn:
        said = [
            dict(r)
            for r in conn.execute(
                sa.select(feedback).where(
                    feedback.c.created_at >= since, feedback.c.created_at < until
                )
            ).mappings()
        ]
        used = conn.execute(
            sa.select(usage_events.c.report, usage_events.c.reader)
            .where(
                usage_events.c.at >= since,
                usage_events.c.at < until,
                usage_events.c.report.is_not(None),
            )
            .distinct()
        ).all()
        ledger = [
            dict(r)
            for r in conn.execute(
                sa.select(deliveries).where(
                    deliveries.c.period >= first, deliveries.c.period <= last
                )
            ).mappings()
        ]
    readers: dict[str, int] = {}
    for report, _ in used:
        readers[report] = readers.get(report, 0) + 1
    low: dict[tuple[str, str], int] = {}
    for f in said:
        if f["section"] and f["rating"] is not None and f["rating"] <= low_rating:
            low[(f["report"], f["section"])] = low.get((f["report"], f["section"]), 0) + 1
    return {"feedback": said, "readers": readers, "low_ratings": low, "ledger": ledger}


def chart_sections(store, reports: Iterable[str], periods: Iterable[str]) -> dict:
    """{(report, section): chart names} of the sections that carried a chart in the latest
    rendered version of any of these report periods (each version's `report.json`, as the web
    view reads it)."""
    periods = list(periods)
    found: dict[tuple[str, str], set[str]] = {}
    for report in reports:
        for period in periods:
            version = store.latest(report, period)
            content = version / "report.json" if version else None
            if content is None or not content.exists():
                continue
            for s in json.loads(content.read_text()).get("sections", []):
                if s.get("charts"):
                    found.setdefault((report, s["key"]), set()).update(s["charts"])
    return {k: sorted(v) for k, v in found.items()}


def check_rows(engine: sa.Engine, assets: Iterable[str], days: Iterable[str]) -> list[dict]:
    """The recorded check results of `assets` for these day keys (every evaluation)."""
    query = sa.select(check_results).where(
        check_results.c.asset.in_(list(assets)), check_results.c.partition_key.in_(list(days))
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def sent_between(engine: sa.Engine, since: datetime, until: datetime) -> list[tuple[str, datetime]]:
    """(report, sent at) of every report delivery sent in [since, until); notices left out."""
    query = sa.select(deliveries.c.report, deliveries.c.sent_at).where(
        deliveries.c.status == SENT,
        deliveries.c.sent_at >= since,
        deliveries.c.sent_at < until,
        ~deliveries.c.report.startswith("notice:"),
    )
    with engine.connect() as conn:
        return [(r, at if at.tzinfo else at.replace(tzinfo=UTC)) for r, at in conn.execute(query)]
