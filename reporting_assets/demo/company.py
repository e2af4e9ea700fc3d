"""The demo company's business simulation: accounts, subscriptions, billing and product usage.

Northwind Cloud sells a per-seat B2B SaaS product on four plans. The simulation walks day by day
through the report time zone's calendar; each day draws from its own seeded random stream, so a
day's data depends only on the seed and the days before it. Known anomalies are injected on the
dates listed in the manifest so that checks and alerts have something true to find.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from reporting_assets.lib.days import day_bounds_utc
from reporting_assets.lib.plans import PLANS

PRICE_PER_SEAT = np.array([15.0, 35.0, 60.0, 90.0])
SEAT_RANGE = ((3, 10), (8, 40), (30, 120), (100, 400))
PLAN_MIX = np.array([0.45, 0.33, 0.16, 0.06])
TRIAL_DAYS = 14
TRIAL_CONVERSION = 0.32
DUNNING_DAYS = 14
DAILY_RECOVERY = 0.16
BASE_PAYMENT_FAILURE = 0.035
VOLUNTARY_CHURN = 0.0005
DISENGAGED_CHURN = 0.006
UPGRADE_RATE = 0.0025
DOWNGRADE_RATE = 0.001
WINBACK_RATE = 0.0008
# Share of each weekday's activity (Mon..Sun): a B2B product is quiet at weekends.
WEEKDAY_FACTOR = np.array([1.12, 1.15, 1.14, 1.10, 1.00, 0.52, 0.47])
FEATURES = ("dashboards", "alerts", "exports", "integrations", "api", "sso", "automations")
PAGES = ("/home", "/dashboards", "/reports", "/settings", "/billing", "/integrations", "/alerts")
INDUSTRIES = ("Retail", "Fintech", "Healthcare", "Logistics", "Media", "Manufacturing", "Education")
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
NAME_A = (
    "Blue",
    "Granite",
    "Silver",
    "Harbor",
    "Summit",
    "Cedar",
    "Pioneer",
    "Atlas",
    "Nova",
    "Beacon",
    "Crescent",
    "Orchid",
    "Falcon",
    "Maple",
    "Quartz",
    "Vertex",
    "Willow",
    "Zenith",
)
NAME_B = (
    "Labs",
    "Logistics",
    "Health",
    "Retail",
    "Systems",
    "Partners",
    "Analytics",
    "Foods",
    "Media",
    "Finance",
    "Robotics",
    "Energy",
    "Works",
    "Studio",
    "Networks",
    "Supply",
)

STATUS_TRIAL, STATUS_ACTIVE, STATUS_PAST_DUE, STATUS_CHURNED, STATUS_TRIAL_LOST = range(5)
STATUS_NAMES = {0: "trial", 1: "active", 2: "past_due", 3: "churned", 4: "trial_expired"}

ANOMALY_KINDS = {
    # kind: (days before the last day, what a check or alert should find)
    "payment_failure_spike": (1, "payment failure rate several times its usual level"),
    "cost_spike": (9, "compute spend of the data team about 3.5x its usual level"),
    "incident_surge": (16, "seven production incidents opened in one day, two of them sev1"),
    "tracking_outage": (40, "no product events captured between 09:00 and 15:00 New York time"),
}
CONTROL_DAY_OFFSET = 5


@dataclass(frozen=True)
class Anomaly:
    kind: str
    date: date
    expectation: str


def plan_anomalies(end: date, start: date) -> tuple[list[Anomaly], date | None]:
    """Anomaly dates, counted back from the last day, and a clean control day."""
    found = [
        Anomaly(kind, end - timedelta(days=back), expectation)
        for kind, (back, expectation) in ANOMALY_KINDS.items()
        if end - timedelta(days=back) >= start + timedelta(days=56)
    ]
    control = end - timedelta(days=CONTROL_DAY_OFFSET)
    return found, (control if control >= start + timedelta(days=56) else None)


def _daily_rng(seed: int, day: date, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, day.toordinal(), stream])


@dataclass
class Accounts:
    """The state of every account ever created, as parallel arrays indexed by account number."""

    plan: list[int] = field(default_factory=list)
    seats: list[int] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    created: list[date] = field(default_factory=list)
    trial_start: list[date] = field(default_factory=list)
    billing_day: list[int] = field(default_factory=list)
    past_due_since: list[date | None] = field(default_factory=list)
    engagement: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    industry: list[str] = field(default_factory=list)
    region: list[str] = field(default_factory=list)

    def add(self, rng: np.random.Generator, day: date, status: int) -> int:
        idx = len(self.plan)
        plan = int(rng.choice(4, p=PLAN_MIX))
        low, high = SEAT_RANGE[plan]
        self.plan.append(plan)
        self.seats.append(int(rng.integers(low, high + 1)))
        self.status.append(status)
        self.created.append(day)
        self.trial_start.append(day)
        self.billing_day.append(min(day.day, 28))
        self.past_due_since.append(None)
        self.engagement.append(float(rng.uniform(0.6, 1.4)))
        self.names.append(
            f"{NAME_A[rng.integers(len(NAME_A))]} {NAME_B[rng.integers(len(NAME_B))]} {idx:04d}"
        )
        self.industry.append(INDUSTRIES[int(rng.integers(len(INDUSTRIES)))])
        self.region.append(REGIONS[int(rng.integers(len(REGIONS)))])
        return idx

    def mrr(self, idx: int) -> float:
        return float(self.seats[idx] * PRICE_PER_SEAT[self.plan[idx]])


def account_id(idx: int) -> str:
    return f"acct_{idx:05d}"


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
    def step(self, day: date) -> pl.DataFrame:
        """Simulate `day` and return its product events (PostHog export columns)."""
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

        usage = self._usage_events(rng, day, growth * weekday, len(lifecycle))
        life = self._lifecycle_frame(rng, day, lifecycle)
        events = pl.concat([life, usage], how="vertical")
        if anomaly == "tracking_outage":
            start_utc, _ = day_bounds_utc(day, self.tz)
            lo, hi = start_utc + timedelta(hours=9), start_utc + timedelta(hours=15)
            events = events.filter((pl.col("timestamp") < lo) | (pl.col("timestamp") >= hi))
        return events.sort("timestamp", "uuid")

    # -- events -----------------------------------------------------------------------------
    def _timestamps(self, rng: np.random.Generator, day: date, n: int) -> np.ndarray:
        """Event instants inside the local day, busiest in office hours (µs since epoch, UTC)."""
        start, end = day_bounds_utc(day, self.tz)
        length_us = int((end - start).total_seconds() * 1_000_000)
        # A mixture: 80 % around office hours (13:00 ± 3.5 h local), 20 % spread over the day.
        office = rng.normal(13 / 24, 3.5 / 24, n)
        spread = rng.random(n)
        frac = np.where(rng.random(n) < 0.8, office, spread)
        frac = np.mod(frac, 1.0)
        offsets = np.minimum((frac * length_us).astype(np.int64), length_us - 1)
        return int(start.timestamp() * 1_000_000) + offsets

    def _uuids(self, rng: np.random.Generator, ts_us: np.ndarray) -> list[str]:
        """Time-ordered UUIDv7-style identifiers, as PostHog assigns them."""
        ms = ts_us // 1000
        rand_a = rng.integers(0, 1 << 12, len(ts_us))
        rand_b = rng.integers(0, 1 << 62, len(ts_us), dtype=np.int64)
        hi = (ms.astype(np.uint64) << np.uint64(16)) | np.uint64(0x7000) | rand_a.astype(np.uint64)
        lo = np.uint64(0x8000000000000000) | rand_b.astype(np.uint64)
        h = np.char.mod("%016x", hi)
        lw = np.char.mod("%016x", lo)
        return [f"{x[:8]}-{x[8:12]}-{x[12:16]}-{y[:4]}-{y[4:]}" for x, y in zip(h, lw, strict=True)]

    def _frame(
        self,
        rng: np.random.Generator,
        day: date,
        account_idx: np.ndarray,
        user_no: np.ndarray,
        event: list[str] | np.ndarray,
        properties: pl.Series,
    ) -> pl.DataFrame:
        n = len(account_idx)
        ts = self._timestamps(rng, day, n)
        ingest_lag = rng.integers(200_000, 5_000_000, n)
        accounts = pl.Series("a", account_idx, dtype=pl.Int64)
        distinct = pl.format(
            "u_{}_{}", accounts.cast(pl.String).str.zfill(5), pl.Series(user_no).cast(pl.String)
        )
        frame = pl.DataFrame(
            {
                "uuid": pl.Series(self._uuids(rng, ts), dtype=pl.String),
                "event": pl.Series(event, dtype=pl.String),
                "timestamp_us": ts,
                "ingest_us": ts + ingest_lag,
                "acct": accounts,
                "properties": properties,
            }
        ).with_columns(
            distinct_id=distinct,
            person_id=pl.format(
                "p_{}_{}", accounts.cast(pl.String).str.zfill(5), pl.Series(user_no).cast(pl.String)
            ),
        )
        return frame.select(
            "uuid",
            "event",
            "distinct_id",
            "person_id",
            "properties",
            pl.format(
                '{{"account_id":"acct_{}"}}', pl.col("acct").cast(pl.String).str.zfill(5)
            ).alias("person_properties"),
            pl.lit("").alias("elements_chain"),
            pl.from_epoch("timestamp_us", time_unit="us")
            .dt.replace_time_zone("UTC")
            .alias("timestamp"),
            pl.from_epoch("ingest_us", time_unit="us")
            .dt.replace_time_zone("UTC")
            .alias("created_at"),
            pl.from_epoch("ingest_us", time_unit="us")
            .dt.replace_time_zone("UTC")
            .alias("_inserted_at"),
        )

    def _lifecycle_frame(
        self, rng: np.random.Generator, day: date, lifecycle: list[dict]
    ) -> pl.DataFrame:
        idx = np.array([e["idx"] for e in lifecycle], dtype=np.int64)
        props = pl.Series(
            "properties",
            [
                json.dumps({**e["properties"], "$lib": "posthog-node"}, separators=(",", ":"))
                for e in lifecycle
            ],
            dtype=pl.String,
        )
        return self._frame(
            rng,
            day,
            idx,
            np.zeros(len(idx), dtype=np.int64),
            [e["event"] for e in lifecycle],
            props,
        )

    def _usage_events(
        self, rng: np.random.Generator, day: date, activity: float, already: int
    ) -> pl.DataFrame:
        a = self.accounts
        status = np.array(a.status)
        live = np.flatnonzero(np.isin(status, (STATUS_TRIAL, STATUS_ACTIVE, STATUS_PAST_DUE)))
        n = max(0, int(self.events_per_day * activity / 1.06 * rng.uniform(0.97, 1.03)) - already)
        if n == 0 or len(live) == 0:
            return self._frame(
                rng,
                day,
                np.zeros(0, dtype=np.int64),
                np.zeros(0, np.int64),
                [],
                pl.Series("properties", [], dtype=pl.String),
            )
        weight = np.array(a.seats)[live] ** 0.7 * np.array(a.engagement)[live]
        chosen = live[rng.choice(len(live), n, p=weight / weight.sum())]
        seats = np.array(a.seats)[chosen]
        user_no = (rng.random(n) * np.minimum(seats, 50)).astype(np.int64)
        kind = rng.random(n)
        event = np.where(
            kind < 0.62, "$pageview", np.where(kind < 0.93, "feature_used", "$pageleave")
        )
        plan = np.array(PLANS)[np.array(a.plan)[chosen]]
        page = np.array(PAGES)[rng.integers(0, len(PAGES), n)]
        feature = np.array(FEATURES)[rng.integers(0, len(FEATURES), n)]
        acct = pl.Series(chosen).cast(pl.String).str.zfill(5)
        props = (
            pl.DataFrame(
                {"event": event, "plan": plan, "page": page, "feature": feature, "acct": acct}
            )
            .select(
                pl.when(pl.col("event") == "feature_used")
                .then(
                    pl.format(
                        '{{"account_id":"acct_{}","plan":"{}","feature":"{}","$lib":"web"}}',
                        "acct",
                        "plan",
                        "feature",
                    )
                )
                .otherwise(
                    pl.format(
                        '{{"account_id":"acct_{}","plan":"{}","$current_url":'
                        '"https://app.northwind.example{}","$pathname":"{}","$lib":"web"}}',
                        "acct",
                        "plan",
                        "page",
                        "page",
                    )
                )
                .alias("properties")
            )
            .to_series()
        )
        return self._frame(rng, day, chosen, user_no, event, props)

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
