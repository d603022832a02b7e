"""Client-side pacing to a partner's documented rate limit, so we do not earn 429s.

A sliding-window log: at most ``rate`` calls start in any ``per_s`` window (plus ``margin_s`` to
absorb network jitter between our clock and the partner's). Waiters are served first come, first
served. Pure asyncio, no HTTP.

Example::

    throttle = Throttler(rate=5)          # EasyPost-style 5 requests/second
    await throttle.acquire()              # returns when a call may start
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["Throttler"]


class Throttler:
    def __init__(self, rate: int, per_s: float = 1.0, *, margin_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate < 1 or per_s <= 0 or margin_s < 0:
            raise ValueError("rate must be >= 1, per_s > 0 and margin_s >= 0")
        self.rate = rate
        self._window = per_s + margin_s
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # one waiter at a time keeps the order fair and the count exact
            while True:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self._window:
                    self._starts.popleft()
                if len(self._starts) < self.rate:
                    self._starts.append(now)
                    return
                await self._sleep(self._starts[0] + self._window - now)
