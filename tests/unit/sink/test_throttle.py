from __future__ import annotations

import asyncio

import pytest

from backbone.throttle import Throttler
from tests.virtual_time import VirtualTime


async def acquire_times(throttler: Throttler, vt: VirtualTime, n: int) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await throttler.acquire()
        times.append(vt.now)

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await vt.run(tasks)
    return times


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + window - 1e-9))
    return best


async def test_holds_ten_per_second_exactly_under_contention() -> None:
    vt = VirtualTime()
    throttler = Throttler(10.0, clock=vt.clock, sleep=vt.sleep)
    times = await acquire_times(throttler, vt, 50)
    assert times == pytest.approx([i * 0.1 for i in range(50)])
    assert max_in_window(times) == 10


async def test_burst_then_steady_rate() -> None:
    vt = VirtualTime()
    throttler = Throttler(10.0, burst=5, clock=vt.clock, sleep=vt.sleep)
    times = await acquire_times(throttler, vt, 15)
    assert times[:5] == [0.0] * 5
    assert times[5:] == pytest.approx([0.1 * i for i in range(1, 11)])
    # Any one-second window holds at most burst + rate calls, never more.
    assert max_in_window(times) <= 15


async def test_retry_after_pushes_everyone_including_waiters() -> None:
    vt = VirtualTime()
    throttler = Throttler(10.0, clock=vt.clock, sleep=vt.sleep)
    times: list[float] = []

    async def one() -> None:
        await throttler.acquire()
        times.append(vt.now)
        if len(times) == 3:  # the partner answers 429 Retry-After: 2 to the third call (t=0.2)
            throttler.defer(2.0)

    tasks = [asyncio.create_task(one()) for _ in range(8)]
    await vt.run(tasks)
    assert times[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert times[3] == pytest.approx(2.2)
    assert all(later >= 2.2 - 1e-9 for later in times[3:])
    assert times[3:] == pytest.approx([2.2 + 0.1 * i for i in range(5)])
    assert throttler.next_allowed_at == pytest.approx(2.7)


async def test_try_acquire_never_waits() -> None:
    vt = VirtualTime()
    throttler = Throttler(2.0, clock=vt.clock, sleep=vt.sleep)
    assert throttler.try_acquire()
    assert not throttler.try_acquire()
    vt.now = 0.5
    assert throttler.try_acquire()
    throttler.defer(3)
    vt.now = 3.4
    assert not throttler.try_acquire()
    vt.now = 3.5
    assert throttler.try_acquire()


async def test_idle_bucket_refills_and_context_manager() -> None:
    vt = VirtualTime()
    throttler = Throttler(4.0, burst=2, clock=vt.clock, sleep=vt.sleep)
    await acquire_times(throttler, vt, 2)
    vt.now = 10.0
    times = await acquire_times(throttler, vt, 3)
    assert times == pytest.approx([10.0, 10.0, 10.25])
    entered: list[float] = []

    async def use() -> None:
        async with throttler:
            entered.append(vt.now)

    await vt.run([asyncio.create_task(use())])
    assert entered == pytest.approx([10.5])


async def test_real_clock_rate() -> None:
    throttler = Throttler(50.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(throttler.acquire() for _ in range(11)))
    assert loop.time() - start >= 0.2 - 0.01


def test_invalid() -> None:
    with pytest.raises(ValueError, match="rate"):
        Throttler(0)
    with pytest.raises(ValueError, match="burst"):
        Throttler(1, burst=0)
