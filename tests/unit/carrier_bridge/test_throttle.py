"""Throttler: at most N starts in any window, first come first served, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from services.carrier_bridge.throttle import Throttler


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


async def test_n_calls_pass_then_the_next_waits_for_the_window() -> None:
    fake = FakeTime()
    throttle = Throttler(3, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(7):
        await throttle.acquire()
        starts.append(round(fake.now, 6))
    assert starts == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0]
    assert all(later - earlier >= 1.0 for earlier, later in zip(starts, starts[3:], strict=False))


async def test_margin_widens_the_window() -> None:
    fake = FakeTime()
    throttle = Throttler(1, margin_s=0.05, clock=fake.clock, sleep=fake.sleep)
    await throttle.acquire()
    await throttle.acquire()
    assert fake.sleeps == [1.05]


async def test_spaced_calls_never_wait() -> None:
    fake = FakeTime()
    throttle = Throttler(2, clock=fake.clock, sleep=fake.sleep)
    for _ in range(6):
        await throttle.acquire()
        fake.now += 0.5
    assert fake.sleeps == []


async def test_concurrent_waiters_are_served_in_order() -> None:
    throttle = Throttler(2, per_s=0.1)
    order: list[int] = []

    async def call(n: int) -> None:
        await throttle.acquire()
        order.append(n)

    await asyncio.gather(*(call(n) for n in range(6)))
    assert order == list(range(6))


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": 1, "per_s": 0}, {"rate": 1, "margin_s": -1}])
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="rate"):
        Throttler(**kwargs)  # type: ignore[arg-type]
