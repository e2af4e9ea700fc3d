"""The one retry policy every client uses: Retry-After in both of its forms, backoff with
jitter, and the attempts and time budget that end it."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from reporting_assets.lib import retry


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC).timestamp()
    assert retry.retry_after("7") == 7.0
    assert retry.retry_after("-3") == 0.0
    in_90s = format_datetime(datetime(2026, 11, 30, 10, 1, 30, tzinfo=UTC), usegmt=True)
    assert retry.retry_after(in_90s, now=lambda: now) == pytest.approx(90.0)
    assert retry.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: now) == 0.0  # past
    assert retry.retry_after(None) is None and retry.retry_after("soon") is None


def test_backoff_grows_with_equal_jitter_and_is_capped():
    for attempt, (low, high) in {1: (0.5, 1.0), 2: (1.0, 2.0), 3: (2.0, 4.0), 9: (15, 30)}.items():
        waits = [retry.backoff(attempt, 1.0, 30.0) for _ in range(200)]
        assert low <= min(waits) and max(waits) <= high


def test_policy_honours_the_server_then_stops_at_the_budget():
    sleeps: list[float] = []
    calls = []

    def flaky():
        calls.append(1)
        raise retry.RetryLater("HTTP 429", retry_after=4.0 if len(calls) < 3 else 50.0)

    retrying = retry.policy(max_attempts=10, budget_s=20, sleep=sleeps.append)
    with pytest.raises(retry.RetryLater, match="429"):
        for attempt in retrying:
            with attempt:
                flaky()
    assert sleeps == [4.0, 4.0] and len(calls) == 3  # the 50 s wait would exceed the budget
    assert retry.over_budget(retrying)
    assert "waiting 50.0s more would exceed the 20s retry budget" in retry.gave_up(retrying)


def test_policy_stops_after_max_attempts_and_never_retries_other_errors():
    sleeps: list[float] = []
    retrying = retry.policy(max_attempts=3, budget_s=600, sleep=sleeps.append)
    with pytest.raises(retry.RetryLater):
        for attempt in retrying:
            with attempt:
                raise retry.RetryLater("HTTP 503")
    assert len(sleeps) == 2 and not retry.over_budget(retrying)
    assert retry.gave_up(retrying).startswith("gave up after 3 attempts")

    with pytest.raises(ValueError):
        for attempt in retry.policy(max_attempts=3, budget_s=600, sleep=sleeps.append):
            with attempt:
                raise ValueError("a refusal for good is not retried")
    assert len(sleeps) == 2
