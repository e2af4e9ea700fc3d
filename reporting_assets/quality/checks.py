"""The four quality gates as plain functions: completeness, business logic, consistency with
history, and alert-threshold validation. Each returns a CheckOutcome whose metadata says which
rows, which values and what was expected, so an analyst can act on a failure from the UI.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import pandera.polars as pa
import polars as pl

from reporting_assets.config.models import AlertRule, Metric
from reporting_assets.lib.formatting import plural
from reporting_assets.lib.metadata import markdown_preview
from reporting_assets.lib.stats import robust_z

Severity = Literal["ERROR", "WARN"]
# The smallest spread worth a history warning, by metric unit.
UNIT_FLOORS = {"usd": 100.0, "ratio": 0.02, "count": 1.0, "hours": 1.0, "minutes": 5.0,
               "per_100_accounts": 0.5, "usd_per_k": 0.5}  # fmt: skip


@dataclass
class CheckOutcome:
    """The result of one check: passed or not, how serious, and what a person needs to act."""

    passed: bool
    severity: Severity
    description: str
    metadata: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _outcome(problems: list[str], severity: Severity, ok: str, metadata: dict) -> CheckOutcome:
    if problems:
        description = f"{plural(len(problems), 'problem')}: " + "; ".join(problems[:5])
        if len(problems) > 5:
            description += f"; and {len(problems) - 5} more"
    else:
        description = ok
    return CheckOutcome(not problems, severity, description, metadata, problems)


def schema_problems(
    frame: pl.DataFrame, model: type[pa.DataFrameModel]
) -> tuple[list[str], pl.DataFrame]:
    """Every way `frame` breaks `model`, in words, with pandera's failure cases."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        problems = []
        for (column, check), group in cases.group_by(["column", "check"], maintain_order=True):
            examples = ", ".join(str(v) for v in group.get_column("failure_case").head(3))
            if check == "column_in_dataframe":
                problems.append(
                    f"column '{group.get_column('failure_case')[0]}' is missing "
                    f"(columns: {', '.join(frame.columns)})"
                )
            elif str(check).startswith("dtype("):
                problems.append(
                    f"column '{column}' has type {examples}, expected {str(check)[6:-1]}"
                )
            elif check == "not_nullable":
                problems.append(f"column '{column}' has {plural(group.height, 'null value')}")
            elif check == "field_uniqueness":
                problems.append(
                    f"column '{column}' has {plural(group.height, 'duplicated value')}, "
                    f"e.g. {examples}"
                )
            else:
                problems.append(
                    f"column '{column}' fails {check} in {plural(group.height, 'row')}, "
                    f"e.g. {examples}"
                )
        return problems, cases
    return [], pl.DataFrame()


def completeness(
    frame: pl.DataFrame,
    model: type[pa.DataFrameModel] | None,
    *,
    sources: dict[str, int] | None = None,
    volume: tuple[str, float, list[float]] | None = None,
    min_volume_share: float = 0.6,
    extra_problems: list[str] | None = None,
) -> CheckOutcome:
    """Required columns present and non-null, every source contributed rows, and the volume is
    plausible against the same weekday in the trailing weeks.

    `volume` is (what is counted, today's count, counts on the same weekday in earlier weeks).
    """
    schema, cases = schema_problems(frame, model) if model else ([], pl.DataFrame())
    return completeness_of(
        frame.height, schema, cases, sources=sources, volume=volume,
        min_volume_share=min_volume_share, extra_problems=extra_problems,
    )  # fmt: skip


