"""The demo company's business simulation: accounts, subscriptions, billing and product usage.

Northwind Cloud sells a per-seat B2B SaaS product on four plans. The simulation walks day by day
through the report time zone's calendar; each day draws from its own seeded random stream, so a
day's data depends only on the seed and the days before it. Known anomalies are injected on the
dates listed in the manifest so that checks and alerts have something true to find.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from reporting_assets.demo.accounts import (
    BASE_PAYMENT_FAILURE,
    DAILY_RECOVERY,
    DISENGAGED_CHURN,
    DOWNGRADE_RATE,
    DUNNING_DAYS,
    SEAT_RANGE,
    STATUS_ACTIVE,
    STATUS_CHURNED,
    STATUS_NAMES,
    STATUS_PAST_DUE,
    STATUS_TRIAL,
    STATUS_TRIAL_LOST,
    TRIAL_CONVERSION,
    TRIAL_DAYS,
    UPGRADE_RATE,
    VOLUNTARY_CHURN,
    WEEKDAY_FACTOR,
    WINBACK_RATE,
    Accounts,
    Anomaly,
    _daily_rng,
    account_id,
)
from reporting_assets.demo.events import CHUNK_EVENTS, lifecycle_frame, usage_events
from reporting_assets.lib.days import day_bounds_utc
from reporting_assets.lib.plans import PLANS


@dataclass
class DayOutput:
    """What one simulated day produced: product events, and account history changes."""

    events: pl.DataFrame
    history_changes: list[tuple[int, date]]


class CompanySimulation:
    """Steps the demo company forward one report-timezone day at a time."""

    def __init__(
        self,
        seed: int,
        start: date,
        starting_accounts: int,
        tz: ZoneInfo,
        events_per_day: int,
        anomalies: list[Anomaly],
    ):
        self.seed = seed
        self.tz = tz
        self.start = start
        self.events_per_day = events_per_day
        self.anomalies = {a.date: a.kind for a in anomalies}
        self.accounts = Accounts()
        self.history: list[tuple[int, date, int, int, int, float]] = []
        rng = _daily_rng(seed, start, 99)
        for _ in range(starting_accounts):
            idx = self.accounts.add(
                rng, start - timedelta(days=int(rng.integers(30, 900))), STATUS_ACTIVE
            )
            self.accounts.billing_day[idx] = int(rng.integers(1, 29))
            self._record(idx, start)

    def _record(self, idx: int, day: date) -> None:
        a = self.accounts
        status = a.status[idx]
        mrr = a.mrr(idx) if status in (STATUS_ACTIVE, STATUS_PAST_DUE) else 0.0
        self.history.append((idx, day, a.plan[idx], a.seats[idx], status, mrr))

    # -- one day ----------------------------------------------------------------------------
    def step(self, day: date, chunk_events: int = CHUNK_EVENTS) -> Iterator[pl.DataFrame]:
        """Simulate `day`; return its product events (PostHog export columns) in frames of at
        most `chunk_events` events, in no particular order.

        The accounts change when this is called; the usage events are built as the frames are
        read, so read them all before the next day.
        """
        rng = _daily_rng(self.seed, day, 1)
        a = self.accounts
        anomaly = self.anomalies.get(day)
        t = (day - self.start).days
        growth = 1.0 + 0.0009 * t
        weekday = WEEKDAY_FACTOR[day.weekday()]
        lifecycle: list[dict] = []

        def emit(idx: int, event: str, **props: object) -> None:
            props = {"account_id": account_id(idx), "plan": PLANS[a.plan[idx]], **props}
            lifecycle.append({"idx": idx, "event": event, "properties": props})

        # New trials arrive.
        for _ in range(int(rng.poisson(2.6 * growth * weekday))):
            idx = a.add(rng, day, STATUS_TRIAL)
            emit(idx, "trial_started", seats=a.seats[idx])
            self._record(idx, day)

        failure_rate = 0.45 if anomaly == "payment_failure_spike" else BASE_PAYMENT_FAILURE
        for idx in range(len(a.status)):
            status = a.status[idx]
            if status == STATUS_TRIAL and (day - a.trial_start[idx]).days >= TRIAL_DAYS:
                if rng.random() < TRIAL_CONVERSION:
                    a.status[idx] = STATUS_ACTIVE
                    a.billing_day[idx] = min(day.day, 28)
                    mrr = a.mrr(idx)
                    emit(idx, "trial_converted", seats=a.seats[idx])
                    emit(
                        idx,
                        "subscription_created",
                        mrr=mrr,
                        seats=a.seats[idx],
                        subscription_id=f"sub_{idx:05d}",
                    )
                    emit(
                        idx,
                        "purchase_completed",
                        revenue=round(mrr * 100),
                        currency="USD",
                        product=PLANS[a.plan[idx]],
                        subscription_id=f"sub_{idx:05d}",
                    )
                else:
                    a.status[idx] = STATUS_TRIAL_LOST
                self._record(idx, day)
            elif status == STATUS_ACTIVE:
                churn = DISENGAGED_CHURN if a.engagement[idx] < 0.35 else VOLUNTARY_CHURN
                roll = rng.random()
                if roll < churn:
                    mrr = a.mrr(idx)
                    a.status[idx] = STATUS_CHURNED
                    emit(
                        idx,
                        "subscription_cancelled",
                        mrr=0.0,
                        previous_mrr=mrr,
                        reason="voluntary",
                        subscription_id=f"sub_{idx:05d}",
                    )
                    self._record(idx, day)
                    continue
                if roll < churn + UPGRADE_RATE * a.engagement[idx]:
                    before = a.mrr(idx)
                    if a.plan[idx] < 3 and rng.random() < 0.3:
                        a.plan[idx] += 1
                    else:
                        a.seats[idx] += max(1, int(a.seats[idx] * rng.uniform(0.1, 0.4)))
                    emit(
                        idx,
                        "subscription_upgraded",
                        mrr=a.mrr(idx),
                        previous_mrr=before,
                        seats=a.seats[idx],
                        subscription_id=f"sub_{idx:05d}",
                    )
                    self._record(idx, day)
                elif roll < churn + UPGRADE_RATE * a.engagement[idx] + DOWNGRADE_RATE:
                    before = a.mrr(idx)
                    a.seats[idx] = max(
                        SEAT_RANGE[0][0], a.seats[idx] - max(1, int(a.seats[idx] * 0.25))
                    )
                    emit(
                        idx,
                        "subscription_downgraded",
                        mrr=a.mrr(idx),
                        previous_mrr=before,
                        seats=a.seats[idx],
                        subscription_id=f"sub_{idx:05d}",
                    )
                    self._record(idx, day)
                if a.billing_day[idx] == day.day and a.created[idx] < day:
                    amount = round(a.mrr(idx) * 100)
                    if rng.random() < failure_rate:
                        a.status[idx] = STATUS_PAST_DUE
                        a.past_due_since[idx] = day
                        emit(
                            idx,
                            "payment_failed",
                            amount=amount,
                            currency="USD",
                            failure_reason=str(
                                rng.choice(["card_declined", "insufficient_funds", "expired_card"])
                            ),
                        )
                        self._record(idx, day)
                    else:
                        emit(
                            idx,
                            "subscription_renewed",
                            mrr=a.mrr(idx),
                            subscription_id=f"sub_{idx:05d}",
                        )
                        emit(
                            idx,
                            "purchase_completed",
                            revenue=amount,
                            currency="USD",
                            product=PLANS[a.plan[idx]],
                            subscription_id=f"sub_{idx:05d}",
                        )
                # Engagement drifts; now and then an account disengages sharply.
                if rng.random() < 0.002:
                    a.engagement[idx] = float(rng.uniform(0.05, 0.3))
                elif rng.random() < 0.01:
                    a.engagement[idx] = float(
                        np.clip(a.engagement[idx] * rng.uniform(0.9, 1.2), 0.05, 1.6)
                    )
            elif status == STATUS_PAST_DUE:
                since = a.past_due_since[idx]
                if rng.random() < DAILY_RECOVERY:
                    a.status[idx] = STATUS_ACTIVE
                    a.past_due_since[idx] = None
                    amount = round(a.mrr(idx) * 100)
                    emit(idx, "payment_recovered", amount=amount, currency="USD")
                    emit(
                        idx,
                        "purchase_completed",
                        revenue=amount,
                        currency="USD",
                        product=PLANS[a.plan[idx]],
                        subscription_id=f"sub_{idx:05d}",
                    )
                    self._record(idx, day)
                elif since is not None and (day - since).days >= DUNNING_DAYS:
                    mrr = a.mrr(idx)
                    a.status[idx] = STATUS_CHURNED
                    emit(
                        idx,
                        "subscription_cancelled",
                        mrr=0.0,
                        previous_mrr=mrr,
                        reason="payment_failed",
                        subscription_id=f"sub_{idx:05d}",
                    )
                    self._record(idx, day)
            elif status == STATUS_CHURNED and rng.random() < WINBACK_RATE:
                a.status[idx] = STATUS_ACTIVE
                a.engagement[idx] = float(rng.uniform(0.6, 1.2))
                a.billing_day[idx] = min(day.day, 28)
                emit(
                    idx,
                    "subscription_created",
                    mrr=a.mrr(idx),
                    seats=a.seats[idx],
                    reactivation=True,
                    subscription_id=f"sub_{idx:05d}",
                )
                self._record(idx, day)

        usage = usage_events(
            rng,
            day,
            self.tz,
            self.accounts,
            self.events_per_day,
            growth * weekday,
            len(lifecycle),
            chunk_events,
        )
        life = lifecycle_frame(rng, day, self.tz, lifecycle)
        outage = None
        if anomaly == "tracking_outage":
            start_utc, _ = day_bounds_utc(day, self.tz)
            outage = (start_utc + timedelta(hours=9), start_utc + timedelta(hours=15))
        return _captured(itertools.chain([life], usage), outage)

    # -- account tables ---------------------------------------------------------------------
    def account_tables(self, end: date) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The accounts dimension and the account history (one row per state, valid_from/to)."""
        a = self.accounts
        accounts = pl.DataFrame(
            {
                "account_id": [account_id(i) for i in range(len(a.plan))],
                "account_name": a.names,
                "industry": a.industry,
                "region": a.region,
                "created_date": a.created,
            }
        )
        hist = pl.DataFrame(
            self.history,
            schema={
                "idx": pl.Int64,
                "valid_from": pl.Date,
                "plan": pl.Int64,
                "seats": pl.Int64,
                "status": pl.Int64,
                "mrr": pl.Float64,
            },
            orient="row",
        )
        # The last state recorded for an account on a day wins; it lasts until the next one.
        hist = (
            hist.with_row_index("seq")
            .sort("idx", "valid_from", "seq")
            .unique(["idx", "valid_from"], keep="last", maintain_order=True)
            .with_columns(valid_to=pl.col("valid_from").shift(-1).over("idx"))
            .select(
                pl.format("acct_{}", pl.col("idx").cast(pl.String).str.zfill(5)).alias(
                    "account_id"
                ),
                pl.col("plan").replace_strict(dict(enumerate(PLANS)), return_dtype=pl.String),
                pl.col("status").replace_strict(STATUS_NAMES, return_dtype=pl.String),
                "seats",
                "mrr",
                "valid_from",
                "valid_to",
            )
        )
        return accounts, hist


def _captured(
    frames: Iterable[pl.DataFrame], outage: tuple[datetime, datetime] | None
) -> Iterator[pl.DataFrame]:
    """The events PostHog captured: none inside a tracking outage."""
    for events in frames:
        if outage:
            lo, hi = outage
            events = events.filter((pl.col("timestamp") < lo) | (pl.col("timestamp") >= hi))
        yield events
