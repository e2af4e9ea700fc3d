"""The one rating rule: a metric's status against its target (scaled to the period) and the
words every format prints for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reporting_assets.metrics.layer import METRICS


def scale_target(key: str, target: float | None, days: int) -> float | None:
    """A daily target at the period's grain: flows (sums) scale with the number of days; levels
    and ratios keep their target."""
    if target is None:
        return None
    return target * days if METRICS[key].measure == "sum" else target


Status = Literal["green", "amber", "red", "grey"]
Direction = Literal["higher_is_better", "lower_is_better"]
# The words each status reads as, the same in every format.
STATUS_WORDS: dict[str, str] = {
    "green": "On track",
    "amber": "Watch",
    "red": "Off track",
    "grey": "Not rated",
}


@dataclass(frozen=True)
class Rating:
    """A metric's status against the target it was judged by, and why."""

    status: Status
    target: float | None
    reason: str

    @property
    def words(self) -> str:
        return STATUS_WORDS[self.status]


def rate(key: str, value: float | None, config, days: int = 1) -> Rating:
    """The one rating rule: on the right side of its target the metric is On track; on the
    wrong side by no more than its tolerance band, Watch; further, Off track. A metric without
    a target, or without a value, is Not rated, and the reason says which.

    `config` is the metric's config entry (target, tolerance, direction); `days` the period's
    length, which scales the target and band of flows (a daily net-new target of $500 is $3,500
    for a week).
    """
    target = scale_target(key, config.target, days)
    if target is None or config.direction == "neutral":
        return Rating("grey", None, "no target set")
    if value is None:
        return Rating("grey", target, METRICS[key].when_missing)
    band = scale_target(key, default_band(config.target, config.tolerance), days)
    return against_target(value, target, band, config.direction)


def default_band(target: float, tolerance: float | None) -> float:
    """The tolerance band below a target: the configured one, else 10 % of the target."""
    return tolerance if tolerance is not None else abs(target) * 0.1


def against_target(
    value: float, target: float, band: float, direction: Direction = "higher_is_better"
) -> Rating:
    """The rule itself, for any figure with a target: at or beyond the target (on its good
    side) On track; short of it by no more than `band`, Watch; further short, Off track."""
    shortfall = target - value if direction == "higher_is_better" else value - target
    if shortfall <= 1e-12:
        return Rating("green", target, "meets its target")
    if shortfall <= band + 1e-12:
        return Rating("amber", target, "short of its target, within its tolerance")
    return Rating("red", target, "short of its target by more than its tolerance")
