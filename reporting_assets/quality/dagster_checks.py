"""Thin glue from plain check outcomes to Dagster asset checks."""

import dagster as dg

from reporting_assets.config import get_settings
from reporting_assets.quality.checks import CheckOutcome

COMPLETE = "complete"
BUSINESS_RULES = "within_business_rules"
HISTORY = "consistent_with_history"
ALERT_THRESHOLDS = "alert_thresholds_valid"
SCHEMA = "matches_schema"
THRESHOLDS = "thresholds_valid"
BASELINE = "beats_naive_baseline"
ANALYTICS_GATES = [COMPLETE, BUSINESS_RULES, HISTORY, THRESHOLDS]
# The history check's severity, read once with the definitions: the check spec's `blocking`
# and the severity of every result come from this one value, so they can never disagree.
HISTORY_SEVERITY = get_settings().quality.history_severity

DESCRIPTIONS = {
    COMPLETE: "Completeness: required columns present and non-null, every source contributed "
    "data for the day, and the volume is plausible against the same weekday in earlier weeks.",
    BUSINESS_RULES: "Business logic: every value inside its configured range, and the "
    "identities hold (components sum to totals, opening + movements = closing).",
    HISTORY: "Consistency with history: each headline metric against its same-weekday baseline "
    "over the trailing weeks (robust z-score).",
    ALERT_THRESHOLDS: "Alert-threshold validation: the alert rules are sane for these metrics "
    "and every breach raised its alert.",
    THRESHOLDS: "Threshold validation: the configured targets, bands and rules these numbers "
    "are judged by are sane and were applied as configured.",
    BASELINE: "Model quality: the refitted model's backtest error is no worse than a naive "
    "baseline's (WARN: the report then says so and shows the baseline).",
    SCHEMA: "Schema: every column present with its type, no nulls where a value is required, no "
    "duplicated events, no negative money.",
}


def check_label(asset: str, check: str) -> str:
    """How a check is named where its asset is not already said: "posthog_events:complete"
    (Dagster's own spelling of an asset check key). Check names are short: the asset is the
    check's key, so the name says only what is checked."""
    return f"{asset}:{check}"


def check_specs(asset: str, families: list[str]) -> list[dg.AssetCheckSpec]:
    """Check specs declared on the asset; ERROR checks block everything downstream."""
    history_blocking = HISTORY_SEVERITY == "ERROR"
    return [
        dg.AssetCheckSpec(
            f,
            asset=asset,
            description=DESCRIPTIONS[f],
            blocking=history_blocking if f == HISTORY else f != BASELINE,
        )
        for f in families
    ]


def to_result(asset: str, family: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    metadata = {
        k: (dg.MetadataValue.md(v) if isinstance(v, str) and "|" in v else v)
        for k, v in outcome.metadata.items()
        if v is not None
    }
    metadata["summary"] = outcome.description
    if outcome.problems:
        metadata["problems"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in outcome.problems))
    return dg.AssetCheckResult(
        check_name=family,
        asset_key=asset,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity(outcome.severity),
        description=outcome.description,
        metadata=metadata,
    )