def completeness_of(
    rows: int,
    schema: list[str],
    cases: pl.DataFrame,
    *,
    sources: dict[str, int] | None = None,
    volume: tuple[str, float, list[float]] | None = None,
    min_volume_share: float = 0.6,
    extra_problems: list[str] | None = None,
) -> CheckOutcome:
    """`completeness` for a table checked elsewhere (e.g. as queries over its file): `rows` it
    holds, the `schema` problems found and their failure `cases`."""
    problems = list(extra_problems or [])
    problems += [p for p in schema if "null" in p or "missing" in p or "type" in p]
    for source, count in (sources or {}).items():
        if count == 0:
            problems.append(f"source '{source}' contributed no rows for the period")
    metadata: dict = {
        "rows": rows,
        **{f"rows_from_{k}": v for k, v in (sources or {}).items()},
    }
    if volume:
        what, today, earlier = volume
        if len(earlier) >= 2:
            typical = statistics.median(earlier)
            metadata.update(
                {
                    f"{what}_today": today,
                    f"{what}_typical_same_weekday": typical,
                    "expected_at_least": round(min_volume_share * typical, 1),
                }
            )
            if typical > 0 and today < min_volume_share * typical:
                problems.append(
                    f"{what} = {today:,.0f} is {today / typical:.0%} of the usual "
                    f"{typical:,.0f} for this weekday (expected at least "
                    f"{min_volume_share:.0%}): data is probably missing"
                )
        else:
            metadata["volume_history"] = "fewer than 2 earlier weeks: volume not compared"
    if not cases.is_empty():
        metadata["failure_cases"] = markdown_preview(cases.head(20))
    return _outcome(
        problems,
        "ERROR",
        "all required columns present and filled; every source contributed; volume plausible",
        metadata,
    )


def business_rules(
    frame: pl.DataFrame,
    model: type[pa.DataFrameModel],
    ranges: dict[str, tuple[float | None, float | None]],
    identities: list[tuple] | None = None,
    tolerance: float = 0.01,
    extra_problems: list[str] | None = None,
) -> CheckOutcome:
    """Every value inside its configured range, and each identity (lhs == rhs) holds per row.

    An identity is (name, lhs, rhs) or (name, lhs, rhs, rows it applies to).
    """
    problems, _ = schema_problems(frame, model)
    problems = [p for p in problems if "null" not in p and "missing" not in p]
    bad_rows = []
    for column, (low, high) in ranges.items():
        if column not in frame.columns:
            continue
        out = pl.lit(False)
        if low is not None:
            out = out | (pl.col(column) < low)
        if high is not None:
            out = out | (pl.col(column) > high)
        offending = frame.filter(out.fill_null(False))
        if offending.height:
            values = ", ".join(f"{v:,.4g}" for v in offending.get_column(column).head(3))
            problems.append(
                f"{column} outside [{low}, {high}] in {plural(offending.height, 'row')}: {values}"
            )
            bad_rows.append(offending.head(5))
    for name, lhs, rhs, *where in identities or []:
        rows = frame.filter(where[0]) if where else frame
        diff = rows.with_columns(_lhs=lhs, _rhs=rhs).filter(
            (pl.col("_lhs") - pl.col("_rhs")).abs() > tolerance
        )
        if diff.height:
            first = diff.row(0, named=True)
            problems.append(
                f"identity '{name}' fails in {plural(diff.height, 'row')}: "
                f"{first['_lhs']:,.2f} ≠ {first['_rhs']:,.2f}"
            )
            bad_rows.append(diff.drop("_lhs", "_rhs").head(5))
    problems += extra_problems or []
    metadata: dict = {"ranges_checked": len(ranges), "identities_checked": len(identities or [])}
    if bad_rows:
        metadata["offending_rows"] = markdown_preview(pl.concat(bad_rows, how="diagonal_relaxed"))
    return _outcome(
        problems, "ERROR", "every value within its range; every identity holds", metadata
    )


