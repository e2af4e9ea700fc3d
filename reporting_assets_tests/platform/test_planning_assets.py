"""The quarterly enhancement backlog and the annual strategic review materialized on a Dagster
instance, over records written the way the web app, the ledger, the pipeline and the daily SLO
checks write them; every figure is checked against a hand count of those rows, and each asset's
completeness check names the months it lacks."""

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from reporting_assets.analytics.impact import IMPACT_SCHEMA
from reporting_assets.definitions import defs
from reporting_assets.platform.planning_assets import SLO_ASSETS, planning_assets
from reporting_assets.records.delivery_rows import FAILED_PERMANENT, SENT, deliveries
from reporting_assets.records.usage import feedback, usage_events
from reporting_assets.resources.app_db import AppDatabase, check_results
from reporting_assets.resources.artifacts import ArtifactStore, ArtifactStoreResource
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import PartitionedParquetIOManager

pytestmark = pytest.mark.integration  # runs Dagster

W = "weekly_business_review"
CEO, CFO, COO = "ceo@northwind.example", "cfo@northwind.example", "coo@northwind.example"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
T = datetime(2025, 11, 10, 15, tzinfo=UTC)


def _resources(tmp_path) -> dict:
    return {
        "business": SettingsResource(),
        "app_db": AppDatabase(sqlite_path=str(tmp_path / "app.db")),
        "io_manager": PartitionedParquetIOManager(root=str(tmp_path / "assets")),
        "artifacts": ArtifactStoreResource(root=str(tmp_path / "artifacts")),
    }


def _materialize(asset: str, key: str, instance, resources):
    """Materialize one asset; what it reads comes from the stored partitions, as upstream specs."""
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(asset))
    upstream = [
        dg.AssetSpec(k, partitions_def=graph.get(k).partitions_def)
        for k in node.parent_keys
        if k.to_user_string() not in SLO_ASSETS
    ]
    return dg.materialize(
        [next(a for a in planning_assets if a.key == node.key), *upstream],
        selection=[asset],
        partition_key=key,
        instance=instance,
        resources=resources,
        run_config=QUIET,
        raise_on_error=False,
    )


def _usage(reader, kind, section=None, at=T, seconds=None):
    return dict(
        reader=reader,
        kind=kind,
        report=W,
        period="2025-11-09",
        section=section,
        seconds=seconds,
        file=None,
        at=at,
    )


def _slo_days(engine, days):
    with engine.begin() as conn:
        conn.execute(
            check_results.insert(),
            [
                dict(
                    asset="slo_availability",
                    check_name="availability_met",
                    partition_key=d,
                    run_id="r",
                    passed=True,
                    severity="WARN",
                    description="ok",
                    evaluated_at=T,
                )
                for d in days
            ],
        )


def _days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _failing_job(name: str):
    @dg.op
    def step():
        raise RuntimeError("the warehouse was unreachable")

    @dg.job(name=name)
    def failing():
        step()

    return failing


