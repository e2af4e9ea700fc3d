"""The daily metrics, as plain functions from source frames to metric frames (no Dagster here).

Each function takes one day's inputs (and, where a metric needs it, a trailing history) and
returns the metric table exactly as reports show it.
"""

from __future__ import annotations

from datetime import date

import polars as pl

PLANS = ("starter", "growth", "scale", "enterprise")
TOTAL = "total"
# An account's usage "fell sharply" when its last 7 days hold less than this share of its weekly
# average over the 3 weeks before, and it was a real user before (at least MIN_WEEKLY events).
USAGE_DROP_SHARE = 0.4
USAGE_DROP_MIN_WEEKLY = 10


Events = pl.DataFrame | pl.LazyFrame
# The events that move MRR or money; everything else is product usage.
REVENUE_EVENTS = ("subscription_created", "subscription_upgraded", "subscription_downgraded",
                  "subscription_cancelled", "subscription_renewed", "payment_failed",
                  "payment_recovered")  # fmt: skip


def account_activity(events: Events, day: date) -> pl.DataFrame:
    """Product activity per account for the day: events, active users, page views, features.

    `events` may be lazy (a scan of the stored day): only the columns used are read.
    """
    return (
        events.lazy()
        .filter(pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(
            events=pl.len(),
            active_users=pl.col("distinct_id").n_unique(),
            pageviews=(pl.col("event") == "$pageview").sum(),
            feature_uses=(pl.col("event") == "feature_used").sum(),
        )
        .with_columns(date=pl.lit(day))
        .select("date", "account_id", "events", "active_users", "pageviews", "feature_uses")
        .cast(
            {
                "events": pl.Int64,
                "active_users": pl.Int64,
                "pageviews": pl.Int64,
                "feature_uses": pl.Int64,
            }
        )
        .sort("account_id")
        .collect()
    )


def usage_drops(activity_history: pl.DataFrame, day: date) -> pl.DataFrame:
    """Accounts whose usage in the 7 days to `day` fell sharply against the 3 weeks before.

    `activity_history` holds account_activity rows for the 28 days ending on `day`.
    """
    recent_start = date.fromordinal(day.toordinal() - 6)
    per_account = activity_history.group_by("account_id").agg(
        recent=pl.col("events").filter(pl.col("date") >= recent_start).sum(),
        before=pl.col("events").filter(pl.col("date") < recent_start).sum(),
    )
    weekly_before = pl.col("before") / 3
    return per_account.filter(
        (weekly_before >= USAGE_DROP_MIN_WEEKLY)
        & (pl.col("recent") < USAGE_DROP_SHARE * weekly_before)
    ).select("account_id", "recent", weekly_before.alias("weekly_before"))


def _by_plan(frame: pl.DataFrame, plan_col: str, **aggs: pl.Expr) -> pl.DataFrame:
    return frame.group_by(pl.col(plan_col).alias("plan")).agg(**aggs)


def revenue_protection(
    events: Events, accounts: pl.DataFrame, drops: pl.DataFrame, day: date
) -> pl.DataFrame:
    """MRR movements, revenue at risk and recovered, and payment health, by plan and in total.

    `events` are the day's typed PostHog events (may be lazy), `accounts` the account snapshot
    (opening and closing state), `drops` the accounts whose usage fell sharply.
    """
    lazy = events.lazy()
    money, received = pl.collect_all([
        lazy.filter(pl.col("event").is_in(REVENUE_EVENTS))
        .select("event", "plan", "amount_minor", "mrr", "previous_mrr", "reason", "reactivation"),
        lazy.group_by("plan").agg(events_received=pl.len()),
    ])  # fmt: skip
    ev = money.with_columns(
        amount_usd=pl.col("amount_minor").cast(pl.Float64) / 100,
        reactivation=pl.col("reactivation").fill_null(False),
    )
    is_ = pl.col("event").eq
    movements = _by_plan(
        ev, "plan",
        new_mrr=pl.col("mrr").filter(is_("subscription_created") & ~pl.col("reactivation")).sum(),
        reactivation_mrr=pl.col("mrr").filter(is_("subscription_created") & pl.col("reactivation"))
        .sum(),
        expansion_mrr=(pl.col("mrr") - pl.col("previous_mrr"))
        .filter(is_("subscription_upgraded")).sum(),
        contraction_mrr=(pl.col("previous_mrr") - pl.col("mrr"))
        .filter(is_("subscription_downgraded")).sum(),
        churned_mrr=pl.col("previous_mrr").filter(is_("subscription_cancelled")).sum(),
        payments_failed=is_("payment_failed").sum(),
        payments_succeeded=is_("subscription_renewed").sum(),
        failed_payment_amount=pl.col("amount_usd").filter(is_("payment_failed")).sum(),
        payments_recovered=is_("payment_recovered").sum(),
        recovered_amount=pl.col("amount_usd").filter(is_("payment_recovered")).sum(),
        dunning_cancellations=(
            is_("subscription_cancelled") & (pl.col("reason") == "payment_failed")
        ).sum(),
    ).join(received, on="plan", how="full", coalesce=True)  # fmt: skip
    opening = _by_plan(
        accounts.filter(pl.col("opening_plan").is_not_null()),
        "opening_plan",
        opening_mrr=pl.col("opening_mrr").sum(),
    )
    closing = _by_plan(
        accounts, "plan", closing_mrr=pl.col("mrr").sum(), paying_accounts=(pl.col("mrr") > 0).sum()
    )
    at_risk_usage = _by_plan(
        accounts.join(drops, on="account_id").filter(pl.col("mrr") > 0), "plan",
        usage_drop_accounts=pl.len(), usage_drop_mrr=pl.col("mrr").sum(),
    )  # fmt: skip
    plans = pl.DataFrame({"plan": list(PLANS)})
    per_plan = (
        plans.join(opening, on="plan", how="left")
        .join(closing, on="plan", how="left")
        .join(movements, on="plan", how="left")
        .join(at_risk_usage, on="plan", how="left")
        .fill_null(0)
    )
    additive = [c for c in per_plan.columns if c != "plan"]
    total = per_plan.select(pl.lit(TOTAL).alias("plan"), *[pl.col(c).sum() for c in additive])
    # Events without a plan (anonymous visitors) count in the total only.
    total = total.with_columns(events_received=pl.lit(received.get_column("events_received").sum()))
    table = pl.concat([per_plan, total], how="vertical_relaxed").cast(
        {c: pl.Float64 for c in additive if c.endswith(("mrr", "amount"))}
        | {c: pl.Int64 for c in additive if not c.endswith(("mrr", "amount"))}
    )
    attempts = pl.col("payments_failed") + pl.col("payments_succeeded")
    resolved = pl.col("payments_recovered") + pl.col("dunning_cancellations")
    return table.with_columns(
        date=pl.lit(day),
        net_new_mrr=pl.col("new_mrr") + pl.col("reactivation_mrr") + pl.col("expansion_mrr")
        - pl.col("contraction_mrr") - pl.col("churned_mrr"),
        mrr_at_risk=pl.col("failed_payment_amount") + pl.col("churned_mrr")
        + pl.col("contraction_mrr") + pl.col("usage_drop_mrr"),
        revenue_recovered=pl.col("recovered_amount") + pl.col("reactivation_mrr"),
        payment_failure_rate=pl.when(attempts > 0)
        .then(pl.col("payments_failed") / attempts).otherwise(None),
        payment_recovery_rate=pl.when(resolved > 0)
        .then(pl.col("payments_recovered") / resolved).otherwise(None),
    ).select(
        "date", "plan", "opening_mrr", "new_mrr", "reactivation_mrr", "expansion_mrr",
        "contraction_mrr", "churned_mrr", "net_new_mrr", "closing_mrr", "paying_accounts",
        "mrr_at_risk", "failed_payment_amount", "usage_drop_accounts", "usage_drop_mrr",
        "revenue_recovered", "recovered_amount", "payments_succeeded", "payments_failed",
        "payment_failure_rate", "payments_recovered", "dunning_cancellations",
        "payment_recovery_rate", "events_received",
    )  # fmt: skip


ANOMALY_RATIO = 1.6
IDLE_UTILIZATION = 0.10
IDLE_MIN_DAILY_USD = 20.0


def cost_optimization(
    costs: pl.DataFrame,
    cost_history: pl.DataFrame,
    savings: pl.DataFrame,
    active_accounts: int,
    events: int,
    day: date,
) -> pl.DataFrame:
    """Spend by cost line against budget and its own trailing level, idle and anomalous spend,
    unit costs, and savings identified vs realized; one row per line plus a total row.

    `cost_history` holds the cost lines of the 28 days before `day`.
    """
    keys = ["service", "vendor", "team"]
    trailing = cost_history.group_by(keys).agg(trailing_median_usd=pl.col("cost_usd").median())
    lines = (
        costs.join(trailing, on=keys, how="left")
        .with_columns(
            budget_variance=pl.col("cost_usd") / pl.col("daily_budget_usd") - 1,
            anomaly_ratio=pl.col("cost_usd") / pl.col("trailing_median_usd"),
        )
        .with_columns(
            anomalous=pl.col("anomaly_ratio").fill_null(1.0) > ANOMALY_RATIO,
            idle_candidate=(pl.col("utilization") < IDLE_UTILIZATION)
            & (pl.col("cost_usd") >= IDLE_MIN_DAILY_USD),
        )
        .with_columns(
            anomalous_excess_usd=pl.when(pl.col("anomalous"))
            .then(pl.col("cost_usd") - pl.col("trailing_median_usd")).otherwise(0.0),
            idle_spend_usd=pl.when(pl.col("idle_candidate")).then(pl.col("cost_usd"))
            .otherwise(0.0),
        )
    )  # fmt: skip
    identified = savings.get_column("monthly_savings_usd").sum()
    realized = savings.get_column("realized_monthly_savings_usd").fill_null(0).sum()
    total_cost = lines.get_column("cost_usd").sum()
    total_budget = lines.get_column("daily_budget_usd").sum()
    total = pl.DataFrame({
        "level": ["total"], "service": [TOTAL], "vendor": [TOTAL], "team": [TOTAL],
        "cost_usd": [total_cost], "daily_budget_usd": [total_budget],
        "trailing_median_usd": [lines.get_column("trailing_median_usd").sum()],
        "budget_variance": [total_cost / total_budget - 1 if total_budget else None],
        "anomalous": [bool(lines.get_column("anomalous").any())],
        "idle_candidate": [False],
        "anomalous_excess_usd": [lines.get_column("anomalous_excess_usd").sum()],
        "idle_spend_usd": [lines.get_column("idle_spend_usd").sum()],
    })  # fmt: skip
    table = pl.concat(
        [lines.with_columns(level=pl.lit("line")).select(total.columns), total],
        how="vertical_relaxed",
    )
    return table.with_columns(
        date=pl.lit(day),
        cost_per_active_account=pl.when(pl.col("level") == "total")
        .then(pl.col("cost_usd") / active_accounts if active_accounts else None),
        cost_per_1k_events=pl.when(pl.col("level") == "total")
        .then(pl.col("cost_usd") / events * 1000 if events else None),
        savings_identified_monthly_usd=pl.when(pl.col("level") == "total").then(identified),
        savings_realized_monthly_usd=pl.when(pl.col("level") == "total").then(realized),
        savings_realization_rate=pl.when(pl.col("level") == "total")
        .then(realized / identified if identified else None),
    ).select(
        "date", "level", "service", "vendor", "team", "cost_usd", "daily_budget_usd",
        "budget_variance", "trailing_median_usd", "anomalous", "anomalous_excess_usd",
        "idle_candidate", "idle_spend_usd", "cost_per_active_account", "cost_per_1k_events",
        "savings_identified_monthly_usd", "savings_realized_monthly_usd",
        "savings_realization_rate",
    )  # fmt: skip


def operational_efficiency(
    incidents: pl.DataFrame,
    tickets: pl.DataFrame,
    runs: pl.DataFrame,
    active_accounts: int,
    day: date,
    start_utc,
    end_utc,
) -> pl.DataFrame:
    """Incidents and time to resolve, support load and SLA, delivery health; one row per day.

    Inputs are the day's sources as of the end of the day; `start_utc`/`end_utc` bound the day
    (naive UTC, like the warehouse).
    """
    within = lambda c: pl.col(c).is_between(start_utc, end_utc, closed="left")  # noqa: E731
    inc_opened = incidents.filter(within("opened_at"))
    inc_resolved = incidents.filter(within("resolved_at"))
    t_opened = tickets.filter(within("opened_at"))
    t_resolved = tickets.filter(within("resolved_at"))
    t_first = tickets.filter(within("first_response_at"))
    deploys = runs.filter(pl.col("kind") == "deploy")
    finished = runs.filter(pl.col("status").is_in(["success", "failed"]))

    def share(frame: pl.DataFrame, ok: pl.Expr) -> float | None:
        return frame.select(ok.mean()).item() if frame.height else None

    def mean(frame: pl.DataFrame, col: str) -> float | None:
        return frame.get_column(col).mean() if frame.height else None

    row = {
        "date": day,
        "incidents_opened": inc_opened.height,
        "sev1_opened": inc_opened.filter(pl.col("severity") == "sev1").height,
        "incidents_resolved": inc_resolved.height,
        "mttr_hours": mean(
            inc_resolved.filter(pl.col("severity").is_in(["sev1", "sev2"])), "resolution_hours"),
        "open_incidents": incidents.filter(pl.col("resolved_at").is_null()).height,
        "tickets_opened": t_opened.height,
        "tickets_resolved": t_resolved.height,
        "ticket_backlog": tickets.filter(pl.col("resolved_at").is_null()).height,
        "first_responses": t_first.height,
        "first_response_sla_rate": share(
            t_first, pl.col("first_response_hours") <= pl.col("sla_first_response_hours")),
        "median_first_response_hours": t_first.get_column("first_response_hours").median()
        if t_first.height else None,
        "resolution_sla_rate": share(
            t_resolved, pl.col("resolution_hours") <= pl.col("sla_resolution_hours")),
        "deploys": deploys.height,
        "deploy_failures": deploys.filter(pl.col("status") == "failed").height,
        "pipeline_runs": runs.height - deploys.height,
        "pipeline_success_rate": share(finished, pl.col("status") == "success"),
        "active_accounts": active_accounts,
        "tickets_per_100_accounts": t_opened.height / active_accounts * 100
        if active_accounts else None,
    }  # fmt: skip
    return pl.DataFrame([row], schema=OPERATIONAL_SCHEMA)


OPERATIONAL_SCHEMA = {
    "date": pl.Date, "incidents_opened": pl.Int64, "sev1_opened": pl.Int64,
    "incidents_resolved": pl.Int64, "mttr_hours": pl.Float64, "open_incidents": pl.Int64,
    "tickets_opened": pl.Int64, "tickets_resolved": pl.Int64, "ticket_backlog": pl.Int64,
    "first_responses": pl.Int64, "first_response_sla_rate": pl.Float64,
    "median_first_response_hours": pl.Float64, "resolution_sla_rate": pl.Float64,
    "deploys": pl.Int64, "deploy_failures": pl.Int64, "pipeline_runs": pl.Int64,
    "pipeline_success_rate": pl.Float64, "active_accounts": pl.Int64,
    "tickets_per_100_accounts": pl.Float64,
}  # fmt: skip