def consistent_with_history(
    today: pl.DataFrame,
    history: pl.DataFrame,
    day: date,
    *,
    z_threshold: float = 4.0,
    severity: Severity = "WARN",
    weeks: int = 8,
    min_points: int = 4,
    floors: dict[str, float] | None = None,
) -> CheckOutcome:
    """Each headline metric against the same weekday over the trailing weeks (robust z-score).

    `today` and `history` are long frames (date, metric, scope, value); `floors` is the smallest
    spread that counts for each metric, in its own unit (a change of $20 in a $1 M metric is not
    news however steady the metric was).
    """
    problems = []
    rows = _weekday_deviations(today, history, day, weeks, min_points, floors)
    for r in rows:
        z, median = r["robust_z"], r["baseline_median"]
        if z is not None and abs(z) > z_threshold:
            problems.append(
                f"{r['metric']} = {r['value']:,.4g} vs usual {median:,.4g} for this "
                f"weekday (robust z {z:+.1f}, limit ±{z_threshold})"
            )
    metadata = {
        "compared": markdown_preview(pl.DataFrame(rows), rows=30) if rows else "none",
        "z_threshold": z_threshold,
        "weeks": weeks,
    }
    return _outcome(
        problems, severity, "every headline metric consistent with its weekday baseline", metadata
    )


def _weekday_deviations(
    today: pl.DataFrame,
    history: pl.DataFrame,
    day: date,
    weeks: int,
    min_points: int,
    floors: dict[str, float] | None,
) -> list[dict]:
    """Each of today's metrics with its same-weekday median and robust z-score (None when the
    history has fewer than `min_points` values)."""

    rows = []
    same_weekday = [day - timedelta(weeks=w) for w in range(1, weeks + 1)]
    past = history.filter(pl.col("date").is_in(same_weekday))
    for r in today.iter_rows(named=True):
        if r["value"] is None:
            continue
        baseline = past.filter((pl.col("metric") == r["metric"]) & (pl.col("scope") == r["scope"]))
        values = [v for v in baseline.get_column("value").to_list() if v is not None]
        floor = (floors or {}).get(r["metric"], 0.0)
        z = robust_z(r["value"], values, floor) if len(values) >= min_points else None
        rows.append({"metric": r["metric"], "value": r["value"],
                     "baseline_median": statistics.median(values) if values else None,
                     "baseline_points": len(values), "robust_z": z})  # fmt: skip
    return rows


def beyond_hard_limit(
    today: pl.DataFrame,
    history: pl.DataFrame,
    day: date,
    *,
    hard_z: float,
    weeks: int = 8,
    min_points: int = 4,
    floors: dict[str, float] | None = None,
) -> list[str]:
    """The metrics so far from their weekday baseline (robust z beyond `hard_z`) that the value
    cannot be believed: a billion-dollar cost line, a decimal point lost. These block, whatever
    the history check's own severity."""
    return [
        f"{r['metric']} = {r['value']:,.4g} vs usual {r['baseline_median']:,.4g} for this weekday: "
        f"robust z {r['robust_z']:+.3g}, beyond the hard limit of ±{hard_z:g}"
        for r in _weekday_deviations(today, history, day, weeks, min_points, floors)
        if r["robust_z"] is not None and abs(r["robust_z"]) > hard_z
    ]


def thresholds_sane(
    rules: list[AlertRule], metrics: dict[str, Metric], available: list[str]
) -> list[str]:
    """Rules whose thresholds cannot be met, or whose metric no table provides."""
    problems = []
    for rule in rules:
        if rule.metric not in available:
            problems.append(f"rule '{rule.name}': metric '{rule.metric}' is not computed")
            continue
        low, high = metrics[rule.metric].valid_range
        if rule.comparison in ("above", "below"):
            for t in (rule.warning, rule.critical):
                if (low is not None and t < low) or (high is not None and t > high):
                    problems.append(
                        f"rule '{rule.name}': threshold {t} lies outside the "
                        f"metric's valid range [{low}, {high}]"
                    )
    return problems


