"""CarrierPacer and PriorityGate: per-carrier buckets, urgent first, Retry-After for everyone."""

from __future__ import annotations

import asyncio
import time

import pytest

from backbone.throttle import Throttler
from services.carrier_bridge.models import Lane
from services.carrier_bridge.pacing import NORMAL, URGENT, CarrierPacer, PriorityGate
from tests.virtual_time import VirtualTime


def gate(vt: VirtualTime, rate: float = 10.0) -> PriorityGate:
    return PriorityGate(Throttler(rate, clock=vt.clock, sleep=vt.sleep), clock=vt.clock, sleep=vt.sleep)


async def test_urgent_waiters_go_first_then_arrival_order() -> None:
    vt = VirtualTime()
    g = gate(vt)
    served: list[str] = []

    async def call(name: str, priority: int) -> None:
        await g.acquire(priority)
        served.append(f"{name}@{vt.now:.1f}")

    tasks = [asyncio.create_task(call(f"ground{n}", NORMAL)) for n in range(4)]
    await vt.settle()
    tasks += [asyncio.create_task(call("same_day", URGENT))]
    await vt.run(tasks)
    # ground0 took the free token at once; same_day arrived last but jumps the three still waiting.
    assert served == ["ground0@0.0", "same_day@0.1", "ground1@0.2", "ground2@0.3", "ground3@0.4"]


async def test_the_gate_never_exceeds_the_bucket_rate() -> None:
    vt = VirtualTime()
    g = gate(vt, rate=10.0)
    times: list[float] = []

    async def call(priority: int) -> None:
        await g.acquire(priority)
        times.append(vt.now)

    tasks = [asyncio.create_task(call(URGENT if n % 3 == 0 else NORMAL)) for n in range(30)]
    await vt.run(tasks)
    assert sorted(times) == pytest.approx([0.1 * i for i in range(30)])


async def test_a_deferral_holds_off_everyone_already_waiting() -> None:
    vt = VirtualTime()
    g = gate(vt)
    times: list[float] = []

    async def call() -> None:
        await g.acquire()
        times.append(vt.now)
        if len(times) == 2:  # the second call is answered 429 Retry-After: 3
            g.defer(3.0)

    await vt.run([asyncio.create_task(call()) for _ in range(5)])
    assert times == pytest.approx([0.0, 0.1, 3.1, 3.2, 3.3])


async def test_cancelled_waiters_are_skipped() -> None:
    vt = VirtualTime()
    g = gate(vt)
    served: list[int] = []

    async def call(n: int) -> None:
        await g.acquire()
        served.append(n)

    tasks = [asyncio.create_task(call(n)) for n in range(4)]
    await vt.settle()
    tasks[1].cancel()
    await vt.run([t for i, t in enumerate(tasks) if i != 1])
    assert served == [0, 2, 3] and g.waiting == 0


async def test_close_cancels_the_pump_and_the_waiters() -> None:
    vt = VirtualTime()
    g = gate(vt, rate=1.0)
    await g.acquire()
    waiter = asyncio.create_task(g.acquire())
    await vt.settle()
    await g.close()
    await vt.settle()
    assert waiter.cancelled()


async def test_each_carrier_has_its_own_bucket_and_unlisted_ones_share_the_default_rate() -> None:
    pacer = CarrierPacer({"ups": 50.0}, default_rps=25.0)
    assert pacer.gate("UPS") is pacer.gate("ups")
    ups, fedex, usps = pacer.gate("ups"), pacer.gate("fedex"), pacer.gate("usps")
    assert ups is not None and fedex is not None and usps is not None
    assert (ups.throttler.rate, fedex.throttler.rate) == (50.0, 25.0) and fedex is not usps
    assert CarrierPacer({"ups": 50.0}).gate("fedex") is None  # no default: unpaced
    await pacer.close()


async def test_the_margin_slows_the_bucket_just_enough() -> None:
    gate_ = CarrierPacer(default_rps=10.0, margin_s=0.05).gate("ups")
    assert gate_ is not None
    # 11 calls must span more than one window + margin: 10 intervals >= 1.05 s.
    assert 10 / gate_.throttler.rate == pytest.approx(1.05)
    with pytest.raises(ValueError, match="margin"):
        CarrierPacer(margin_s=-1)


async def test_the_platform_bucket_caps_all_carriers_together_and_reports_waits() -> None:
    waits: list[tuple[Lane, float]] = []
    pacer = CarrierPacer({"ups": 1000.0, "fedex": 1000.0}, platform_rps=50.0, on_wait=lambda c, s: waits.append((c, s)))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(pacer.acquire(Lane("ups" if n % 2 else "fedex")) for n in range(11)))
    assert loop.time() - started >= 0.2 - 0.01  # 11 calls at 50/s: 10 intervals of 20 ms
    assert len(waits) == 11 and {lane.carrier for lane, _ in waits} == {"ups", "fedex"}
    assert max(s for _, s in waits) >= 0.15
    pacer.defer(Lane("ups"), 0.3)  # a 429 under a platform-wide limit holds off every carrier
    started = loop.time()
    await pacer.acquire(Lane("fedex"))
    assert loop.time() - started >= 0.25
    await pacer.close()


@pytest.mark.parametrize("window_calls", [1, 5])
async def test_real_starts_hold_the_window_even_when_the_loop_stalls(window_calls: int) -> None:
    # Grants alone are spaced by the throttler; here the loop stalls (a busy bridge) so waiters
    # resume late, in bursts. The partner sees real starts: any window_calls + 1 of them must
    # span window_calls intervals.
    interval = 0.02
    g = PriorityGate(Throttler(1 / interval), window_calls=window_calls)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def call() -> None:
        await g.acquire()
        starts.append(time.monotonic())

    for at, stall in ((0.05, 0.035), (0.13, 0.025), (0.2, 0.045), (0.31, 0.03)):
        loop.call_later(at, time.sleep, stall)  # a blocking stretch of work on the loop
    await asyncio.gather(*(call() for _ in range(30)))
    gaps = [later - earlier for earlier, later in zip(starts, starts[window_calls:], strict=False)]
    assert min(gaps) >= window_calls * interval - 0.002
    # ... and the stalls are absorbed, not added to every later call: 30 calls in about 29 intervals.
    assert starts[-1] - starts[0] < 29 * interval + 0.2
    await g.close()
