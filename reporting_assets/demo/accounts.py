"""The demo company's accounts: plans and prices, the rates of its business, the anomalies it
injects, and the account table the simulation updates day by day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

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