def alerts_match_rules(
    alerts: pl.DataFrame,
    rules: list[AlertRule],
    metrics: dict[str, Metric],
    history: pl.DataFrame,
    day: date,
    available: list[str],
) -> CheckOutcome:
    """An independent re-evaluation: every breached rule raised an alert at the right severity,
    every alert corresponds to a breach, and the rules themselves are sane.

    Deliberately written apart from the engine (plain loops, no shared helpers) so that a bug in
    one does not hide in the other.
    """
    problems = thresholds_sane(rules, metrics, available)
    got = dict(zip(alerts.get_column("rule"), alerts.get_column("severity"), strict=True))
    values = {
        (r["metric"], r["scope"], r["date"]): r["value"] for r in history.iter_rows(named=True)
    }

    def breach(rule: AlertRule, d: date) -> str:
        v = values.get((rule.metric, rule.scope, d))
        if v is None:
            return "info"
        if rule.comparison == "change_vs_previous":
            p = values.get((rule.metric, rule.scope, d - timedelta(days=1)))
            if not p:
                return "info"
            v = (v - p) / abs(p)
        elif rule.comparison == "deviation_from_baseline":
            base = sorted(b for w in range(1, 9)
                          if (b := values.get((rule.metric, rule.scope, d - timedelta(weeks=w))))
                          is not None)  # fmt: skip
            if len(base) < 4:
                return "info"
            med = statistics.median(base)
            mad = statistics.median(sorted(abs(b - med) for b in base))
            spread = statistics.pstdev(base)
            v = abs(v - med) / max(1.4826 * mad, spread, 0.05 * abs(med), 1e-9)
        worse = (lambda a, t: a < t) if rule.comparison == "below" else (lambda a, t: a > t)
        if worse(v, rule.critical):
            return "critical"
        return "warning" if worse(v, rule.warning) else "info"

    expected = {}
    for rule in rules:
        sev = breach(rule, day)
        for back in range(1, rule.min_duration_days):
            if breach(rule, day - timedelta(days=back)) == "info":
                sev = "info"
        expected[rule.name] = sev
    for name, sev in expected.items():
        if name not in got:
            problems.append(f"rule '{name}' was not evaluated")
        elif got[name] != sev:
            problems.append(f"rule '{name}': alert says {got[name]}, re-evaluation says {sev}")
    for name in got.keys() - expected.keys():
        problems.append(f"alert '{name}' matches no configured rule")
    firing = {k: v for k, v in expected.items() if v != "info"}
    metadata = {
        "rules": len(rules),
        "firing": ", ".join(f"{k}={v}" for k, v in firing.items()) or "none",
    }
    return _outcome(
        problems, "ERROR", "every breach raised its alert and every alert is a breach", metadata
    )


def consistent_with_periods(
    current: dict[str, float | None],
    past: dict[str, list[float | None]],
    *,
    period: str,
    z_threshold: float = 4.0,
    severity: Severity = "WARN",
    min_points: int = 3,
    floors: dict[str, float] | None = None,
) -> CheckOutcome:
    """Each value against the same metric in the earlier weeks or months (robust z-score):
    `past[metric]` lists the earlier periods' values; `floors` as in `consistent_with_history`."""

    problems, rows = [], []
    for metric, value in current.items():
        values = [v for v in past.get(metric, []) if v is not None]
        if value is None:
            continue
        z = (robust_z(value, values, (floors or {}).get(metric, 0.0))
             if len(values) >= min_points else None)  # fmt: skip
        median = statistics.median(values) if values else None
        rows.append({"metric": metric, "value": value, "baseline_median": median,
                     "baseline_points": len(values), "robust_z": z})  # fmt: skip
        if z is not None and abs(z) > z_threshold:
            problems.append(f"{metric} = {value:,.4g} vs usual {median:,.4g} for a {period} "
                            f"(robust z {z:+.1f}, limit ±{z_threshold})")  # fmt: skip
    metadata = {
        "compared": markdown_preview(pl.DataFrame(rows), rows=30) if rows else "none",
        "z_threshold": z_threshold,
    }
    return _outcome(problems, severity, f"every value consistent with earlier {period}s",
                    metadata)  # fmt: skip


def problems_outcome(
    problems: list[str], ok: str, severity: Severity = "ERROR", **meta
) -> CheckOutcome:
    """An outcome from a list of problems found by the caller."""
    return _outcome(problems, severity, ok, meta)
