"""The platform's quarterly enhancement plan and annual strategic review (group `step7_platform`):
thin wiring over `planning` and `annual`, which read the quarter's or the year's records and say
what to change and whether the reporting paid off. Each carries a check that it was computed
from a complete period of data, naming the months that are not."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.metrics.periods import values_of
from reporting_assets.partitions import period_days, quarterly_partitions, today, yearly_partitions
from reporting_assets.platform import annual, planning
from reporting_assets.platform.assets import PLATFORM_GROUP, platform_assets
from reporting_assets.platform.history import (
    chart_sections,
    check_rows,
    finished_runs,
    quarter_records,
    sent_between,
)
from reporting_assets.quality.checks import CheckOutcome
from reporting_assets.quality.dagster_checks import to_result
from reporting_assets.records.engagement import section_relevance
from reporting_assets.reports.performance import report_sections
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStoreResource
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import period_in, window_in

QUARTER_COMPLETE = "quarter_complete"
YEAR_COMPLETE = "year_complete"
SLO_ASSETS = [a.key.to_user_string() for a in platform_assets]


def _days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _months(first: date, last: date) -> list[date]:
    return sorted({date.fromisoformat(d[:8] + "01") for d in _days(first, last)})


def _utc_window(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """Days [first, last] in the reports' time zone, as a UTC [since, until) window."""
    zone = ZoneInfo(tz)
    since = datetime.combine(first, time(), zone).astimezone(UTC)
    return since, datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)


def _complete(coverage: list[dict], period: str) -> CheckOutcome:
    missing = [f"{c['month']:%B %Y} ({c['why']})" for c in coverage if not c["complete"]]
    said = (
        f"computed from every month of {period}"
        if not missing
        else f"{period} lacks {len(missing)} of {len(coverage)} months: {'; '.join(missing)}"
    )
    return CheckOutcome(not missing, "WARN", said, {"months_missing": len(missing)}, missing)


def _emit(context, app_db: AppDatabase, asset: str, check: str, frame, outcome, **metadata):
    """Record the check where the data team's notices read it, then yield the table and check."""
    app_db.record_checks(asset, context.partition_key, context.run.run_id, {check: outcome})
    yield dg.Output(
        frame,
        metadata={
            "period": context.partition_key,
            "rows": frame.height,
            "complete": outcome.description,
            **metadata,
        },
    )
    yield to_result(asset, check, outcome)


def quarter_label(first: date) -> str:
    """'Q4 2026' for the quarter starting 1 October 2026."""
    return f"Q{(first.month - 1) // 3 + 1} {first.year}"


# Once a quarter, from the quarter's records: what to drop, add, fix or speed up, ranked by a
# score a reader can recompute (planning.py states it). The quarter in progress is planned from
# what is recorded so far, and its check says so.
@dg.asset(
    partitions_def=quarterly_partitions,
    group_name=PLATFORM_GROUP,
    kinds={"dagster", "polars"},
    deps=SLO_ASSETS,
    check_specs=[
        dg.AssetCheckSpec(
            QUARTER_COMPLETE,
            asset="enhancement_backlog_quarterly",
            description="Every month of the quarter has ended and the platform's daily service "
            "levels were measured on each of its days; otherwise names the months missing.",
        )
    ],
    code_version="1",
)
def enhancement_backlog_quarterly(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    app_db: AppDatabase,
    artifacts: ArtifactStoreResource,
):
    """The quarter's enhancement backlog for the reports, ranked: sections to drop or merge,
    what readers ask for, failing or slow pipeline stages, charts few people open and delivery
    problems by cause, each with the evidence behind it in words and numbers."""
    s = business.get()
    tz = s.calendar.report_timezone
    first, last, due = period_days(context.partition_time_window, tz)
    since, until = _utc_window(first, due, tz)
    label = quarter_label(first)
    titles = {k: r.title for k, r in s.reports.items()}
    cadences = {k: r.cadence for k, r in s.reports.items()}
    sections = report_sections(s)
    records = quarter_records(app_db.engine, since, until, first.isoformat(), last.isoformat())
    charts = chart_sections(artifacts.store(), sections, _days(first, last))
    runs = finished_runs(context.instance, _days(first, last))
    items = [
        *planning.delivery_items(records["ledger"], titles, label),
        *planning.stage_items(runs, cadences, s.slo.generation_minutes, label),
        *planning.content_requests(records["feedback"], titles),
        *planning.section_items(
            section_relevance(app_db.engine, sections, since, until),
            records["readers"],
            records["low_ratings"],
            charts,
            titles,
            label,
        ),
    ]
    backlog = planning.ranked(items)
    measured = {
        r["partition_key"] for r in check_rows(app_db.engine, SLO_ASSETS, _days(first, due))
    }
    coverage = planning.month_coverage(_months(first, last), measured, due)
    yield from _emit(
        context,
        app_db,
        "enhancement_backlog_quarterly",
        QUARTER_COMPLETE,
        backlog,
        _complete(coverage, label),
        quarter=label,
        data_through=due.isoformat(),
        backlog=dg.MetadataValue.md(markdown_preview(backlog, rows=20)),
        score_rule=dg.MetadataValue.md(
            "score = Σ weight × count: "
            + ", ".join(f"{k.replace('_', ' ')} {w}" for k, w in planning.WEIGHTS.items())
        ),
        runs_read=len(runs),
        feedback_read=len(records["feedback"]),
    )


