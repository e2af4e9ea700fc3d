"""The daily metric assets' four quality gates as Dagster wiring: their check specs, the gated
asset decorator, the standard gates run on each table, and `emit_checked`, which yields a table
with its check results."""

from datetime import date

import dagster as dg
import polars as pl

from reporting_assets.config import Settings, get_settings
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.metrics.layer import METRIC_TABLES, METRICS, headline_values, metrics_of
from reporting_assets.metrics.windows import headline_history
from reporting_assets.partitions import daily_partitions
from reporting_assets.quality import checks
from reporting_assets.quality.checks import UNIT_FLOORS
from reporting_assets.quality.dagster_checks import (
    ALERT_THRESHOLDS,
    BUSINESS_RULES,
    COMPLETE,
    HISTORY,
    HISTORY_SEVERITY,
    check_specs,
    to_result,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.storage import window_in

METRICS_GROUP = "step2_metrics_daily"
FOUR_GATES = [COMPLETE, BUSINESS_RULES, HISTORY, ALERT_THRESHOLDS]
METRIC_ASSETS = METRIC_TABLES
# How far back the daily gates look: the same weekday over `history_weeks` weeks, and for the
# alert rules that long plus the longest duration a rule waits for.
HISTORY_DAYS = get_settings().quality.history_weeks * 7
ALERT_SPAN = HISTORY_DAYS + max([r.min_duration_days for r in get_settings().alert_rules] or [1])
USAGE_WINDOW_DAYS = 28
COST_HISTORY_DAYS = 28


def _gates_spec(asset: str) -> list[dg.AssetCheckSpec]:
    return check_specs(asset, FOUR_GATES)


def gated_metric_asset(*kinds: str, ins: dict[str, dg.AssetIn] | None = None):
    """A daily metric asset with its four quality gates and its own past declared (`past`:
    the partitions of the `history_weeks` weeks before the day)."""

    def decorate(fn):
        return dg.asset(
            name=fn.__name__,
            partitions_def=daily_partitions,
            group_name=METRICS_GROUP,
            kinds=set(kinds),
            check_specs=_gates_spec(fn.__name__),
            ins={"past": window_in(fn.__name__, -HISTORY_DAYS), **(ins or {})},
            code_version="2",
        )(fn)

    return decorate


def metric_ranges(asset: str, settings: Settings) -> dict[str, tuple[float | None, float | None]]:
    """Configured valid ranges of the headline metrics an asset holds, by column."""
    metrics = settings.metrics
    return {METRICS[m].column: metrics[m].valid_range for m in metrics_of(asset) if m in metrics}


def standard_gates(
    settings: Settings,
    asset: str,
    table: pl.DataFrame,
    model,
    day: date,
    past: dict[str, pl.DataFrame],
    *,
    sources: dict[str, int],
    volume: tuple[str, float, list[float]] | None = None,
    identities: list | None = None,
    extra_business_problems: list[str] | None = None,
    extra_complete_problems: list[str] | None = None,
) -> dict[str, checks.CheckOutcome]:
    """The four gates of a daily metric table, by the thresholds in `settings`."""
    s = settings
    q = s.quality
    today = headline_values(asset, table)
    history = headline_history(asset, past)
    watched = [m for m in metrics_of(asset) if m in s.metrics and s.metrics[m].history_check]
    floors = {m: UNIT_FLOORS[s.metrics[m].unit] for m in watched}
    rules = [r for r in s.alert_rules if r.metric in metrics_of(asset)]
    rule_problems = checks.thresholds_sane(rules, s.metrics, list(METRICS))
    missing = [r.metric for r in rules if today.filter(pl.col("metric") == r.metric).is_empty()]
    rule_problems += [f"rule metric '{m}' is not in the table" for m in missing]
    # Only metrics steady enough for the history check (lumpy ones such as churn or recovered
    # revenue leap from $0 on normal days): for those, valid_range is the hard limit.
    unbelievable = checks.beyond_hard_limit(
        today.filter(pl.col("metric").is_in(watched)), history, day,
        hard_z=q.history_hard_limit_z, weeks=q.history_weeks, floors=floors,
    )  # fmt: skip
    return {
        COMPLETE: checks.completeness(
            table,
            model,
            sources=sources,
            volume=volume,
            min_volume_share=q.min_volume_share,
            extra_problems=extra_complete_problems,
        ),
        BUSINESS_RULES: checks.business_rules(
            table,
            model,
            metric_ranges(asset, s),
            identities,
            tolerance=q.identity_tolerance_usd,
            extra_problems=[*(extra_business_problems or []), *unbelievable],
        ),
        HISTORY: checks.consistent_with_history(
            today.filter(pl.col("metric").is_in(watched)),
            history,
            day,
            z_threshold=q.history_z_threshold,
            severity=HISTORY_SEVERITY,
            weeks=q.history_weeks,
            floors=floors,
        ),
        ALERT_THRESHOLDS: checks.problems_outcome(
            rule_problems,
            f"{len(rules)} alert rule{'s' if len(rules) != 1 else ''} sane and evaluable",
            "ERROR",
            rules=", ".join(r.name for r in rules) or "none",
        ),
    }


def emit_checked(
    context: dg.AssetExecutionContext,
    app_db: AppDatabase,
    asset: str,
    table: pl.DataFrame,
    day: date,
    outcomes: dict,
    extra: dict | None = None,
):
    """Yield a checked table: record its check outcomes in the app database (for the report's
    quality appendix), then the output with its metadata, then each check's result."""
    app_db.record_checks(
        asset,
        context.partition_key,
        context.run.run_id,
        outcomes,
    )
    yield dg.Output(
        table,
        metadata={
            "rows": table.height,
            "period": day.isoformat(),
            "preview": dg.MetadataValue.md(markdown_preview(table, rows=12)),
            **(extra or {}),
        },
    )
    for family, outcome in outcomes.items():
        yield to_result(asset, family, outcome)
