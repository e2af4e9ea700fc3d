"""The KPIs of each week and month (`kpis_weekly`, `kpis_monthly`): the metric layer applied to
the period's checked days, each rated against its period target, with the days it covers.

These are the only weekly and monthly figures: the scorecard, trends, analytics and every report
read them. A period with a day that was never computed, or whose quality gate failed, fails the
`kpis_<cadence>:complete` check, which blocks everything downstream unless every report of that
cadence chose to render with a gap statement (`incomplete_period: state_gaps`); then each figure
names the missing days.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from reporting_assets.config import get_settings
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.metrics.gates import emit_checked
from reporting_assets.metrics.layer import METRIC_TABLES, Coverage, day_list
from reporting_assets.metrics.periods import period_table
from reporting_assets.metrics.rating import scale_target
from reporting_assets.metrics.windows import blocked_days, stacked
from reporting_assets.partitions import monthly_partitions, period_days, weekly_partitions
from reporting_assets.quality import checks
from reporting_assets.quality.dagster_checks import (
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    HISTORY_SEVERITY,
    THRESHOLDS,
    check_specs,
)
from reporting_assets.quality.schemas import KpisPeriod
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.storage import period_in

# Group names start with their step in the flow, so the UI's sidebar lists them in that order.
WEEKLY_GROUP = "step3_scorecards_weekly"
MONTHLY_GROUP = "step4_analysis_monthly"
# Past periods a period's figures are compared with (consistency with history).
PAST_PERIODS = {"weekly": 8, "monthly": 6}


def gap_policy_severity(cadence: str) -> str:
    """ERROR (blocks) unless every report of the cadence renders incomplete periods with a
    gap statement."""
    reports = [r for r in get_settings().reports.values()
               if r.cadence == cadence and r.kind == "business"]  # fmt: skip
    lenient = reports and all(r.incomplete_period == "state_gaps" for r in reports)
    return "WARN" if lenient else "ERROR"


def coverage_problems(coverage: Coverage, blocked: dict[date, list[str]]) -> list[str]:
    """What a reader must know about the days behind a period's figures."""
    problems = []
    never = [d for d in coverage.missing if d not in blocked]
    if never:
        problems.append(
            f"no checked daily metrics for {day_list(never)}: materialize "
            f"{'that day' if len(never) == 1 else 'those days'} first "
            "(reporting backfill)"
        )
    for d, names in sorted(blocked.items()):
        problems.append(f"{d.day} {d:%B %Y} is blocked by its quality gate ({', '.join(names)})")
    return problems


