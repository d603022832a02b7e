"""Per-partner token buckets that refuse at once (429 + Retry-After) instead of waiting.

``aiolimiter`` and ``backbone.throttle`` make the *caller* wait for a slot, which suits outbound
calls; at the front door a request over the limit must be answered immediately with how long to
back off, and a batch costs one token per event. A bucket may go into debt for one large batch
(it is admitted when the bucket holds ``min(cost, burst)``) so batches bigger than the burst can
still pass, and the partner then waits for the debt to refill.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from services.ingest.partners import Partner

__all__ = ["RateLimiter", "TokenBucket"]


class TokenBucket:
    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def take(self, cost: int = 1) -> float:
        """Take ``cost`` tokens: 0.0 when admitted, else the seconds until it would be."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        needed = min(float(cost), self.burst)
        if self._tokens >= needed:
            self._tokens -= cost
            return 0.0
        return (needed - self._tokens) / self.rate


class RateLimiter:
    """One bucket per partner, sized from partners.yaml."""

    def __init__(self, partners: Iterable[Partner], clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets = {p.id: TokenBucket(p.rate_limit.per_second, p.rate_limit.burst, clock) for p in partners}

    def take(self, partner_id: str, cost: int = 1) -> float:
        bucket = self._buckets.get(partner_id)
        return 0.0 if bucket is None else bucket.take(cost)
