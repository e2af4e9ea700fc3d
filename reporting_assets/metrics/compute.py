"""The daily account and revenue metrics, as plain functions from source frames to metric frames
(no Dagster here); the cost and operations metrics are in `operations.py`.

Each function takes one day's inputs (and, where a metric needs it, a trailing history) and
returns the metric table exactly as reports show it. The day's product events arrive already
reduced to what the metrics read (`event_aggregates`), whether DuckDB or PostHog reduced them.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from reporting_assets.lib.plans import PLANS, TOTAL
from reporting_assets.metrics.event_aggregates import REVENUE_EVENTS
from reporting_assets.metrics.layer import REVENUE, ratio_columns

# An account's usage "fell sharply" when its last 7 days hold less than this share of its weekly
# average over the 3 weeks before, and it was a real user before (at least MIN_WEEKLY events).
USAGE_DROP_SHARE = 0.4  # = 2 / 5, compared in whole numbers below
USAGE_DROP_MIN_WEEKLY = 10

# Every successful charge (a first charge, a renewal, a retry that recovered a failed payment)
# is one `purchase_completed`; a failed charge is one `payment_failed`. Together: the attempts.
SUCCESSFUL_CHARGE = "purchase_completed"
# What revenue protection reads of each revenue event.
MONEY_COLUMNS = [
    "event",
    "account_id",
    "plan",
    "amount_minor",
    "mrr",
    "previous_mrr",
    "reason",
    "reactivation",
]
AT_RISK_SCHEMA = {"account_id": pl.String, "plan": pl.String, "mrr_at_risk": pl.Float64,
                  "reason": pl.String}  # fmt: skip
AT_RISK_REASONS = {"failed_payment_amount": "payment failed", "churned": "cancelled",
                   "contraction": "downgraded", "usage_drop": "usage fell sharply"}  # fmt: skip


def account_activity(activity: pl.DataFrame, day: date) -> pl.DataFrame:
    """Product activity per account for the day: events, active users, page views, features.

    `activity` is the day's per-account aggregate (`event_aggregates`, `.activity()`).
    """
    return (
        activity.filter(pl.col("account_id").is_not_null())
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
    )


NO_DROPS = pl.DataFrame(
    schema={"account_id": pl.String, "recent": pl.Float64, "weekly_before": pl.Float64}
)


def usage_drops(activity_history: pl.DataFrame, day: date) -> pl.DataFrame:
    """Accounts whose usage in the 7 days to `day` fell sharply against the 3 weeks before.

    `activity_history` holds account_activity rows for the 28 days ending on `day`. Usage is
    compared per day of data: a day missing from the window (never loaded, or blocked by its
    quality gate) lowers neither side, so it cannot fake a drop; the asset names such days.
    """
    recent_start = date.fromordinal(day.toordinal() - 6)
    window_start = date.fromordinal(day.toordinal() - 27)
    window = activity_history.filter(pl.col("date").is_between(window_start, day))
    dates = set(window.get_column("date").unique().to_list())
    recent_days = sum(d >= recent_start for d in dates)
    before_days = len(dates) - recent_days
    if not recent_days or not before_days:
        return NO_DROPS
    per_account = window.group_by("account_id").agg(
        recent=pl.col("events").filter(pl.col("date") >= recent_start).sum(),
        before=pl.col("events").filter(pl.col("date") < recent_start).sum(),
    )
    recent, before = pl.col("recent"), pl.col("before")
    # Weekly rates per day of data, compared in whole numbers so a tie is never a drop:
    # before / b · 7 ≥ 10 and recent / r < 0.4 · before / b.
    return per_account.filter(
        (before * 7 >= USAGE_DROP_MIN_WEEKLY * before_days)
        & (recent * 5 * before_days < before * 2 * recent_days)
    ).select(
        "account_id",
        (recent / recent_days * 7).cast(pl.Float64).alias("recent"),
        (before / before_days * 7).cast(pl.Float64).alias("weekly_before"),
    )


def _by_plan(frame: pl.DataFrame, plan_col: str, **aggs: pl.Expr) -> pl.DataFrame:
    return frame.group_by(pl.col(plan_col).alias("plan")).agg(**aggs)


def accounts_at_risk(
    money_events: pl.DataFrame, accounts: pl.DataFrame, drops: pl.DataFrame
) -> pl.DataFrame:
    """Each account whose revenue is at risk on the day, once, with its largest at-risk amount
    and the reason for it: a failed payment (its amount), a cancellation (the MRR lost), a
    downgrade (the MRR lost) or a sharp drop in usage (its whole MRR, if it still pays).

    `money_events` are the day's revenue events with `amount_usd`; `accounts` the snapshot (the
    account's plan at the end of the day attributes it to a plan); `drops` the usage drops.
    """
    is_ = pl.col("event").eq
    amounts = money_events.filter(pl.col("account_id").is_not_null()).group_by("account_id").agg(
        failed_payment_amount=pl.col("amount_usd").filter(is_("payment_failed")).sum(),
        churned=pl.col("previous_mrr").filter(is_("subscription_cancelled")).sum(),
        contraction=(pl.col("previous_mrr") - pl.col("mrr"))
        .filter(is_("subscription_downgraded")).sum(),
    )  # fmt: skip
    dropping = (
        accounts.join(drops.select("account_id"), on="account_id")
        .filter(pl.col("mrr") > 0)
        .select("account_id", usage_drop=pl.col("mrr"))
    )
    reasons = list(AT_RISK_REASONS)
    long = (
        amounts.join(dropping, on="account_id", how="full", coalesce=True)
        .unpivot(index="account_id", on=reasons, variable_name="reason", value_name="amount")
        .filter(pl.col("amount").fill_null(0) > 0)
    )
    # Ties go to the reason listed first (a failed payment before a cancellation, and so on).
    order = pl.col("reason").replace_strict({r: i for i, r in enumerate(reasons)})
    worst = (
        long.sort(["account_id", "amount", order], descending=[False, True, False])
        .group_by("account_id", maintain_order=True)
        .first()
    )
    return (
        worst.join(accounts.select("account_id", "plan"), on="account_id", how="left")
        .select(
            "account_id",
            pl.col("plan").fill_null("unknown"),
            pl.col("amount").cast(pl.Float64).alias("mrr_at_risk"),
            pl.col("reason").replace_strict(AT_RISK_REASONS),
        )
        .cast(AT_RISK_SCHEMA)
        .sort("mrr_at_risk", "account_id", descending=[True, False])
    )


def plan_transfers(accounts: pl.DataFrame) -> pl.DataFrame:
    """MRR that moved between plans during the day: an account that changed plan takes its
    opening MRR out of its old plan and into its new one (its expansion or contraction is
    counted on the new plan, where its events say it happened). Sums to zero over the plans."""
    moved = accounts.filter(
        pl.col("opening_plan").is_not_null()
        & (pl.col("opening_plan") != pl.col("plan"))
        & (pl.col("opening_mrr") > 0)
    )
    return pl.concat([
        moved.select(plan=pl.col("plan"), plan_transfer_mrr=pl.col("opening_mrr")),
        moved.select(plan=pl.col("opening_plan"), plan_transfer_mrr=-pl.col("opening_mrr")),
    ]).group_by("plan").agg(pl.col("plan_transfer_mrr").sum())  # fmt: skip


def revenue_protection(
    revenue_events: pl.DataFrame,
    events_by_plan: pl.DataFrame,
    accounts: pl.DataFrame,
    drops: pl.DataFrame,
    day: date,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """MRR movements, revenue at risk and recovered, and payment health, by plan and in total;
    and the accounts at risk, each once with its reason.

    `revenue_events` are the day's typed revenue events and `events_by_plan` the day's event
    counts by plan (`event_aggregates`), `accounts` the account snapshot (opening and closing
    state), `drops` the accounts whose usage fell sharply. For every plan,
    opening + new + reactivation + expansion − contraction − churned + transfers = closing.
    """
    money = revenue_events.filter(pl.col("event").is_in(REVENUE_EVENTS)).select(MONEY_COLUMNS)
    received = events_by_plan.select("plan", "events_received")
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
        payments_succeeded=is_(SUCCESSFUL_CHARGE).sum(),
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
    at_risk = accounts_at_risk(ev, accounts, drops)
    at_risk_by_plan = _by_plan(
        at_risk, "plan",
        mrr_at_risk=pl.col("mrr_at_risk").sum(), accounts_at_risk=pl.len(),
        usage_drop_accounts=(pl.col("reason") == AT_RISK_REASONS["usage_drop"]).sum(),
        usage_drop_mrr=pl.col("mrr_at_risk").filter(
            pl.col("reason") == AT_RISK_REASONS["usage_drop"]).sum(),
    )  # fmt: skip
    plans = pl.DataFrame({"plan": list(PLANS)})
    per_plan = (
        plans.join(opening, on="plan", how="left")
        .join(closing, on="plan", how="left")
        .join(movements, on="plan", how="left")
        .join(plan_transfers(accounts), on="plan", how="left")
        .join(at_risk_by_plan, on="plan", how="left")
        .fill_null(0)
    )
    additive = [c for c in per_plan.columns if c != "plan"]
    total = per_plan.select(pl.lit(TOTAL).alias("plan"), *[pl.col(c).sum() for c in additive])
    # Events without a plan (anonymous visitors) count in the total only.
    total = total.with_columns(events_received=pl.lit(received.get_column("events_received").sum()))
    table = pl.concat([per_plan, total], how="vertical_relaxed").cast(
        {c: pl.Float64 if c.endswith(("mrr", "amount")) or c == "mrr_at_risk" else pl.Int64
         for c in additive}
    ).with_columns(
        date=pl.lit(day),
        net_new_mrr=pl.col("new_mrr") + pl.col("reactivation_mrr") + pl.col("expansion_mrr")
        - pl.col("contraction_mrr") - pl.col("churned_mrr"),
        revenue_recovered=pl.col("recovered_amount") + pl.col("reactivation_mrr"),
        payment_attempts=pl.col("payments_succeeded") + pl.col("payments_failed"),
        failed_payments_settled=pl.col("payments_recovered") + pl.col("dunning_cancellations"),
    )  # fmt: skip
    table = table.with_columns(**ratio_columns(REVENUE)).select(
        "date", "plan", "opening_mrr", "new_mrr", "reactivation_mrr", "expansion_mrr",
        "contraction_mrr", "churned_mrr", "net_new_mrr", "plan_transfer_mrr", "closing_mrr",
        "paying_accounts", "mrr_at_risk", "accounts_at_risk", "failed_payment_amount",
        "usage_drop_accounts", "usage_drop_mrr", "revenue_recovered", "recovered_amount",
        "payments_succeeded", "payments_failed", "payment_attempts", "payment_failure_rate",
        "payments_recovered", "dunning_cancellations", "failed_payments_settled",
        "payment_recovery_rate", "events_received",
    )  # fmt: skip
    return table, at_risk