def _kpis_asset(cadence: str) -> dg.AssetsDefinition:
    name = f"kpis_{cadence}"
    partitions = weekly_partitions if cadence == "weekly" else monthly_partitions
    n_past = PAST_PERIODS[cadence]

    @dg.asset(
        name=name,
        partitions_def=partitions,
        group_name=WEEKLY_GROUP if cadence == "weekly" else MONTHLY_GROUP,
        kinds={"polars"},
        ins={
            **{a: period_in(a) for a in METRIC_TABLES},
            "past": period_in(name, -n_past, -1),
        },
        check_specs=check_specs(name, [COMPLETE, BUSINESS_RULES, HISTORY, THRESHOLDS]),
        code_version="1",
        description=f"Every headline metric for the {cadence[:-2]} from its checked days, as the "
        "metric layer defines it (flows summed, levels at the last day, ratios from summed "
        "counts), rated against the period's target, with the days it covers.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        business: SettingsResource,
        revenue_protection_daily: dict[str, pl.DataFrame],
        cost_optimization_daily: dict[str, pl.DataFrame],
        operational_efficiency_daily: dict[str, pl.DataFrame],
        past: dict[str, pl.DataFrame],
        app_db: AppDatabase,
    ):
        s = business.get()
        start, _, due = period_days(context.partition_time_window, s.calendar.report_timezone)
        if due < start:
            raise dg.Failure(f"the {cadence[:-2]} of {start} has no day due yet")
        expected = [start + timedelta(days=i) for i in range((due - start).days + 1)]
        blocked = blocked_days(app_db, expected)
        windows = {
            "revenue_protection_daily": revenue_protection_daily,
            "cost_optimization_daily": cost_optimization_daily,
            "operational_efficiency_daily": operational_efficiency_daily,
        }
        tables = {
            a: stacked(
                {
                    k: f
                    for k, f in w.items()
                    if date.fromisoformat(k) <= due and date.fromisoformat(k) not in blocked
                }
            )
            for a, w in windows.items()
        }
        table, cover = period_table(tables, start, due, s.metrics)
        history = stacked(past)
        past_values = (
            {}
            if history is None
            else {
                m: history.filter(pl.col("metric") == m, pl.col("complete"))
                .sort("period_start")["value"]
                .to_list()
                for m in table["metric"]
            }
        )
        problems = coverage_problems(cover, blocked)
        # A day's bounds, for a flow as many times over as the period counts days.
        n = len(cover.present) or 1
        ranges = {
            m: tuple(scale_target(m, bound, n) for bound in c.valid_range)
            for m, c in s.metrics.items()
        }
        out_of_range = [
            f"{r['metric']} = {r['value']:,.4g} outside its valid range {ranges[r['metric']]}"
            for r in table.iter_rows(named=True)
            if r["value"] is not None
            and r["metric"] in ranges
            and (
                (ranges[r["metric"]][0] is not None and r["value"] < ranges[r["metric"]][0])
                or (ranges[r["metric"]][1] is not None and r["value"] > ranges[r["metric"]][1])
            )
        ]
        unit = {m: c.unit for m, c in s.metrics.items()}
        outcomes = {
            COMPLETE: checks.problems_outcome(
                problems,
                f"all {len(expected)} days from {start} to {due} checked and counted",
                gap_policy_severity(cadence),
                days_due=len(expected),
                days_counted=len(cover.present),
                missing_days=", ".join(d.isoformat() for d in cover.missing) or "none",
            ),
            BUSINESS_RULES: checks.business_rules(
                table, KpisPeriod, {}, extra_problems=out_of_range
            ),
            HISTORY: checks.consistent_with_periods(
                {
                    r["metric"]: r["value"]
                    for r in table.iter_rows(named=True)
                    if r["metric"] in s.metrics and s.metrics[r["metric"]].history_check
                },
                past_values,
                period=cadence[:-2],
                z_threshold=s.analytics.history_z_threshold,
                severity=HISTORY_SEVERITY,
                floors={m: checks.UNIT_FLOORS[unit[m]] for m in unit},
            ),
            THRESHOLDS: checks.problems_outcome(
                [
                    f"{m}: target {c.target} outside its valid range {c.valid_range}"
                    for m, c in s.metrics.items()
                    if c.target is not None
                    and (
                        (c.valid_range[0] is not None and c.target < c.valid_range[0])
                        or (c.valid_range[1] is not None and c.target > c.valid_range[1])
                    )
                ],
                "every target lies inside its metric's valid range",
            ),
        }
        rated = table.filter(pl.col("status") != "grey")
        yield from emit_checked(
            context,
            app_db,
            name,
            table,
            start,
            outcomes,
            {
                "days_counted": f"{len(cover.present)} of {len(expected)}",
                "missing_days": cover.missing_words() or "none",
                "off_track": ", ".join(rated.filter(pl.col("status") == "red")["metric"]) or "none",
                "kpis": dg.MetadataValue.md(
                    markdown_preview(
                        table.select("metric", "value", "target", "status", "status_reason"),
                        rows=30,
                    )
                ),
            },
        )

    return _asset


kpis_weekly = _kpis_asset("weekly")
kpis_monthly = _kpis_asset("monthly")
period_kpi_assets = [kpis_weekly, kpis_monthly]
