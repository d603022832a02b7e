"""Per-carrier pacing of platform calls: one :class:`~backbone.throttle.Throttler` per carrier,
an optional platform-wide one (the API key's own limit), and urgent calls first.

Every HTTP call of the carrier client waits here for a slot of its lane's bucket (then of the
platform bucket). Waiters of one bucket are served by priority, then first come first served:
a same-day booking does not queue behind fifty ground ones. A 429/503 with ``Retry-After``
defers the bucket, so everyone waiting holds off, not only the caller that was refused.

Waiting here holds the sink's concurrency slot: the sink's bounded concurrency and fetch buffer
are the queue, so a slow carrier pauses consumption instead of growing an unbounded backlog.

Example::

    pacer = CarrierPacer({"ups": 10, "fedex": 5}, default_rps=10, margin_s=0.02)
    await pacer.acquire(Lane("ups", urgent=True))     # returns when the call may start
    pacer.defer(Lane("ups"), 1.0)                     # the platform answered 429 Retry-After: 1
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Mapping

from prometheus_client import Histogram

from backbone.throttle import Clock, Sleep, Throttler
from services.carrier_bridge.models import Lane

__all__ = ["WAIT_SECONDS", "CarrierPacer", "PriorityGate"]

WAIT_SECONDS = Histogram(
    "backbone_carrier_throttle_wait_seconds",
    "Time a carrier call waited for a rate-limit slot (queueing delay)",
    ["carrier"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

URGENT, NORMAL = 0, 1


class PriorityGate:
    """Hands out one bucket's slots to waiters by (priority, arrival).

    A single pump task takes slots from the throttler and gives each to the best waiter at that
    moment; with nobody waiting, a free token is taken on the spot.

    The throttler spaces *grants*; a waiter that resumes late (a busy event loop) starts its call
    late, which narrows the gap to later calls. So the gate also logs the real start times of the
    last ``window_calls`` calls: call k never starts before call k - window_calls plus
    ``window_s`` (default: ``window_calls`` intervals), which is what a partner's sliding window
    checks. Give ``window_s`` a little below the throttler's own span (the partner's window plus
    part of the margin) and the log only binds after a stall: the lag it adds then shrinks by the
    difference every window instead of piling up, and the throttler's schedule is kept.
    """

    def __init__(
        self,
        throttler: Throttler,
        *,
        window_calls: int = 1,
        window_s: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if window_calls < 1:
            raise ValueError("window_calls must be at least 1")
        self.throttler = throttler
        self._clock = clock
        self._sleep = sleep
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self._starts: deque[float] = deque(maxlen=window_calls)
        self._span = window_s if window_s is not None else window_calls * throttler.interval
        self._granted = 0  # slots handed out whose caller has not started yet
        self._progress = asyncio.Event()

    @property
    def waiting(self) -> int:
        return sum(1 for *_, fut in self._waiters if not fut.done())

    def _earliest_start(self) -> float:
        """When the next call may start: its predecessor ``window_calls`` calls back, plus the window.

        Granted calls not started yet start before the next one (wake-ups are first in, first out),
        so they count as predecessors; when all of the window is still pending: not yet (inf)."""
        position = len(self._starts) + self._granted - self._window_calls
        if position < 0:
            return -math.inf
        if position >= len(self._starts):
            return math.inf
        return self._starts[position] + self._span

    @property
    def _window_calls(self) -> int:
        return self._starts.maxlen or 1

    async def acquire(self, priority: int = NORMAL) -> None:
        if (
            self._pump is None
            and not self._waiters
            and self._clock() >= self._earliest_start()
            and self.throttler.try_acquire()
        ):
            self._starts.append(self._clock())
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), future))
        if self._pump is None:
            self._pump = asyncio.create_task(self._serve(), name=f"pace-{self.throttler.name}")
        try:
            await future  # cancelled waiters are skipped by the pump
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._settle(started=False)  # granted, then cancelled before using it
            raise
        self._settle(started=True)

    def _settle(self, *, started: bool) -> None:
        self._granted -= 1
        if started:
            self._starts.append(self._clock())
        self._progress.set()

    def defer(self, seconds: float) -> None:
        self.throttler.defer(seconds)

    async def _serve(self) -> None:
        try:
            while self._waiters:
                await self.throttler.acquire()
                while (delay := self._earliest_start() - self._clock()) > 0:
                    if math.isinf(delay):
                        self._progress.clear()
                        await self._progress.wait()  # a granted caller must start first
                    else:
                        await self._sleep(delay)
                while self._waiters:
                    *_, future = heapq.heappop(self._waiters)
                    if not future.done():
                        self._granted += 1
                        future.set_result(None)
                        break
        finally:
            self._pump = None

    async def close(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        for *_, future in self._waiters:
            future.cancel()
        self._waiters.clear()


class CarrierPacer:
    """Buckets per carrier code (``default_rps`` for carriers not listed; None = unpaced) and an
    optional ``platform_rps`` bucket every call also passes.

    ``margin_s`` widens each one-second window (rate = rps / (1 + margin_s)) so that network jitter
    between our clock and the partner's sliding window never turns the last call of a window into
    a 429. ``on_wait(lane, seconds)`` observes each queueing delay (benchmarks, tests).
    """

    def __init__(
        self,
        limits: Mapping[str, float] | None = None,
        *,
        default_rps: float | None = None,
        platform_rps: float | None = None,
        margin_s: float = 0.0,
        on_wait: Callable[[Lane, float], None] | None = None,
    ) -> None:
        if margin_s < 0:
            raise ValueError("margin_s must be >= 0")
        self._limits = {k.lower(): float(v) for k, v in (limits or {}).items()}
        self._default = default_rps
        self._margin = margin_s
        self._gates: dict[str, PriorityGate | None] = {}
        self._platform = self._gate("platform", platform_rps)
        self._on_wait = on_wait

    def _gate(self, name: str, rps: float | None) -> PriorityGate | None:
        if rps is None:
            return None
        # The partner counts calls per second: the throttler keeps rps + 1 grants 1 + margin seconds
        # apart; the real-start log guarantees 1 + margin/2 even when callers resume late.
        throttler = Throttler(rps / (1.0 + self._margin), name=name)
        return PriorityGate(throttler, window_calls=max(1, round(rps)), window_s=1.0 + self._margin / 2)

    def gate(self, carrier: str | None) -> PriorityGate | None:
        """The bucket of ``carrier`` (created on first use)."""
        name = (carrier or "default").lower()
        if name not in self._gates:
            self._gates[name] = self._gate(name, self._limits.get(name, self._default))
        return self._gates[name]

    async def acquire(self, lane: Lane | None) -> None:
        lane = lane or Lane()
        priority = URGENT if lane.urgent else NORMAL
        started = time.monotonic()
        gate = self.gate(lane.carrier)
        if gate is not None:
            await gate.acquire(priority)
        if self._platform is not None:
            await self._platform.acquire(priority)
        waited = time.monotonic() - started
        WAIT_SECONDS.labels((lane.carrier or "default").lower()).observe(waited)
        if self._on_wait is not None:
            self._on_wait(lane, waited)

    def defer(self, lane: Lane | None, seconds: float) -> None:
        """The partner said Retry-After: hold off this lane's bucket (and the platform's, if paced)."""
        gate = self.gate((lane or Lane()).carrier)
        if gate is not None:
            gate.defer(seconds)
        if self._platform is not None:
            self._platform.defer(seconds)

    async def close(self) -> None:
        gates = [g for g in (*self._gates.values(), self._platform) if g is not None]
        for gate in gates:
            await gate.close()
