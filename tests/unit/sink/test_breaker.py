from __future__ import annotations

import asyncio

import pytest

from backbone.sink.breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(
    threshold: int = 3, cooldown: float = 10.0
) -> tuple[CircuitBreaker, FakeClock, list[tuple[BreakerState, BreakerState]]]:
    clock = FakeClock()
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(
        "odoo",
        failure_threshold=threshold,
        cooldown=cooldown,
        clock=clock,
        on_change=lambda a, b: changes.append((a, b)),
    )
    return breaker, clock, changes


def test_opens_after_threshold_consecutive_failures_only() -> None:
    breaker, _, changes = make(threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the streak
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert breaker.opened_count == 1


def test_half_open_after_cooldown_admits_exactly_one_probe() -> None:
    breaker, clock, _ = make(threshold=1, cooldown=10.0)
    breaker.record_failure()
    clock.now += 9.99
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_in() == pytest.approx(0.01)
    clock.now += 0.01
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() is True
    assert breaker.allow() is False  # second caller waits for the probe's verdict
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    breaker, clock, changes = make(threshold=1, cooldown=5.0)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert [new for _, new in changes] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
    ]
    assert breaker.opened_count == 2


def test_released_probe_lets_another_caller_probe() -> None:
    breaker, clock, _ = make(threshold=1, cooldown=1.0)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    assert not breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_late_success_while_open_does_not_close() -> None:
    breaker, _, _ = make(threshold=1)
    breaker.record_failure()
    breaker.record_success()  # a call started before the breaker opened
    assert breaker.state is BreakerState.OPEN


def test_invalid_threshold() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("x", failure_threshold=0)


async def test_wait_permit_sleeps_out_the_cooldown_and_serializes_probes() -> None:
    breaker = CircuitBreaker("t", failure_threshold=1, cooldown=0.2)
    breaker.record_failure()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(breaker.wait_permit(), 2)
    assert loop.time() - started >= 0.19
    assert breaker.state is BreakerState.HALF_OPEN
    second = asyncio.create_task(breaker.wait_permit())
    await asyncio.sleep(0.05)
    assert not second.done()  # the probe is still out
    breaker.record_success()
    await asyncio.wait_for(second, 1)
    assert breaker.state is BreakerState.CLOSED
