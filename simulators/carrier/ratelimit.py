"""Per-key sliding-window rate limit: at most ``limit`` accepted requests in any ``window_s``.

Exact by construction (a log of accepted request times, not a token bucket approximation), so a
client that paces itself to the documented rate never sees a 429 and one request more always does.
Refused requests do not count against the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter"]


class SlidingWindowLimiter:
    def __init__(self, limit: int, clock: Callable[[], float], window_s: float = 1.0) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._accepted: dict[str, deque[float]] = {}

    def acquire(self, key: str) -> float | None:
        """None when the request may proceed (and is counted); else seconds until a slot frees."""
        now = self._clock()
        log = self._accepted.setdefault(key, deque())
        while log and now - log[0] >= self.window_s:
            log.popleft()
        if len(log) < self.limit:
            log.append(now)
            return None
        return log[0] + self.window_s - now

    def remaining(self, key: str) -> int:
        return self.limit - len(self._accepted.get(key, ()))

    def clear(self) -> None:
        self._accepted.clear()
