"""The business-impact metrics and their rating: is the reporting system making decisions faster,
protecting more revenue, realizing savings and keeping initiatives on plan?

Two kinds of metric. *Relative* ones (decision speed, revenue protection) compare this month
with a baseline measured before the system went live; what is rated is the improvement (for
"lower is better", how much lower). *Direct* ones (savings realized, initiatives on plan) are
rates compared with their target as they are. Both are rated by the metric layer's one rule
(`metrics.rating.against_target`): On track at or beyond the target, Watch when short of it by
no more than the tolerance, Off track further short, so a 0 % rate against an 80 % target is
Off track. A metric that cannot be measured is Not rated, and the row says why in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

from reporting_assets.config.business import ImpactTargets
from reporting_assets.lib.formatting import format_value
from reporting_assets.metrics.periods import values_of
from reporting_assets.metrics.rating import Direction, against_target, default_band
from reporting_assets.records.acks import decision_speed

IMPACT_SCHEMA = {
    "month": pl.Date,
    "metric": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "baseline": pl.Float64,
    "improvement": pl.Float64,
    "rated": pl.Float64,
    "target": pl.Float64,
    "tolerance": pl.Float64,
    "comparison": pl.String,
    "direction": pl.String,
    "status": pl.String,
    "reason": pl.String,
    "target_text": pl.String,
    "change_text": pl.String,
    "basis": pl.String,
}


@dataclass(frozen=True)
class ImpactMetric:
    """One impact metric: its config key, unit, whether it is measured against the baseline,
    which way is better, and the words for a change ("faster" / "slower")."""

    key: str
    config: str
    unit: str
    relative: bool
    direction: Direction
    better: str = ""
    worse: str = ""


METRICS = {
    m.key: m
    for m in (
        ImpactMetric(
            "executive_decision_speed_hours",
            "decision_speed",
            "hours",
            True,
            "lower_is_better",
            "faster",
            "slower",
        ),
        ImpactMetric(
            "revenue_protection_share",
            "revenue_protection",
            "ratio",
            True,
            "higher_is_better",
            "more recovered",
            "less recovered",
        ),
        ImpactMetric(
            "cost_optimization_realization", "cost_realization", "ratio", False, "higher_is_better"
        ),
        ImpactMetric(
            "initiative_success_rate", "initiative_success", "ratio", False, "higher_is_better"
        ),
    )
}


@dataclass(frozen=True)
class Figure:
    """A measured figure, or None with the reason in words ("no acknowledgements this month")."""

    value: float | None
    why_none: str = ""


def _pct(x: float) -> str:
    return format_value(x, "ratio")


def target_text(m: ImpactMetric, target: float) -> str:
    """The target as a reader reads it: "25.0% faster than the baseline", "80.0% or more"."""
    if m.relative:
        return f"{_pct(target)} {m.better} than the baseline"
    shown = format_value(target, m.unit)
    return f"{shown} or more" if m.direction == "higher_is_better" else f"{shown} or less"


def impact_row(
    month: date,
    metric: str | ImpactMetric,
    now: Figure,
    base: Figure | None,
    targets: ImpactTargets,
    basis: str,
) -> dict:
    """One impact metric, rated. For a relative metric the improvement over the baseline is
    rated (1 − value / baseline when lower is better, value / baseline − 1 when higher is);
    for a direct one the value itself. A missing figure makes the row Not rated, with why."""
    m = METRICS[metric] if isinstance(metric, str) else metric
    target = getattr(targets, m.config)
    band = default_band(target, targets.tolerance.get(m.config))
    improvement = rated = None
    why = now.why_none if now.value is None else ""
    if m.relative:
        if base is None or base.value is None:  # the baseline's reason comes first
            why = base.why_none if base else "no baseline"
        elif base.value == 0:
            why = "the baseline is 0, so there is no change to measure against it"
        elif now.value is not None:
            ratio = now.value / base.value
            improvement = 1 - ratio if m.direction == "lower_is_better" else ratio - 1
            rated = improvement
        # An improvement is rated as "higher is better" whichever way the metric runs.
        rating = against_target(rated, target, band) if rated is not None else None
    else:
        rated = now.value
        rating = against_target(rated, target, band, m.direction) if rated is not None else None
    change = None
    if improvement is not None:
        change = f"{_pct(abs(improvement))} {m.better if improvement >= 0 else m.worse}"
    return {
        "month": month,
        "metric": m.key,
        "value": now.value,
        "unit": m.unit,
        "baseline": base.value if base is not None else None,
        "improvement": improvement,
        "rated": rated,
        "target": target,
        "tolerance": band,
        "comparison": "vs_baseline" if m.relative else "direct",
        "direction": m.direction,
        "status": rating.status if rating else "grey",
        "reason": rating.reason if rating else why,
        "target_text": target_text(m, target),
        "change_text": change,
        "basis": basis,
    }


def status_problems(table: pl.DataFrame) -> list[str]:
    """Rows whose status does not follow from the rated figure, target and tolerance."""
    problems = []
    for r in table.iter_rows(named=True):
        if r["rated"] is None:
            expected = "grey"
        else:
            way = r["direction"] if r["comparison"] == "direct" else "higher_is_better"
            expected = against_target(r["rated"], r["target"], r["tolerance"], way).status
        if r["status"] != expected:
            problems.append(
                f"{r['metric']}: status {r['status']} does not follow from "
                f"{r['rated']} vs target {r['target']} (expected {expected})"
            )
    return problems


def months_text(first: date, last: date) -> str:
    """A span of months as a reader reads it: May–July 2026, or December 2025–February 2026."""
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%B %Y}"
    if first.year == last.year:
        return f"{first:%B}–{last:%B %Y}"
    return f"{first:%B %Y}–{last:%B %Y}"


def decision_hours(engine: sa.Engine, first: date, last: date, tz: ZoneInfo) -> Figure:
    """Median hours from delivery to the first acknowledgement, of the reports and alerts first
    acknowledged between `first` and `last` (whole days in `tz`), wherever the acknowledgement
    was made: the web app, an email's link, the command line."""
    since = datetime.combine(first, time.min, tz)
    until = datetime.combine(last + timedelta(days=1), time.min, tz)
    speed = decision_speed(engine, since, until)
    if speed["median_hours"] is None:
        return Figure(None, f"nothing delivered was acknowledged in {months_text(first, last)}")
    return Figure(float(speed["median_hours"]))


