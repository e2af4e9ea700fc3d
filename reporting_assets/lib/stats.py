"""Small statistics shared by the quality gates and the alert rules."""

from __future__ import annotations

import statistics

MIN_BASELINE_POINTS = 4  # fewer past values than this: no deviation is scored


def robust_z(value: float, baseline: list[float], floor: float = 0.0) -> float | None:
    """How many robust standard deviations `value` lies from the baseline's median.

    The spread is the scaled median absolute deviation; for metrics that are mostly zero (a
    MAD of 0) the ordinary standard deviation stands in, and `floor` (in the metric's unit) keeps
    a tiny spread from turning a trivial change into a huge score.
    """
    if len(baseline) < MIN_BASELINE_POINTS:
        return None
    median = statistics.median(baseline)
    mad = statistics.median(abs(b - median) for b in baseline)
    scale = max(1.4826 * mad, statistics.pstdev(baseline), 0.05 * abs(median), floor, 1e-9)
    return (value - median) / scale
