"""Throttler properties kept from the carrier bridge's former sliding-window throttle: spaced
callers never wait, concurrent waiters are served in arrival order, and a token bucket with
burst N never lets N + 1 calls start inside one window (the partner's sliding-window limit)."""

from __future__ import annotations

import asyncio

from backbone.throttle import Throttler


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


async def test_spaced_calls_never_wait() -> None:
    fake = FakeTime()
    throttle = Throttler(2.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(6):
        await throttle.acquire()
        fake.now += 0.5
    assert fake.sleeps == []


async def test_back_to_back_calls_are_spaced_by_the_interval() -> None:
    fake = FakeTime()
    throttle = Throttler(4.0, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(9):
        await throttle.acquire()
        starts.append(round(fake.now, 6))
    assert starts == [0.25 * i for i in range(9)]
    # A one-second sliding window (the partner's limit of 4/s) sees at most 4 starts: the 5th
    # call is exactly one window after the 1st.
    assert all(later - earlier >= 1.0 for earlier, later in zip(starts, starts[4:], strict=False))


async def test_concurrent_waiters_are_served_in_arrival_order() -> None:
    throttle = Throttler(200.0)
    order: list[int] = []

    async def call(n: int) -> None:
        await throttle.acquire()
        order.append(n)

    await asyncio.gather(*(call(n) for n in range(12)))
    assert order == list(range(12))


async def test_a_deferral_while_idle_restarts_with_an_empty_bucket() -> None:
    fake = FakeTime()
    throttle = Throttler(10.0, burst=3, clock=fake.clock, sleep=fake.sleep)
    throttle.defer(1.0)
    starts = []
    for _ in range(3):
        await throttle.acquire()
        starts.append(round(fake.now, 6))
    # No burst right after Retry-After: the partner asked us to slow down.
    assert starts == [1.0, 1.1, 1.2]
