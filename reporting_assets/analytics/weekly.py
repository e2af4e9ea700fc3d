"""Weekly analytics as plain functions: trends, the scorecard, initiative progress and ROI.

A week is Sunday to Saturday in the report time zone. Each headline metric has one value per week,
rolled up from the week's checked daily tables by the metric layer (`metrics.layer`): levels at
the week's end, flows summed, rates recomputed from their summed numerators and denominators.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
from scipy import stats

from reporting_assets.config.models import Settings
from reporting_assets.lib.formatting import plural, signed
from reporting_assets.metrics.rating import STATUS_WORDS, rate

WEEKLY_METRICS = ("mrr", "net_new_mrr", "mrr_at_risk", "payment_failure_rate", "total_cost",
                  "budget_variance", "incidents_opened", "first_response_sla_rate")  # fmt: skip
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth",
            7: "seventh", 8: "eighth"}  # fmt: skip

TRENDS_SCHEMA = {
    "week_start": pl.Date, "metric": pl.String, "value": pl.Float64, "previous": pl.Float64,
    "wow_change": pl.Float64, "wow_change_pct": pl.Float64, "moving_avg_4w": pl.Float64,
    "slope_per_week": pl.Float64, "slope_p_value": pl.Float64, "significant": pl.Boolean,
    "weeks_in_trend": pl.Int64, "window_complete": pl.Boolean, "streak": pl.Int64,
    "streak_text": pl.String,
}  # fmt: skip


def streak(values: list[float | None]) -> int:
    """Consecutive weekly moves in the same direction ending with the last week: +3 = third week
    up, -2 = second week down, 0 = flat or unknown."""
    n, direction = 0, 0
    for a, b in zip(reversed(values[:-1]), reversed(values[1:]), strict=True):
        if a is None or b is None or b == a:
            break
        d = 1 if b > a else -1
        if direction and d != direction:
            break
        direction, n = d, n + 1
    return n * direction


def streak_text(n: int) -> str:
    if n == 0:
        return "flat"
    word = ORDINALS.get(abs(n), f"{abs(n)}th")
    return f"{word} week {'up' if n > 0 else 'down'}"


def slope(values: list[float | None]) -> tuple[float | None, float | None]:
    """OLS slope per week over the known values (their position is their week), and its
    p-value (None with fewer than 3)."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 3:
        return None, None
    x, y = zip(*points, strict=True)
    if len(set(y)) == 1:
        return 0.0, 1.0
    fit = stats.linregress(x, y)
    return float(fit.slope), float(fit.pvalue)


def metric_trends(
    weeks: dict[date, dict[str, float | None]],
    week: date,
    *,
    window: int,
    alpha: float,
    incomplete: set[date] = frozenset(),
) -> pl.DataFrame:
    """Per metric: the week's value, week-over-week change, 4-week moving average, the trend
    slope over the last `window` weeks with its significance, and the current streak.

    A week missing from `weeks`, or in `incomplete` (a day missing or blocked), is a gap: it
    never enters a slope, a streak or an average, and a trend over a window with a gap is never
    called significant (`window_complete` says why).
    """
    # Every week of the window in order, None where a week has no complete data, so "previous"
    # is really last week and slopes and streaks never run across a gap as if it were not there.
    ordered = [week - timedelta(weeks=k) for k in range(window - 1, -1, -1)]
    whole = all(w in weeks and w not in incomplete for w in ordered)
    rows = []
    for metric in WEEKLY_METRICS:
        shown = [weeks.get(w, {}).get(metric) for w in ordered]
        series = [None if w in incomplete else v for w, v in zip(ordered, shown, strict=True)]
        value = shown[-1] if shown else None
        previous = shown[-2] if len(shown) > 1 else None
        change = None if value is None or previous is None else value - previous
        pct = change / abs(previous) if change is not None and previous else None
        last4 = [v for v in series[-4:] if v is not None]
        b, p = slope(series)
        n = streak(series)
        rows.append({
            "week_start": week, "metric": metric, "value": value, "previous": previous,
            "wow_change": change, "wow_change_pct": pct,
            "moving_avg_4w": sum(last4) / len(last4) if last4 else None,
            "slope_per_week": b, "slope_p_value": p,
            "significant": whole and p is not None and p < alpha,
            "weeks_in_trend": sum(v is not None for v in series), "window_complete": whole,
            "streak": n, "streak_text": streak_text(n),
        })  # fmt: skip
    return pl.DataFrame(rows, schema=TRENDS_SCHEMA, orient="row")