def test_the_quarterly_backlog_ranks_what_the_quarter_recorded(tmp_path):
    resources = _resources(tmp_path)
    engine = resources["app_db"].engine
    with engine.begin() as conn:
        # Three readers open the weekly review; only the CEO opens Trends, nobody Operations,
        # and the CFO and COO rate Alerts low; two readers ask for churn by cohort.
        conn.execute(
            usage_events.insert(),
            [
                _usage(CEO, "view"),
                _usage(CFO, "view"),
                _usage(COO, "view"),
                _usage(CEO, "section_open", "trends"),
                _usage(CEO, "section_open", "summary"),
                _usage(CFO, "section_open", "summary"),
                _usage(COO, "section_open", "summary"),
                _usage(CEO, "section_open", "alerts"),
                _usage(CFO, "section_open", "alerts"),
                _usage(COO, "section_open", "alerts"),
                _usage(CEO, "section_open", "scorecard"),
                _usage(CFO, "section_open", "scorecard"),
                _usage(COO, "section_open", "scorecard"),
                _usage(CEO, "section_open", "initiatives"),
                _usage(CFO, "section_open", "initiatives"),
                _usage(COO, "section_open", "initiatives"),
                _usage(CEO, "section_open", "roi"),
                _usage(CFO, "section_open", "roi"),
                _usage(COO, "section_open", "roi"),
                _usage(CEO, "section_open", "quality"),
                _usage(CFO, "section_open", "quality"),
                _usage(COO, "section_open", "quality"),
            ],
        )
        conn.execute(
            feedback.insert(),
            [
                dict(
                    reader=CFO,
                    report=W,
                    period="2025-11-09",
                    section="alerts",
                    rating=1,
                    useful=False,
                    comment=None,
                    created_at=T,
                ),
                dict(
                    reader=COO,
                    report=W,
                    period="2025-11-09",
                    section="alerts",
                    rating=2,
                    useful=False,
                    comment=None,
                    created_at=T,
                ),
                dict(
                    reader=CEO,
                    report=W,
                    period="2025-11-09",
                    section=None,
                    rating=None,
                    useful=None,
                    comment="Please add churn by cohort",
                    created_at=T,
                ),
                dict(
                    reader=CFO,
                    report=W,
                    period="2025-11-16",
                    section=None,
                    rating=None,
                    useful=None,
                    comment="Would like churn by cohort.",
                    created_at=T,
                ),
                dict(
                    reader=CFO,
                    report=W,
                    period="2025-11-16",
                    section=None,
                    rating=4,
                    useful=True,
                    comment="Clear",
                    created_at=T,
                ),
            ],
        )
        for target, status, error in (
            (CEO, SENT, None),
            (CFO, FAILED_PERMANENT, "550 5.1.1 user unknown"),
        ):
            conn.execute(
                deliveries.insert().values(
                    report=W,
                    period="2025-11-09",
                    channel="email",
                    target=target,
                    generation=0,
                    status=status,
                    attempts=1,
                    last_error=error,
                    created_at=T,
                    updated_at=T,
                    sent_at=T if status == SENT else None,
                )
            )
    _slo_days(engine, _days(date(2025, 12, 1), date(2025, 12, 31)))  # only December measured
    store = ArtifactStore(tmp_path / "artifacts")  # the rendered review: Trends has a chart
    draft = store.draft_dir(W, "2025-11-09")
    (draft / "report.json").write_text(
        json.dumps(
            {
                "sections": [
                    {"key": "trends", "charts": ["mrr_trend", "sla_trend"]},
                    {"key": "summary", "charts": []},
                ]
            }
        )
    )
    store.publish(W, "2025-11-09", draft)
    with dg.DagsterInstance.ephemeral() as instance:
        _failing_job("weekly_report_job").execute_in_process(
            instance=instance, tags={"dagster/partition": "2025-11-09"}, raise_on_error=False
        )
        result = _materialize("enhancement_backlog_quarterly", "2025-10-01", instance, resources)
        assert result.success
        backlog = result.output_for_node("enhancement_backlog_quarterly")
        [check] = result.get_asset_check_evaluations()
    rows = {r["proposal"]: r for r in backlog.iter_rows(named=True)}
    # By hand: the weekly report had 3 readers in the app.
    assert rows["Fix Email delivery: unknown recipient"]["score"] == 3 * 1
    assert rows["Fix weekly_report_job"]["score"] == 3 * 1
    ask = rows["Add to the Weekly Business Review: churn by cohort"]
    assert ask["score"] == 2 * 2 and "asked by 2 readers in 2 comments" in ask["evidence"]
    drop = rows["Drop or merge Operations in the Weekly Business Review"]
    assert drop["score"] == 3 and "nobody opened it in Q4 2025" in drop["evidence"]
    chart = rows["Rework or drop the chart of Trends in the Weekly Business Review"]
    assert chart["score"] == 3 - 1 and "mrr_trend, sla_trend" in chart["evidence"]
    assert "opened by 1 of 3 readers" in chart["evidence"]
    rework = rows["Rework Alerts in the Weekly Business Review"]
    assert rework["score"] == 2 * 2 and "rated 1.5 of 5 on average" in rework["evidence"]
    assert backlog["rank"].to_list() == list(range(1, backlog.height + 1))
    assert backlog["score"].to_list() == sorted(backlog["score"].to_list(), reverse=True)
    assert backlog.row(0, named=True)["score"] == 4  # the ask and the rework tie; Add first
    assert backlog.row(0, named=True)["category"] == "Add"
    assert (check.check_name, check.passed) == ("quarter_complete", False)
    assert "October 2025 (platform measured on 0 of 31 days)" in check.description
    assert "November 2025" in check.description and "December 2025" not in check.description


def _write(root, asset, key, frame):
    (root / asset).mkdir(parents=True, exist_ok=True)
    frame.write_parquet(root / asset / f"{key}.parquet")


def _impact(month, metric, status, rated, value=None, baseline=None):
    row = {k: None for k in IMPACT_SCHEMA}
    row.update(
        month=date.fromisoformat(month),
        metric=metric,
        status=status,
        rated=rated,
        target=0.15,
        value=value,
        baseline=baseline,
        reason="as measured",
    )
    return row