def protection_share(values: list[dict], months: str) -> Figure:
    """Revenue recovered over revenue flagged at risk, summed over the months' KPIs."""
    risk = sum(v.get("mrr_at_risk_flagged") or 0.0 for v in values)
    recovered = sum(v.get("revenue_recovered") or 0.0 for v in values)
    if not risk:
        return Figure(None, f"no revenue was flagged at risk in {months}")
    return Figure(recovered / risk)


def initiative_success_rate(initiatives: pl.DataFrame, as_of: date) -> tuple[float | None, int]:
    """Share of the initiatives due by `as_of` that finished no later than planned."""
    due = initiatives.filter(pl.col("planned_end_date") <= as_of)
    if due.is_empty():
        return None, 0
    on_time = due.filter(
        pl.col("actual_end_date").is_not_null()
        & (pl.col("actual_end_date") <= pl.col("planned_end_date"))
    )
    return on_time.height / due.height, due.height


def monthly_impact(
    month: date,
    last: date,
    due: date,
    targets: ImpactTargets,
    today: date,
    kpis: dict[str, pl.DataFrame],
    savings: pl.DataFrame | None,
    initiatives: pl.DataFrame | None,
    engine: sa.Engine,
    tz: ZoneInfo,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """The month's four impact metrics, rated, and notes on the baseline used.

    `month`–`last` is the calendar month (acknowledgements made in it count, today's too);
    `due` its last day with data; `kpis` the monthly KPI tables by month key, this month's and
    the baseline's; `savings` and `initiatives` the registers as of `due`.
    """
    live = targets.go_live_day(today)
    window = targets.baseline(today)
    left_out: list[date] = []
    if window is None:
        no_base = "no go-live date in config (impact.go_live), so no baseline before it"
        speed_base = protection_base = Figure(None, no_base)
        base_words = "none: no go-live date"
    else:
        first, end = window
        base_words = months_text(first, end)
        if last < live:
            speed_base = protection_base = Figure(
                None,
                f"{month:%B %Y} is before go-live ({live:%-d %B %Y}): it is not compared "
                "with the baseline",
            )
        else:
            speed_base = decision_hours(engine, first, end, tz)
            months = [k for k in sorted(kpis) if first <= date.fromisoformat(k) <= end]
            left_out = [date.fromisoformat(k) for k in months if not kpis[k]["complete"][0]]
            complete = [values_of(kpis[k]) for k in months if kpis[k]["complete"][0]]
            protection_base = (
                protection_share(complete, base_words)
                if complete
                else Figure(
                    None, f"no complete monthly KPIs for the baseline months ({base_words})"
                )
            )
    identified = float(savings["monthly_savings_usd"].sum()) if savings is not None else 0.0
    realized = (
        float(savings["realized_monthly_savings_usd"].fill_null(0).sum())
        if savings is not None
        else 0.0
    )
    success, n_due = (
        initiative_success_rate(initiatives, due) if initiatives is not None else (None, 0)
    )
    this = f"{month:%B %Y}"
    base_basis = f"vs the baseline months before go-live ({base_words})"
    rows = [
        impact_row(
            month,
            "executive_decision_speed_hours",
            decision_hours(engine, month, last, tz),
            speed_base,
            targets,
            "median hours from a report's or alert's delivery to its "
            "first acknowledgement (in the web app, from an email's link or on the command "
            f"line), {base_basis}",
        ),
        impact_row(
            month,
            "revenue_protection_share",
            protection_share([values_of(kpis[month.isoformat()])], this),
            protection_base,
            targets,
            f"revenue recovered / revenue flagged at risk, {base_basis}",
        ),
        impact_row(
            month,
            "cost_optimization_realization",
            Figure(realized / identified)
            if identified
            else Figure(None, "no savings identified in the register"),
            None,
            targets,
            "realized / identified monthly savings, against the target directly",
        ),
        impact_row(
            month,
            "initiative_success_rate",
            Figure(success)
            if success is not None
            else Figure(None, f"no initiative was due by {due:%-d %B %Y}"),
            None,
            targets,
            f"initiatives finished on plan, of the {n_due} due by {due:%-d %B %Y}, against "
            "the target directly",
        ),
    ]
    notes = {
        "go_live": live.isoformat() if live else "not configured",
        "baseline": base_words,
        "baseline_left_out": ", ".join(f"{m:%B %Y} (days missing)" for m in left_out) or "none",
    }
    return pl.DataFrame(rows, schema=IMPACT_SCHEMA, orient="row"), notes