# -- scorecard ---------------------------------------------------------------------------------

SCORECARD_SCHEMA = {
    "week_start": pl.Date, "metric": pl.String, "value": pl.Float64, "target": pl.Float64,
    "attainment": pl.Float64, "status": pl.String, "weight": pl.Float64, "points": pl.Float64,
    "contribution": pl.Float64, "previous_contribution": pl.Float64,
    "contribution_change": pl.Float64,
}  # fmt: skip
POINTS = {"green": 1.0, "amber": 0.5, "red": 0.0}


def attainment(value: float | None, target: float | None, direction: str) -> float | None:
    """How much of its target a KPI achieves (1.0 = on target, higher = better), capped to
    [-1, 2] so one runaway KPI cannot swamp the score."""
    if value is None or target is None or direction == "neutral":
        return None
    if direction == "higher_is_better":
        ratio = value / target if target else (2.0 if value >= 0 else -1.0)
    else:
        ratio = target / value if value > 0 else 2.0
    return max(-1.0, min(2.0, ratio))


def rag(att: float | None, green: float, amber: float) -> str:
    """The overall score's band (0–100 against the configured green and amber marks)."""
    if att is None:
        return "grey"
    return "green" if att >= green else "amber" if att >= amber else "red"


def scorecard(
    values: dict[str, float | None],
    previous: pl.DataFrame | None,
    settings: Settings,
    week: date,
    days: int = 7,
) -> pl.DataFrame:
    """Each weighted KPI against its (week-scaled) target, its status by the metric layer's
    rating rule and its contribution to the overall score (0–100), with the change in
    contribution since last week; the last row ("overall") is the score. KPIs without a value
    are Not rated and left out of the score."""
    sc = settings.scorecard
    before = {}
    if previous is not None and not previous.is_empty():
        before = dict(zip(previous["metric"], previous["contribution"], strict=True))
    # A KPI with no value this week (no incident resolved, no payment settled) is not scored:
    # the score is out of the weight of the KPIs that have a value.
    total_weight = sum(w for m, w in sc.weights.items() if values.get(m) is not None) or 1.0
    rows = []
    for metric, weight in sc.weights.items():
        m = settings.metrics[metric]
        rating = rate(metric, values.get(metric), m, days)
        target, status = rating.target, rating.status
        att = attainment(values.get(metric), target, m.direction)
        points = POINTS.get(status)
        contribution = 100 * weight * points / total_weight if points is not None else None
        prev = before.get(metric)
        rows.append({
            "week_start": week, "metric": metric, "value": values.get(metric), "target": target,
            "attainment": att, "status": status, "weight": float(weight), "points": points,
            "contribution": contribution, "previous_contribution": prev,
            "contribution_change": None if prev is None or contribution is None
            else contribution - prev,
        })  # fmt: skip
    score = sum(r["contribution"] for r in rows if r["contribution"] is not None)
    prev_score = before.get("overall")
    overall_status = rag(score, sc.score_green_at, sc.score_amber_at)
    rows.append({
        "week_start": week, "metric": "overall", "value": score, "target": 100.0,
        "attainment": score / 100, "status": overall_status, "weight": float(total_weight),
        "points": None, "contribution": score, "previous_contribution": prev_score,
        "contribution_change": None if prev_score is None else score - prev_score,
    })  # fmt: skip
    return pl.DataFrame(rows, schema=SCORECARD_SCHEMA, orient="row")


