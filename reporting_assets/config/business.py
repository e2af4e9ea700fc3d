"""The business knobs: metrics and their targets, alert rules, quality gates, the scorecard,
analytics, recommendation rules and impact targets."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from reporting_assets.config.base import (
    EMAIL,
    Strict,
)
from reporting_assets.config.platform import RELATIVE_DAYS

# What an alert puts at stake, in dollars, measured on the alert's days: the failed payments,
# the spend above budget, or the MRR of the accounts at risk.
AtStake = Literal["failed_payments", "overspend", "mrr_at_risk"]


class Person(Strict):
    """Someone a report names: as an owner of an ask, a reviewer, a reader."""

    name: str
    role: str = ""


def _owner_address(v: str | None) -> str | None:
    if v is not None and not EMAIL.match(v):
        raise ValueError(f"'{v}' is not an email address (name the owner in `people`)")
    return v


class Metric(Strict):
    """A metric a report shows: how to read it, its target, and the range a valid value lies in."""

    label: str
    unit: Literal["usd", "ratio", "count", "hours", "minutes", "per_100_accounts", "usd_per_k"]
    direction: Literal["higher_is_better", "lower_is_better", "neutral"] = "neutral"
    description: str
    target: float | None = None
    # How far on the wrong side of its target the metric may be and still read "Watch" rather
    # than "Off track", in the metric's unit (per day for flows); default: 10 % of the target.
    tolerance: float | None = Field(None, ge=0)
    valid_range: tuple[float | None, float | None] = (None, None)
    # Compare with the same weekday in earlier weeks? Off for lumpy, event-driven metrics whose
    # normal days already swing widely (churn, incidents); alert rules watch those instead.
    history_check: bool = True

    @model_validator(mode="after")
    def _range_order(self) -> Metric:
        low, high = self.valid_range
        if low is not None and high is not None and low > high:
            raise ValueError(f"valid_range minimum {low} is above its maximum {high}")
        t = self.target
        if t is not None and ((low is not None and t < low) or (high is not None and t > high)):
            raise ValueError(f"target {t:g} lies outside its valid_range {list(self.valid_range)}")
        if t is not None and self.unit == "ratio" and not -1 <= t <= 1:
            raise ValueError(f"target {t:g} is not a share: write 95 % as 0.95")
        return self


class AlertRule(Strict):
    """A business rule that raises an alert when a metric crosses its thresholds."""

    name: str
    metric: str
    scope: str = "total"
    comparison: Literal["above", "below", "change_vs_previous", "deviation_from_baseline"]
    warning: float
    critical: float
    min_duration_days: int = Field(1, ge=1)
    description: str = ""
    # The ask a critical breach puts to its owner: what to do (imperative), by when (days after
    # the report), and the dollars the breach puts at stake.
    owner: str | None = None
    action: str | None = None
    respond_within_days: int = Field(1, ge=0, le=30)
    at_stake: AtStake | None = None
    runbook_url: str | None = None  # what the owner follows to act on it

    _owner = field_validator("owner")(_owner_address)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> AlertRule:
        # For "below" rules a lower value is worse, so the critical threshold must be the lower
        # one; every other comparison is "higher is worse".
        if self.comparison == "below":
            if self.critical > self.warning:
                raise ValueError(
                    f"rule '{self.name}' fires when the metric is below its thresholds, so "
                    f"critical ({self.critical}) must not be above warning ({self.warning})"
                )
        elif self.critical < self.warning:
            raise ValueError(
                f"rule '{self.name}' fires when the metric is {self.comparison.replace('_', ' ')}"
                f" its thresholds, so critical ({self.critical}) must not be below warning "
                f"({self.warning})"
            )
        return self


class Quality(Strict):
    """How strict the automated quality gates are."""

    history_weeks: int = Field(8, ge=2, le=52)
    history_z_threshold: float = Field(4.0, gt=0)
    history_severity: Literal["ERROR", "WARN"] = "WARN"
    # A metric this many robust deviations from its weekday baseline is not believable: it fails
    # the business-rules gate (ERROR, blocking) whatever history_severity says.
    history_hard_limit_z: float = Field(50.0, gt=0)
    min_volume_share: float = Field(0.6, gt=0, le=1)
    identity_tolerance_usd: float = Field(0.01, ge=0)


# The sections each kind of report can carry (summary, alerts and the quality appendix in all);
# a name outside these would make a report go out without it, so it is refused at load.
class Scorecard(Strict):
    """The weekly business scorecard: which KPIs count, how much, and the overall score's bands.

    Each KPI is rated by the metric layer's one rating rule (its target and tolerance band).
    """

    weights: dict[str, float] = Field(min_length=1)
    score_green_at: float = Field(80, ge=0, le=100)  # the overall score (0-100)
    score_amber_at: float = Field(60, ge=0, le=100)

    @model_validator(mode="after")
    def _bands(self) -> Scorecard:
        if self.score_amber_at > self.score_green_at:
            raise ValueError(f"score_amber_at ({self.score_amber_at}) must not be above "
                             f"score_green_at ({self.score_green_at})")  # fmt: skip
        bad = [k for k, w in self.weights.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be positive: {', '.join(bad)}")
        return self


class Analytics(Strict):
    """How the weekly and monthly analytics and models work."""

    trend_weeks: int = Field(8, ge=3, le=52)
    trend_significance: float = Field(0.05, gt=0, lt=1)
    history_months: int = Field(13, ge=2, le=36)
    forecast_months: int = Field(3, ge=1, le=12)
    forecast_interval: float = Field(0.8, gt=0, lt=1)
    backtest_origins: int = Field(4, ge=1, le=12)
    churn_horizon_days: int = Field(30, ge=7, le=120)
    churn_window_days: int = Field(28, ge=7, le=90)
    history_z_threshold: float = Field(4.0, gt=0)


class RecommendationRule(Strict):
    """A finding that turns into a recommendation, with the dollars it puts at stake."""

    name: str
    metric: str
    label: str
    comparison: Literal["below", "above"]
    threshold: float
    action: str
    impact_basis: str
    impact_label: str = "MRR at stake"
    impact_scale: Literal["gap", "full"] = "gap"
    owner: str | None = None  # who is asked to act on it (an address in `people`)

    _owner = field_validator("owner")(_owner_address)


IMPACT_METRICS = ("decision_speed", "revenue_protection", "cost_realization", "initiative_success")


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


class ImpactTargets(Strict):
    """The seed's business-impact targets, and the months before the system went live that the
    relative ones (decision speed, revenue protection) are measured against.

    The baseline is `baseline_months` whole months starting at `baseline_start`, by default
    the months just before the month of `go_live`; it must end before go-live, or it would
    measure the system against itself. Each metric reads On track at or beyond its target,
    Watch when short of it by no more than its tolerance, Off track further short.
    """

    # The day the reporting system went live: a date, or "N days ago" (the demo goes live on
    # its partitions' first day). Unset: no baseline, so the relative metrics are not rated.
    go_live: date | str | None = None
    baseline_start: date | None = None  # first month of the baseline (default: before go-live)
    baseline_months: int = Field(3, ge=1, le=12)
    decision_speed: float = 0.25  # 25 % fewer hours from delivery to decision than the baseline
    revenue_protection: float = 0.15  # 15 % more of the at-risk revenue recovered
    cost_realization: float = 0.20  # 20 % of identified savings realized
    initiative_success: float = 0.80  # 80 % of initiatives on time
    # How far short of its target a metric still reads Watch (in the target's unit); unset:
    # 10 % of the target, as for the KPIs.
    tolerance: dict[Literal[IMPACT_METRICS], float] = Field(default_factory=dict)

    @field_validator("go_live")
    @classmethod
    def _relative(cls, v):
        if isinstance(v, str) and not RELATIVE_DAYS.match(v):
            try:
                return date.fromisoformat(v.strip())
            except ValueError:
                raise ValueError(f"'{v}' is neither a date (YYYY-MM-DD) nor 'N days ago'") from None
        return v

    @field_validator("tolerance")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [f"{k} {x:g}" for k, x in v.items() if x < 0]
        if bad:
            raise ValueError(f"tolerances cannot be negative: {', '.join(bad)}")
        return v

    @model_validator(mode="after")
    def _baseline_before_go_live(self) -> ImpactTargets:
        if self.baseline_start is None:
            return self
        if self.go_live is None or isinstance(self.go_live, str):
            raise ValueError(
                "baseline_start needs go_live as a date (YYYY-MM-DD): the baseline must be "
                "measured before the system went live"
            )
        _, last = self.baseline(self.go_live)
        if last >= self.go_live:
            raise ValueError(
                f"baseline_start {self.baseline_start:%B %Y} with baseline_months "
                f"{self.baseline_months} ends on {last}, not before go_live ({self.go_live}): the "
                "baseline must lie before the system went live, or it measures the system "
                "against itself; move baseline_start earlier or shorten baseline_months"
            )
        return self

    def go_live_day(self, today: date) -> date | None:
        """The go-live day (an "N days ago" counted back from `today`)."""
        if isinstance(self.go_live, str):
            return today - timedelta(days=int(RELATIVE_DAYS.match(self.go_live).group(1)))
        return self.go_live

    def baseline(self, today: date) -> tuple[date, date] | None:
        """The baseline's first and last day (None without a go-live day)."""
        live = self.go_live_day(today)
        if live is None:
            return None
        first = self.baseline_start or _add_months(live.replace(day=1), -self.baseline_months)
        first = first.replace(day=1)
        return first, _add_months(first, self.baseline_months) - timedelta(days=1)
