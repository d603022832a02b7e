"""Throttler: an async token bucket per target that holds a request rate exactly.

Bridges call a partner API at most ``rate`` times per second (``burst`` calls may go back to
back after a quiet period). Slots are handed out first-come first-served by reserving a time on
a virtual schedule (GCRA), so N concurrent callers never exceed the limit, even for an instant.
When the partner answers 429/503 with ``Retry-After``, :meth:`Throttler.defer` pushes the
bucket's next-allowed time: every caller, including those already waiting, holds off.

Example::

    limit = Throttler(rate=10.0, name="carrier-api")      # 10 req/s, no burst
    async with limit:                                      # or: await limit.acquire()
        resp = await session.post(url, json=body)
    if resp.status == 429:
        limit.defer(float(resp.headers.get("Retry-After", "1")))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

__all__ = ["Clock", "Sleep", "Throttler"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Throttler:
    """Token bucket of ``burst`` tokens refilled at ``rate`` per second.

    ``clock``/``sleep`` are injectable so tests can prove exactness with a fake clock.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        name: str = "target",
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.name = name
        self.rate = rate
        self.burst = burst
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        # Theoretical arrival time of the next call on the virtual schedule.
        self._tat = clock()
        self._blocked_until = float("-inf")

    def _reserve(self) -> float:
        """Claim the next slot and return when it may be used (may be now)."""
        now = self._clock()
        tat = max(self._tat, now)
        # With a full bucket the slot is ``burst - 1`` intervals earlier than ``tat``.
        allowed_at = max(tat - (self.burst - 1) * self.interval, now, self._blocked_until)
        self._tat = max(tat, allowed_at) + self.interval
        return allowed_at

    async def acquire(self) -> None:
        """Wait until this caller may make one request."""
        while True:
            slot = self._reserve()
            delay = slot - self._clock()
            if delay > 0:
                await self._sleep(delay)
            # A Retry-After that arrived while we slept moves everyone, us included.
            if self._blocked_until <= slot:
                return

    def try_acquire(self) -> bool:
        """Take a token only if one is available right now (never waits)."""
        now = self._clock()
        if max(self._tat - (self.burst - 1) * self.interval, self._blocked_until) > now:
            return False
        self._reserve()
        return True

    def defer(self, retry_after: float) -> None:
        """Honour a partner's Retry-After: nobody calls before ``now + retry_after``."""
        if retry_after <= 0:
            return
        until = self._clock() + retry_after
        if until > self._blocked_until:
            self._blocked_until = until
            # The bucket restarts empty: no burst right after the partner asked us to back off.
            self._tat = max(self._tat, until + (self.burst - 1) * self.interval)

    @property
    def next_allowed_at(self) -> float:
        """Clock time at which a new caller would get a slot."""
        return max(self._tat - (self.burst - 1) * self.interval, self._blocked_until, self._clock())

    async def __aenter__(self) -> Throttler:
        await self.acquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
