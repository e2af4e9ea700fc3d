"""Source assets through Dagster: a day materializes from the demo company, re-running it
replaces rather than appends, warehouse rows are taken as of the end of the day, and a bad
PostHog key fails the run with a message that says what to fix."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from reporting_assets.config import get_settings
from reporting_assets.lib.events import read_batch_export
from reporting_assets.partitions import day_window
from reporting_assets.resources import build_resources
from reporting_assets.resources.app_db import source_loads
from reporting_assets.resources.sources import PostHogEventsResource
from reporting_assets.sources.assets import posthog_events, source_assets
from reporting_assets_tests.conftest import label
from reporting_assets_tests.fakes.posthog_fake import PostHogFake

DAY = "2026-03-08"  # the spring DST change: a 23-hour day


def _materialize(resources, assets=source_assets, partition=DAY, **kw):
    return dg.materialize(assets, partition_key=partition, resources=resources, **kw)


def _stored(reporting_home, asset: str, partition: str = DAY) -> pl.DataFrame:
    return pl.read_parquet(reporting_home / "var/data/assets" / asset / f"{partition}.parquet")


def test_a_day_materializes_every_source(demo_company, reporting_home):
    resources = build_resources(get_settings())
    result = _materialize(resources)
    assert result.success
    events = _stored(reporting_home, "posthog_events")
    w = day_window(DAY)
    raw = read_batch_export(str(demo_company["path"] / "posthog/events"), w.start_utc, w.end_utc)
    assert events.height == raw.height == demo_company["events_per_day"][DAY]
    assert events.get_column("timestamp").min() >= w.start_utc
    assert events.get_column("timestamp").max() < w.end_utc
    purchases = events.filter(pl.col("event") == "purchase_completed")
    assert purchases.get_column("amount_minor").dtype == pl.Int64
    assert purchases.get_column("amount_minor").null_count() == 0
    costs = _stored(reporting_home, "cloud_costs")
    assert costs.get_column("cost_date").unique().to_list() == [w.day]
    mat = result.asset_materializations_for_node("posthog_events")[0]
    assert mat.metadata["rows"].value == events.height
    assert mat.metadata["period"].value == DAY


def test_rematerializing_a_day_replaces_it(demo_company, reporting_home):
    resources = build_resources(get_settings())
    assert _materialize(resources).success
    first = {a: _stored(reporting_home, a).height for a in ("posthog_events", "support_tickets")}
    assert _materialize(resources).success
    second = {a: _stored(reporting_home, a).height for a in ("posthog_events", "support_tickets")}
    assert first == second
    engine = sa.create_engine(f"sqlite:///{reporting_home / 'var/data/app.db'}")
    with engine.connect() as conn:
        loads = conn.execute(
            sa.select(source_loads.c.rows).where(
                source_loads.c.asset == "posthog_events", source_loads.c.partition_key == DAY
            )
        ).all()
    assert len(loads) >= 2 and {r for (r,) in loads} == {first["posthog_events"]}


def test_warehouse_rows_are_as_of_the_end_of_the_day(demo_company, reporting_home):
    assert _materialize(build_resources(get_settings())).success
    end = day_window(DAY).end_utc.replace(tzinfo=None)
    tickets = _stored(reporting_home, "support_tickets")
    assert tickets.height > 0
    # Nothing resolved after the day ends is visible; tickets still open at the end exist.
    assert (tickets.get_column("resolved_at").drop_nulls() < end).all()
    still_open = tickets.filter(pl.col("resolved_at").is_null())
    assert still_open.height > 0
    assert still_open.get_column("resolution_hours").null_count() == still_open.height
    milestones = _stored(reporting_home, "initiative_milestones")
    assert (milestones.get_column("actual_date").drop_nulls() <= day_window(DAY).day).all()


def test_bad_posthog_key_fails_with_a_clear_message(demo_company, reporting_home):
    event = {
        "uuid": "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "event": "$pageview",
        "distinct_id": "u1",
        "timestamp": datetime(2026, 3, 8, 15, tzinfo=UTC),
        "properties": {"account_id": "acct_00001"},
    }
    with PostHogFake([event], api_key="phx_right", project_id=1) as fake:
        resources = {
            **build_resources(get_settings()),
            "posthog": PostHogEventsResource(
                backend="query_api", host=fake.url, project_id="1", api_key="phx_wrong_key"
            ),
        }
        result = _materialize(resources, [posthog_events], raise_on_error=False)
        ok = _materialize(
            {**resources, "posthog": PostHogEventsResource(
                backend="query_api", host=fake.url, project_id="1", api_key="phx_right")},
            [posthog_events], raise_on_error=False,
        )  # fmt: skip
    assert not result.success
    failure = result.get_step_failure_events()[0]
    message = failure.step_failure_data.error.message + str(failure.step_failure_data.error.cause)
    assert "POSTHOG_API_KEY" in message
    assert "phx_wrong_key" not in message
    # With the right key the day's one event arrives, well formed. (Whether one event is a
    # plausible day depends on what earlier days are stored, so completeness is not asserted.)
    stored = _stored(reporting_home, "posthog_events")
    assert stored.get_column("uuid").to_list() == [event["uuid"]]
    assert stored.get_column("account_id").to_list() == ["acct_00001"]
    checks = {label(c): c.passed for c in ok.get_asset_check_evaluations()}
    assert checks["posthog_events:matches_schema"] is True


def test_missing_demo_data_says_how_to_create_it(tmp_path):
    resource = PostHogEventsResource(backend="batch_export", export_path=str(tmp_path / "none"))
    w = day_window(DAY)
    with pytest.raises(RuntimeError, match="reporting demo-data"):
        resource.events_between(w.start_utc, w.end_utc)
