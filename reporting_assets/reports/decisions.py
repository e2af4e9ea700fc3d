"""The decision block every report opens with: what changed (at most three takeaways) and what
is asked of the reader (each ask with its owner, a date and the dollars at stake).

Plain functions over the same tables the report prints: a takeaway's figures are the figures of
the KPI cards and tables, in their displayed form, and an ask exists only where the data says
someone must act — a critical alert (its rule names the owner, the action and the days to
respond) or, in the monthly report, a recommendation (its rule names the owner).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import polars as pl

from reporting_assets.config.models import AlertRule, Settings
from reporting_assets.lib.formatting import format_value, in_sentence
from reporting_assets.metrics.rating import STATUS_WORDS
from reporting_assets.reports.model import Ask, Decisions, Kpi

# What each kind of stake is called after its amount: "$1,234 in failed payments".
STAKE_WORDS = {
    "failed_payments": "in failed payments",
    "overspend": "spent above budget",
    "mrr_at_risk": "MRR at risk",
}
MAX_ASKS = 4


def business_day_after(day: date, days: int) -> date:
    """`days` days after `day`, moved to the Monday when it falls on a weekend."""
    due = day + timedelta(days=days)
    while due.weekday() >= 5:
        due += timedelta(days=1)
    return due


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def stake_of(measure: str | None, revenue: pl.DataFrame, costs: pl.DataFrame) -> float | None:
    """The dollars an alert puts at stake over the days given (the report's rows of them):
    failed payments and spend above budget add up over the days; MRR at risk is the last day's.
    `revenue` holds the plan='total' rows of revenue_protection_daily, `costs` the level='total'
    rows of cost_optimization_daily, each with a `date` column."""
    if measure == "failed_payments" and not revenue.is_empty():
        return float(revenue.get_column("failed_payment_amount").sum())
    if measure == "overspend" and not costs.is_empty():
        over = (pl.col("cost_usd") - pl.col("daily_budget_usd")).clip(lower_bound=0)
        return float(costs.select(over.sum()).item())
    if measure == "mrr_at_risk" and not revenue.is_empty():
        return float(revenue.sort("date").get_column("mrr_at_risk")[-1])
    return None


def stakes_by_rule(
    rows: pl.DataFrame, revenue: pl.DataFrame, costs: pl.DataFrame, settings: Settings
) -> dict[str, float | None]:
    """Per rule among `rows` (alert rows with `date`), the dollars at stake on exactly the days
    those rows cover (`stake_of` the rule's `at_stake`)."""
    rules = {r.name: r for r in settings.alert_rules}
    out = {}
    for (name,), group in rows.group_by("rule", maintain_order=True):
        days = group.get_column("date").implode()
        rule = rules.get(name)
        out[name] = stake_of(
            rule.at_stake if rule else None,
            revenue.filter(pl.col("date").is_in(days)),
            costs.filter(pl.col("date").is_in(days)),
        )
    return out


def alert_asks(
    critical: pl.DataFrame,
    revenue: pl.DataFrame,
    costs: pl.DataFrame,
    published: date,
    settings: Settings,
) -> list[Ask]:
    """An ask per rule in critical breach. `critical` holds its critical rows (one per rule and
    day, with `date`); the stake is measured on exactly those days."""
    rules: dict[str, AlertRule] = {r.name: r for r in settings.alert_rules}
    stakes = stakes_by_rule(critical, revenue, costs, settings)
    asks = []
    for (rule_name,), rows in critical.group_by("rule", maintain_order=True):
        rule = rules.get(rule_name)
        if rule is None:
            continue
        last = rows.sort("date").row(-1, named=True)
        m = settings.metrics[rule.metric]
        since = last["breaching_since"]
        asks.append(
            Ask(
                what=sentence_case(rule.action or f"act on the {in_sentence(m.label)}"),
                owner=settings.person(rule.owner),
                by=business_day_after(published, rule.respond_within_days),
                at_stake=stakes[rule_name],
                stake_words=STAKE_WORDS.get(rule.at_stake or "", ""),
                why=f"{m.label} at {format_value(last['value'], m.unit)} against the critical "
                f"threshold of {format_value(last['threshold'], m.unit)}"
                + (f", since {since.day} {since:%B}." if since else "."),
            )
        )
    return asks


def recommendation_asks(recs: pl.DataFrame | None, month: date, settings: Settings) -> list[Ask]:
    """An ask per recommendation of the month, owned as its rule says, to be decided by the end
    of the next month (before the next month's report)."""
    if recs is None or recs.is_empty():
        return []
    rules = {r.name: r for r in settings.recommendations}
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    next_end = following.replace(day=calendar.monthrange(following.year, following.month)[1])
    asks = []
    for r in recs.sort("rank").iter_rows(named=True):
        rule = rules.get(r["rule"])
        if rule is None:
            continue
        asks.append(
            Ask(
                what=sentence_case(rule.action),
                owner=settings.person(rule.owner),
                by=next_end,
                at_stake=r["estimated_impact_usd"],
                stake_words=rule.impact_label,
                why=f"{rule.label} at {format_value(r['value'], r['unit'])} against the "
                f"{format_value(rule.threshold, r['unit'])} threshold.",
            )
        )
    return asks


def ranked(asks: list[Ask]) -> list[Ask]:
    """The asks, the most dollars at stake first (those without a figure after), at most
    MAX_ASKS."""
    return sorted(asks, key=lambda a: -(a.at_stake or 0.0))[:MAX_ASKS]


def status_takeaway(kpi_list: list[Kpi]) -> str:
    """How many headline figures are on track, and which are off track."""
    rated = [k for k in kpi_list if k.status in ("green", "amber", "red")]
    if not rated:
        return ""
    on = sum(k.status == "green" for k in rated)
    off = [k.label for k in rated if k.status == "red"]
    watch = [k.label for k in rated if k.status == "amber"]
    text = f"{on} of {len(rated)} headline figures {STATUS_WORDS['green'].lower()}"
    if off:
        text += f"; {STATUS_WORDS['red'].lower()}: {', '.join(off)}"
    if watch:
        text += f"; {STATUS_WORDS['amber'].lower()}: {', '.join(watch)}"
    return text + "."


def alerts_takeaway(worst: pl.DataFrame, settings: Settings, fired: dict[str, str]) -> str:
    """The worst alert in one sentence, and how many others there are. `worst` has one row per
    rule (its worst severity first); `fired` says, per rule, how often it fired in a period."""
    if worst.is_empty():
        return "No alert rule is breached."
    rank = pl.col("severity").replace_strict({"critical": 0, "warning": 1}, default=2)
    if "days_firing" not in worst.columns:  # a day's alerts: each fired on the one day
        worst = worst.with_columns(days_firing=pl.lit(1))
    first = worst.sort(rank, "days_firing", "rule", descending=[False, True, False]).row(
        0, named=True
    )
    m = settings.metrics[first["metric"]]
    text = (
        f"{m.label} is in {first['severity']} breach at {format_value(first['value'], m.unit)}"
        f" (threshold {format_value(first['threshold'], m.unit)})"
    )
    if first["rule"] in fired:
        text = (
            f"{m.label} reached {first['severity']} ({format_value(first['value'], m.unit)}"
            f" against {format_value(first['threshold'], m.unit)}); the alert fired "
            f"{fired[first['rule']]}"
        )
    others = worst.height - 1
    if others:
        text += f"; {others} other alert{'s' if others != 1 else ''} fired"
    return text + "."


def mrr_day_takeaway(closing: float, net_new: float) -> str:
    """MRR at the day's close and its move on the day."""
    usd = lambda x: format_value(x, "usd")  # noqa: E731
    if net_new == 0:
        return f"MRR closed at {usd(closing)}, flat on the day."
    way = "up" if net_new > 0 else "down"
    return f"MRR closed at {usd(closing)}, {way} {usd(abs(net_new))} on the day."


def mrr_period_takeaway(opening: float, closing: float, net_new: float, cadence: str) -> str:
    """MRR over a week or month: from, to, and the net new MRR."""
    usd = lambda x: format_value(x, "usd")  # noqa: E731
    period = "week" if cadence == "weekly" else "month"
    return (
        f"MRR moved from {usd(opening)} to {usd(closing)} this {period} ({usd(net_new)} net new)."
    )


def decision_block(takeaways: list[str], asks: list[Ask]) -> Decisions:
    """At most three takeaways (empty ones dropped) and the ranked asks."""
    return Decisions([t for t in takeaways if t][:3], ranked(asks))
