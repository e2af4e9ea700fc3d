"""Sensors: what runs on its own between the schedules.

* `review_approval_sensor`  launches a report's delivery within seconds of its approval.
* `critical_alert_sensor`   every 15 s, critical alert rules on the newest checked day; notifies
                            once per episode and again only after the re-notify interval.
* `check_failure_sensor`    tells the data team of every failed WARN or ERROR check (a WARN
                            never fails the run, so no run-failure sensor would see it).
* `failed_run_sensor`       tells the data team of every failed run, however it was launched.
* `health_probe_sensor`     every minute, probes the web app's health endpoint (2 s timeout) and
                            records up or down: the availability SLO's measurements.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from reporting_assets.distribution.notify import (
    CHECK_LOOKBACK,
    notify_failed_checks,
    notify_run_failure,
)
from reporting_assets.distribution.realtime import check_critical_alerts
from reporting_assets.jobs import (
    delivery_jobs,
)
from reporting_assets.platform.probe import probe_and_record
from reporting_assets.records.reviews import ReviewBook
from reporting_assets.resources.app_db import AppDatabase, check_results
from reporting_assets.resources.artifacts import ArtifactStoreResource
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import AssetHistory

REVIEW_TAG = "reporting/review"
APPROVAL_LOOKBACK = 50  # review events


@dg.sensor(
    name="review_approval_sensor",
    jobs=list(delivery_jobs.values()),
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Delivers a manual report as soon as a reviewer approves it (checks every 10 s).",
)
def review_approval_sensor(context: dg.SensorEvaluationContext, app_db: AppDatabase):
    book = ReviewBook(app_db.engine)
    seen = int(context.cursor or 0)
    # Look a little behind the cursor: on PostgreSQL a transaction can commit an earlier id after
    # a later one. Requests for approvals already launched are dropped by their run key.
    events = book.events(after_id=max(0, seen - APPROVAL_LOOKBACK))
    requests = []
    for event in events:
        if event["action"] != "approved":
            continue
        review = book.get(event["review_id"])
        requests.append(dg.RunRequest(
            job_name=f"{review.report}_delivery_job", partition_key=review.period,
            run_key=f"review-{review.id}",
            tags={REVIEW_TAG: str(review.id), "reporting/approved_by": review.decided_by or ""},
        ))  # fmt: skip
    cursor = str(max([seen, *(e["id"] for e in events)]))
    if not requests:
        return dg.SensorResult(skip_reason="no newly approved review", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


@dg.sensor(
    name="critical_alert_sensor",
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the critical alert rules on the newest checked day every 15 s (so a "
    "breach is announced within 30 s of landing) and "
    "notifies once per alert, again only after the re-notify interval.",
)
def critical_alert_sensor(
    context: dg.SensorEvaluationContext,
    business: SettingsResource,
    app_db: AppDatabase,
    asset_history: AssetHistory,
    artifacts: ArtifactStoreResource,
):
    sent = check_critical_alerts(business.get(), asset_history, app_db,
                                 report_base_url=artifacts.report_base_url)  # fmt: skip
    for s in sent:
        context.log.info(f"{s['action']} {s['rule']} ({s['day']}): {s['channels']}")
    return dg.SkipReason(f"{len(sent)} notices sent" if sent else "nothing new to announce")


@dg.sensor(
    name="check_failure_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Tells the data team of every failed WARN or ERROR quality check.",
)
def check_failure_sensor(
    context: dg.SensorEvaluationContext, business: SettingsResource, app_db: AppDatabase
):
    # Cursor "<newest id seen>:<floor>": the floor is where the sensor started (results older
    # than a day at its first tick are history, never announced); each tick looks back behind
    # the newest id, but never below the floor.
    if context.cursor is None:
        with app_db.engine.connect() as conn:
            floor = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(check_results.c.id), 0)).where(
                    check_results.c.evaluated_at < datetime.now(UTC) - timedelta(days=1)
                )
            ).scalar()
        newest = floor
    else:
        newest, _, floor = context.cursor.partition(":")
        newest, floor = int(newest), int(floor or 0)
    lookback = max(0, min(CHECK_LOOKBACK, int(newest) - int(floor)))
    newest, sent = notify_failed_checks(business.get(), app_db.engine, int(newest), lookback)
    for s in sent:
        context.log.info(f"{s['severity']} {s['asset']} [{s['partition']}] notified")
    return dg.SensorResult(skip_reason=f"{len(sent)} failed checks notified",
                           cursor=f"{newest}:{floor}")  # fmt: skip


# A run launched from the CLI, a backfill or a test has no code-location origin that Dagster's
# run-status sensors match, so failed runs are read from the instance itself, whoever started them.
RUN_LOOKBACK = timedelta(minutes=10)
FIRST_LOOKBACK = timedelta(days=1)


def _failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    """What failed in the run: its failed steps' errors, else the run's own failure message."""
    messages = []
    for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        for record in instance.get_records_for_run(run_id, of_type=kind).records:
            event = record.event_log_entry.dagster_event
            data = event.step_failure_data if kind == dg.DagsterEventType.STEP_FAILURE else None
            text = data.error.message.strip() if data and data.error else event.message
            messages.append(f"{event.step_key}: {text}" if event.step_key else text)
        if messages:
            break
    return "; ".join(m.splitlines()[0] for m in messages if m) or "no error message"


@dg.sensor(
    name="failed_run_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Tells the data team of every failed run, however it was launched (schedule, "
    "sensor, backfill, `reporting materialize`).",
)
def failed_run_sensor(
    context: dg.SensorEvaluationContext, business: SettingsResource, app_db: AppDatabase
):
    now = datetime.now(UTC)
    since = (datetime.fromtimestamp(float(context.cursor), UTC) if context.cursor
             else now - FIRST_LOOKBACK)  # fmt: skip
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE],
                              updated_after=since - RUN_LOOKBACK),
        order_by="update_timestamp", ascending=True, limit=200,
    )  # fmt: skip
    newest = since
    for record in records:
        run = record.dagster_run
        # Told once per run, however many ticks look back over it.
        notify_run_failure(business.get(), app_db.engine, run.run_id, run.job_name,
                           run.tags.get("dagster/partition"),
                           _failure_message(context.instance, run.run_id))  # fmt: skip
        newest = max(newest, record.update_timestamp)
    context.update_cursor(str(newest.timestamp()))


@dg.sensor(
    name="health_probe_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Probes the web app's health endpoint every minute and records whether it "
    "answered (the availability SLO).",
)
def health_probe_sensor(
    context: dg.SensorEvaluationContext, business: SettingsResource, app_db: AppDatabase
):
    settings = business.get()
    try:
        probe = probe_and_record(app_db.engine, settings.web.base_url, settings.slo.probe_timeout_s)
    except Exception as exc:  # the app database unreachable: say so, never stop the sensor
        context.log.warning(f"health probe not recorded: {type(exc).__name__}: {exc}")
        return dg.SkipReason(f"probe not recorded: {type(exc).__name__}")
    state = "up" if probe.up else f"down ({probe.error})"
    return dg.SkipReason(f"web app {state}")


sensors = [review_approval_sensor, critical_alert_sensor, check_failure_sensor,
           failed_run_sensor, health_probe_sensor]  # fmt: skip