def score_movers(card: pl.DataFrame, labels: dict[str, str], top: int = 3) -> list[str]:
    """Sentences on what moved the overall score since last week, biggest first."""
    moved = card.filter((pl.col("metric") != "overall") & (pl.col("contribution_change") != 0)
                        & pl.col("contribution_change").is_not_null())  # fmt: skip
    moved = moved.sort(pl.col("contribution_change").abs(), descending=True).head(top)
    return [f"{labels.get(r['metric'], r['metric'])} {signed(r['contribution_change'])} points "
            f"(now {STATUS_WORDS.get(r['status'], r['status'])})"
            for r in moved.iter_rows(named=True)]  # fmt: skip


# -- initiatives -------------------------------------------------------------------------------

PROGRESS_SCHEMA = {
    "week_start": pl.Date, "initiative_id": pl.String, "name": pl.String, "owner": pl.String,
    "milestones_total": pl.Int64, "milestones_done": pl.Int64, "milestones_due": pl.Int64,
    "milestones_late": pl.Int64, "percent_complete": pl.Float64,
    "schedule_variance_days": pl.Int64, "planned_end_date": pl.Date, "status": pl.String,
    "reason": pl.String,
}  # fmt: skip


def _day(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def initiative_progress(
    initiatives: pl.DataFrame, milestones: pl.DataFrame, week: date, as_of: date
) -> pl.DataFrame:
    """Milestones done / due / late, percent complete, schedule variance (days behind the plan
    for the latest due milestone; negative = ahead), status and the reason for it."""
    rows = []
    for i in initiatives.sort("initiative_id").iter_rows(named=True):
        ms = milestones.filter(pl.col("initiative_id") == i["initiative_id"]).sort("planned_date")
        total = ms.height
        done = ms.filter(pl.col("actual_date").is_not_null() & (pl.col("actual_date") <= as_of))
        due = ms.filter(pl.col("planned_date") <= as_of)
        late_open = due.filter(pl.col("actual_date").is_null() | (pl.col("actual_date") > as_of))
        late_done = done.filter(pl.col("actual_date") > pl.col("planned_date"))
        variances = [((r["actual_date"] if r["actual_date"] and r["actual_date"] <= as_of
                       else as_of) - r["planned_date"]).days
                     for r in due.iter_rows(named=True)]  # fmt: skip
        variance = variances[-1] if variances else 0
        finished = i["actual_end_date"] is not None and i["actual_end_date"] <= as_of
        last_done = done.get_column("actual_date").max() if done.height else None
        if finished and i["actual_end_date"] <= i["planned_end_date"]:
            status, reason = "done", f"finished {_day(i['actual_end_date'])}, on plan"
        elif total and done.height == total and not finished:
            # Every milestone reached: done, whether or not an end date was recorded.
            late = (last_done - i["planned_end_date"]).days
            status = "done" if late <= 0 else "done late"
            reason = (f"all {total} milestones reached, the last on {_day(last_done)}"
                      + (f", {plural(late, 'day')} after the planned end" if late > 0
                         else ""))  # fmt: skip
        elif finished:
            days = (i["actual_end_date"] - i["planned_end_date"]).days
            status, reason = "done late", f"finished {plural(days, 'day')} after the planned end"
        elif i["planned_end_date"] < as_of:
            late = (as_of - i["planned_end_date"]).days
            status = "behind"
            reason = (f"planned to finish {_day(i['planned_end_date'])}, not finished "
                      f"{plural(late, 'day')} later ({done.height} of {total} milestones "
                      "reached)")  # fmt: skip
        elif late_open.height:
            first = late_open.row(0, named=True)
            status = "behind"
            ago = (as_of - first["planned_date"]).days
            reason = (f"{plural(late_open.height, 'milestone')} overdue; {first['milestone']} "
                      f"was due {_day(first['planned_date'])} "
                      f"({plural(ago, 'day')} ago)")  # fmt: skip
        elif late_done.height:
            status = "at risk"
            reason = f"{plural(late_done.height, 'milestone')} reached late; the rest on plan"
        else:
            status, reason = "on track", f"{done.height} of {total} milestones reached on plan"
        rows.append({
            "week_start": week, "initiative_id": i["initiative_id"], "name": i["name"],
            "owner": i["owner"], "milestones_total": total, "milestones_done": done.height,
            "milestones_due": due.height, "milestones_late": late_open.height + late_done.height,
            "percent_complete": done.height / total if total else 0.0,
            "schedule_variance_days": variance, "planned_end_date": i["planned_end_date"],
            "status": status, "reason": reason,
        })  # fmt: skip
    return pl.DataFrame(rows, schema=PROGRESS_SCHEMA, orient="row")


# -- ROI ---------------------------------------------------------------------------------------

ROI_SCHEMA = {
    "week_start": pl.Date, "initiative_id": pl.String, "name": pl.String,
    "investment_to_date": pl.Float64, "realized_benefit_to_date": pl.Float64,
    "expected_benefit_to_date": pl.Float64, "roi": pl.Float64,
    "realized_vs_expected": pl.Float64, "payback_months": pl.Float64,
}  # fmt: skip


def _recent_monthly(booked: pl.DataFrame) -> float:
    """Average monthly benefit over the last 3 booked months since benefits began (zero months
    included: a benefit that stopped counts as stopped)."""
    since = booked.filter(pl.col("realized_benefit_usd") > 0)["month_start"].min()
    if since is None:
        return 0.0
    recent = booked.filter(pl.col("month_start") >= since).sort("month_start").tail(3)
    return float(recent["realized_benefit_usd"].mean())


def roi(initiatives: pl.DataFrame, ledger: pl.DataFrame, week: date, as_of: date) -> pl.DataFrame:
    """Per initiative and in total: money in, benefit out, ROI, payback and realized vs expected.

    * investment and benefit to date: the ledger's monthly bookings up to `as_of`;
    * expected benefit to date: the plan's annual benefit / 12 for each booked month from the
      month of its planned end (benefits start once an initiative is live);
    * ROI = (benefit − investment) / investment;
    * payback months = total investment / the average monthly benefit of the last 3 booked months
      since benefits began, zero months included (None while nothing is realized).
    """
    booked = ledger.filter(pl.col("month_start") <= as_of)
    rows = []
    for i in initiatives.sort("initiative_id").iter_rows(named=True):
        own = booked.filter(pl.col("initiative_id") == i["initiative_id"]).sort("month_start")
        invest = float(own["spend_usd"].sum())
        benefit = float(own["realized_benefit_usd"].sum())
        # Benefits are booked a whole month at a time from the month the initiative goes live,
        # so the plan's expectation counts the same booked months from its planned end.
        live = own.filter(pl.col("month_start") >= i["planned_end_date"].replace(day=1)).height
        expected = i["expected_annual_benefit_usd"] / 12 * live
        monthly = _recent_monthly(own)
        rows.append({
            "week_start": week, "initiative_id": i["initiative_id"], "name": i["name"],
            "investment_to_date": invest, "realized_benefit_to_date": benefit,
            "expected_benefit_to_date": expected,
            "roi": (benefit - invest) / invest if invest else None,
            "realized_vs_expected": benefit / expected if expected else None,
            "payback_months": invest / monthly if monthly else None,
        })  # fmt: skip
    frame = pl.DataFrame(rows, schema=ROI_SCHEMA, orient="row")
    invest, benefit = frame["investment_to_date"].sum(), frame["realized_benefit_to_date"].sum()
    expected = frame["expected_benefit_to_date"].sum()
    monthly = _recent_monthly(
        booked.group_by("month_start").agg(pl.col("realized_benefit_usd").sum())
    )
    total = pl.DataFrame([{
        "week_start": week, "initiative_id": "total", "name": "All initiatives",
        "investment_to_date": invest, "realized_benefit_to_date": benefit,
        "expected_benefit_to_date": expected,
        "roi": (benefit - invest) / invest if invest else None,
        "realized_vs_expected": benefit / expected if expected else None,
        "payback_months": invest / monthly if monthly else None,
    }], schema=ROI_SCHEMA, orient="row")  # fmt: skip
    return pl.concat([frame, total])


def finite(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def week_days(week: date) -> list[str]:
    return [(week + timedelta(days=k)).isoformat() for k in range(7)]
