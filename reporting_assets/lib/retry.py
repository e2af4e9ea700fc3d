"""One retry policy for every client that talks to another service (the PostHog Query API, the
chat webhooks, the SMTP relay), built on tenacity.

* A transient failure is raised as `RetryLater`, with the server's ``Retry-After`` when it gave
  one (`retry_after` reads both of its forms: delta-seconds and an HTTP date).
* Waits follow the server's ``Retry-After``, else exponential backoff with equal jitter
  (`backoff`: between half and all of ``base * 2**(n-1)``, capped).
* The policy stops after `max_attempts` tries, or as soon as the next wait would take the waits
  over `budget_s`; the last `RetryLater` is raised for the caller to record.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable

import tenacity

__all__ = ["RetryLater", "backoff", "gave_up", "over_budget", "policy", "retry_after"]


class RetryLater(Exception):
    """A failure worth trying again (429, 5xx, a timeout, a dropped connection)."""

    def __init__(self, problem: str, *, retry_after: float | None = None, status=None):
        super().__init__(problem)
        self.retry_after = retry_after
        self.status = status


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3);
    None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def backoff(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """The wait after the `attempt`-th failure: between half and all of ``base * 2**(n-1)``."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class _ServerOrBackoff(tenacity.wait.wait_base):
    def __init__(self, base: float, cap: float):
        self.base, self.cap = base, cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, RetryLater) and error.retry_after is not None:
            return error.retry_after
        return backoff(retry_state.attempt_number, self.base, self.cap)


class _AttemptsOrBudget(tenacity.stop.stop_base):
    def __init__(self, max_attempts: int, budget_s: float):
        self.max_attempts, self.budget_s = max_attempts, budget_s
        self.why = ""  # why it stopped, for the caller's message
        self.over_budget = False

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        attempts, idle = retry_state.attempt_number, retry_state.idle_for
        upcoming = retry_state.upcoming_sleep or 0.0
        if attempts >= self.max_attempts:
            self.why = f"gave up after {attempts} attempts, {idle:.1f}s of waiting"
            return True
        if idle + upcoming > self.budget_s:
            self.why = (f"gave up after {attempts} attempts: waiting {upcoming:.1f}s more would "
                        f"exceed the {self.budget_s:g}s retry budget")  # fmt: skip
            self.over_budget = True
            return True
        return False


def policy(
    *,
    max_attempts: int,
    budget_s: float,
    base: float = 1.0,
    cap: float = 30.0,
    sleep: Callable[[float], object] = time.sleep,
    on_wait: Callable[[float], object] | None = None,
) -> tenacity.Retrying:
    """Retry on `RetryLater` only, waiting as the server asks or with backoff; stop after
    `max_attempts` or when the waits would exceed `budget_s`; then raise the last failure.
    `on_wait(seconds)` is told of each wait before it starts (for the log)."""
    return tenacity.Retrying(
        before_sleep=(lambda rs: on_wait(rs.upcoming_sleep)) if on_wait else None,
        retry=tenacity.retry_if_exception_type(RetryLater),
        wait=_ServerOrBackoff(base, cap),
        stop=_AttemptsOrBudget(max_attempts, budget_s),
        sleep=sleep,
        reraise=True,
    )


def gave_up(retrying: tenacity.Retrying) -> str:
    """Why a finished policy stopped: after how many attempts, or which wait the budget refused."""
    return getattr(retrying.stop, "why", "") or "gave up"


def over_budget(retrying: tenacity.Retrying) -> bool:
    """Whether it stopped because the next wait would have exceeded the budget."""
    return bool(getattr(retrying.stop, "over_budget", False))
