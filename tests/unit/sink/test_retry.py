from __future__ import annotations

import random

import pytest

from backbone.errors import AuthenticationError, PermanentError, RetryableError, TargetUnavailableError
from backbone.sink.retry import NotYetAvailableError, RetryPolicy


def test_backoff_is_exponential_and_capped_without_jitter() -> None:
    policy = RetryPolicy(min_backoff=0.5, max_backoff=8.0, multiplier=2.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert policy.backoff(10_000) == 8.0  # no overflow


def test_jitter_stays_within_bounds_and_varies() -> None:
    policy = RetryPolicy(min_backoff=1.0, max_backoff=100.0, jitter=0.2)
    rng = random.Random(7)
    delays = [policy.backoff(4, rng) for _ in range(500)]  # base 8 s
    assert min(delays) >= 8 * 0.8 - 1e-9
    assert max(delays) <= 8 * 1.2 + 1e-9
    assert len({round(d, 6) for d in delays}) > 100
    capped = [policy.backoff(30, rng) for _ in range(100)]
    assert max(capped) <= 100.0
    floor = [RetryPolicy(min_backoff=1.0, max_backoff=5, jitter=0.5).backoff(1, rng) for _ in range(100)]
    assert min(floor) >= 1.0


def test_retryable_until_max_attempts_then_dead_letter() -> None:
    policy = RetryPolicy(max_attempts=3, min_backoff=1, max_backoff=10, jitter=0)
    err = RetryableError("lock conflict")
    assert [policy.decide(err, attempts=n, first_failure_at=0, now=0).action for n in (1, 2, 3)] == [
        "retry",
        "retry",
        "dead_letter",
    ]
    d = policy.decide(err, attempts=2, first_failure_at=0, now=0)
    assert d.delay == 2.0
    gave_up = policy.decide(err, attempts=3, first_failure_at=0, now=0)
    assert "gave up after 3 attempts" in gave_up.reason


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(min_backoff=0.5, max_backoff=10, jitter=0, max_retry_after=120)
    assert policy.decide(RetryableError("429", retry_after=30), attempts=1, first_failure_at=0, now=0).delay == 30
    assert policy.decide(RetryableError("429", retry_after=0.1), attempts=3, first_failure_at=0, now=0).delay == 2.0
    assert (
        policy.decide(TargetUnavailableError("503", retry_after=900), attempts=1, first_failure_at=0, now=0).delay
        == 120
    )


def test_permanent_and_auth() -> None:
    policy = RetryPolicy(auth_retry_interval=30)
    d = policy.decide(PermanentError("bad field"), attempts=1, first_failure_at=0, now=0)
    assert (d.action, d.reason) == ("dead_letter", "bad field")
    auth = policy.decide(AuthenticationError("401"), attempts=99, first_failure_at=0, now=0)
    assert (auth.action, auth.delay) == ("pause", 30)


def test_unexpected_exceptions_are_retried_then_dead_lettered() -> None:
    policy = RetryPolicy(max_attempts=2, jitter=0)
    assert policy.decide(KeyError("x"), attempts=1, first_failure_at=0, now=0).action == "retry"
    assert policy.decide(KeyError("x"), attempts=2, first_failure_at=0, now=0).action == "dead_letter"


def test_not_yet_available_waits_for_the_grace_period_regardless_of_attempts() -> None:
    policy = RetryPolicy(max_attempts=2, min_backoff=1, max_backoff=60, jitter=0, grace_period=100, grace_max_delay=15)
    err = NotYetAvailableError("picking not created yet")
    early = policy.decide(err, attempts=50, first_failure_at=1000, now=1010)
    assert early.action == "retry"
    assert early.delay == 15  # bounded by grace_max_delay, not max_backoff
    last = policy.decide(err, attempts=50, first_failure_at=1000, now=1095)
    assert (last.action, last.delay) == ("retry", pytest.approx(5))  # lands on the grace deadline
    expired = policy.decide(err, attempts=51, first_failure_at=1000, now=1100)
    assert expired.action == "dead_letter"
    assert "missing record after grace period of 100s" in expired.reason


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"min_backoff": 5, "max_backoff": 1}, {"jitter": 1.0}],
)
def test_invalid_policies(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"max_attempts|backoff|jitter"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