def test_the_annual_review_of_the_year_to_date(tmp_path):
    """The tests' clock is 16 March 2026 and go-live 100 days before (6 December 2025): the year
    2026 has January to March live, with data through 15 March."""
    resources = _resources(tmp_path)
    engine = resources["app_db"].engine
    root = tmp_path / "assets"
    shares = {"2026-01-01": (0.5, "green", 0.6), "2026-02-01": (-0.5, "red", 0.2)}
    for month, (rated, status, value) in shares.items():
        _write(
            root,
            "business_impact_monthly",
            month,
            pl.DataFrame(
                [_impact(month, "revenue_protection_share", status, rated, value, 0.4)],
                schema=IMPACT_SCHEMA,
                orient="row",
            ),
        )
    kpis = {"2026-01-01": (10_000.0, 6_000.0), "2026-02-01": (5_000.0, 1_000.0)}
    for month, (risk, got) in kpis.items():
        _write(
            root,
            "kpis_monthly",
            month,
            pl.DataFrame(
                {"metric": ["mrr_at_risk_flagged", "revenue_recovered"], "value": [risk, got]}
            ),
        )
    _write(
        root,
        "cost_savings",
        "2026-03-15",
        pl.DataFrame(
            {
                "opportunity_id": ["o1"],
                "realized_date": [date(2026, 2, 10)],
                "monthly_savings_usd": [1000.0],
                "realized_monthly_savings_usd": [800.0],
            }
        ),
    )
    _write(
        root,
        "strategic_initiatives",
        "2026-03-15",
        pl.DataFrame(
            {
                "initiative_id": ["i1"],
                "name": ["Usage-based pricing"],
                "start_date": [date(2025, 9, 1)],
                "actual_end_date": [None],
                "planned_end_date": [date(2026, 6, 30)],
            },
            schema_overrides={"actual_end_date": pl.Date},
        ),
    )
    _write(
        root,
        "initiative_ledger",
        "2026-03-15",
        pl.DataFrame(
            {
                "initiative_id": ["i1", "i1"],
                "month_start": [date(2026, 1, 1), date(2026, 2, 1)],
                "spend_usd": [100.0, 50.0],
                "realized_benefit_usd": [0.0, 30.0],
            }
        ),
    )
    for day, n in (("2026-01-05", 10), ("2026-01-06", 20), ("2026-02-02", 45)):
        _write(root, "posthog_events", day, pl.DataFrame({"uuid": [str(i) for i in range(n)]}))
    with engine.begin() as conn:
        for at in (
            datetime(2026, 1, 12, 15, tzinfo=UTC),
            datetime(2026, 1, 19, 15, tzinfo=UTC),
            datetime(2026, 2, 9, 15, tzinfo=UTC),
        ):
            conn.execute(
                deliveries.insert().values(
                    report=W,
                    period=at.date().isoformat(),
                    channel="email",
                    target=CEO,
                    generation=0,
                    status=SENT,
                    attempts=1,
                    created_at=at,
                    updated_at=at,
                    sent_at=at,
                )
            )
    _slo_days(engine, _days(date(2026, 1, 1), date(2026, 1, 31)))
    with dg.DagsterInstance.ephemeral() as instance:
        _failing_job("daily_report_job").execute_in_process(
            instance=instance, tags={"dagster/partition": "2026-01-07"}, raise_on_error=False
        )
        result = _materialize("strategic_review_annual", "2026-01-01", instance, resources)
        assert result.success
        table = result.output_for_node("strategic_review_annual")
        [check] = result.get_asset_check_evaluations()
    got = {(r["subject"], r["period"], r["measure"]): r for r in table.iter_rows(named=True)}

    def value(subject, period="2026", measure="value"):
        return got[(subject, period, measure)]["value"]

    protection = got[("At-risk revenue recovered", "2026", "months on target")]
    assert (protection["value"], protection["target"]) == (1, 2)
    cost = 3 * (1800 + 40 * 95)  # January to March live, at the demo config's investment
    recovered = (6000 - 0.4 * 10_000) + (1000 - 0.4 * 5000)
    realized = 800 * 2  # February and March
    assert value("Cost of the reporting", measure="cost") == cost
    assert value("Revenue recovered beyond the baseline") == pytest.approx(recovered)
    assert value("Savings realized") == realized
    roi = value("Return on the reporting investment", measure="roi")
    assert roi == pytest.approx((recovered + realized - cost) / cost)
    slo = got[("Availability", "2026", "days met")]
    assert (slo["value"], slo["target"], slo["met"]) == (31, 31, True)
    assert value("Incidents", measure="failed runs") == 1
    assert value("Incidents", "2026-01-01", "failed runs") == 1
    assert value("Events loaded", "2026-01-01", "volume") == 30
    events_feb = got[("Events loaded", "2026-02-01", "volume")]
    assert (events_feb["value"], events_feb["detail"]) == (45, "+50.0% on the month before")
    assert value("Reports delivered", "2026-01-01", "volume") == 2
    assert value("Cost per report delivered", "2026-02-01", "cost") == 1800 + 40 * 95
    pricing = got[("Usage-based pricing", "2026", "report places showing it")]
    assert (
        pricing["met"] is True and "2 months booked, $150 spent, $30 benefit" in (pricing["detail"])
    )
    assert (check.check_name, check.passed) == ("year_complete", False)
    assert "February 2026 (platform measured on 0 of 28 days)" in check.description
    assert "March 2026 (not over: data through 15 March)" in check.description
    assert "January 2026" not in check.description