# Once a year, the whole year: impact month by month, the reporting's cost against the value
# the impact metrics attribute, the platform's service levels, incidents and volumes, and which
# initiatives the reports follow. The year in progress is reviewed as far as it has data.
@dg.asset(
    partitions_def=yearly_partitions,
    group_name=PLATFORM_GROUP,
    kinds={"dagster", "polars"},
    ins={
        "impact": period_in("business_impact_monthly"),
        "kpis": period_in("kpis_monthly"),
        "cost_savings": period_in("cost_savings"),
        "strategic_initiatives": period_in("strategic_initiatives"),
        "initiative_ledger": period_in("initiative_ledger"),
        "events": window_in("posthog_events", 0, 0, row_counts=True),
    },
    deps=SLO_ASSETS,
    check_specs=[
        dg.AssetCheckSpec(
            YEAR_COMPLETE,
            asset="strategic_review_annual",
            description="Every month of the year has ended, has its business-impact metrics and "
            "had the platform's service levels measured on each day; otherwise names the months "
            "missing.",
        )
    ],
    code_version="1",
)
def strategic_review_annual(
    context: dg.AssetExecutionContext,
    business: SettingsResource,
    app_db: AppDatabase,
    impact: dict[str, pl.DataFrame],
    kpis: dict[str, pl.DataFrame],
    cost_savings: dict[str, pl.DataFrame],
    strategic_initiatives: dict[str, pl.DataFrame],
    initiative_ledger: dict[str, pl.DataFrame],
    events: dict[str, int],
):
    """The year's strategic review of the reporting: the business-impact metrics month by month
    against their targets, the return on the reporting investment, the platform's service
    levels, incidents and growth, and whether the reports follow the year's initiatives."""
    s = business.get()
    tz = s.calendar.report_timezone
    first, last, due = period_days(context.partition_time_window, tz)
    year = str(first.year)
    months = _months(first, last)
    live = annual.live_months(months, s.impact.go_live_day(today()), due)
    since, until = _utc_window(first, due, tz)
    sent = sent_between(app_db.engine, since, until)
    delivered: dict[str, int] = {}
    for report, _ in sent:
        delivered[report] = delivered.get(report, 0) + 1
    checks = check_rows(app_db.engine, SLO_ASSETS, _days(first, due))
    reports = {
        k: {"title": r.title, "sections": r.sections, "deck_sections": r.deck_sections}
        for k, r in s.reports.items()
    }
    rows = [
        *annual.framework_effectiveness(impact, year),
        *annual.reporting_roi(
            s.investment,
            live,
            impact,
            {k: values_of(v) for k, v in kpis.items()},
            _latest(cost_savings, due),
            due,
            year,
        ),
        *annual.slo_history(checks, _days(first, due), year),
        *annual.incidents(finished_runs(context.instance, _days(first, due)), months, year),
        *annual.volume_growth(
            events,
            [at for _, at in sent],
            [m for m in months if m <= due],
            s.investment.monthly_cost_usd,
            ZoneInfo(tz),
        ),
        *annual.alignment(
            reports,
            _latest(strategic_initiatives, due),
            _latest(initiative_ledger, due),
            delivered,
            first,
            due,
            year,
        ),
    ]
    table = pl.DataFrame(rows, schema=annual.ANNUAL_SCHEMA)
    coverage = planning.month_coverage(months, {r["partition_key"] for r in checks}, due)
    for c in coverage:
        if c["complete"] and c["month"].isoformat() not in impact:
            c.update(complete=False, why="no business-impact metrics for the month")
    year_rows = table.filter(pl.col("period") == year)
    yield from _emit(
        context,
        app_db,
        "strategic_review_annual",
        YEAR_COMPLETE,
        table,
        _complete(coverage, year),
        year=year,
        data_through=due.isoformat(),
        months_live=len(live),
        **{
            part: dg.MetadataValue.md(
                markdown_preview(
                    year_rows.filter(pl.col("part") == part).drop("part", "period"), rows=30
                )
            )
            for part in (annual.FRAMEWORK, annual.ROI, annual.PLATFORM, annual.ALIGNMENT)
        },
    )


def _latest(snapshots: dict[str, pl.DataFrame], due: date) -> pl.DataFrame | None:
    """A daily snapshot source as it stood on the last day up to `due` that it has."""
    keys = [k for k in snapshots if k <= due.isoformat()]
    return snapshots[max(keys)] if keys else None


planning_assets = [enhancement_backlog_quarterly, strategic_review_annual]
