"""CircuitBreaker: stop hammering a dead target (closed -> open -> half-open -> closed).

``failure_threshold`` consecutive failures open the breaker. While open nobody may call; after
``cooldown`` seconds it turns half-open and lets exactly one probe through: success closes it,
failure re-opens it for another cooldown. Only failures that say "the target is not there"
(:class:`~backbone.errors.TargetUnavailableError`) should be recorded as failures; any answer
from the target, even an error, proves it is up.

The state machine is synchronous and takes a clock (unit tests drive it with a fake one);
:meth:`CircuitBreaker.wait_permit` is the asyncio helper workers use to wait for their turn.

Example::

    breaker = CircuitBreaker("odoo", failure_threshold=5, cooldown=30.0)
    await breaker.wait_permit()          # returns at once while closed
    try:
        result = await call()
    except TargetUnavailableError:
        breaker.record_failure()
        raise
    else:
        breaker.record_success()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from enum import IntEnum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(IntEnum):
    """Values double as the ``backbone_sink_breaker_state`` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._changed: asyncio.Event | None = None
        self.opened_count = 0  # how many times it opened (tests, logs)

    # -- state machine -------------------------------------------------------------------------
    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown - self._clock())

    def allow(self) -> bool:
        """May a call start now? In half-open only one probe is allowed at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        # A late success of a call started before the breaker opened proves nothing about now.
        if self._state is BreakerState.HALF_OPEN:
            self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._probing = False
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._open()
        elif state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()

    def release(self) -> None:
        """A permitted call ended without a verdict (cancelled, or failed before reaching the target)."""
        if self._probing:
            self._probing = False
            self._notify()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._failures = 0
        self.opened_count += 1
        self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new:
            if self._on_change is not None:
                self._on_change(old, new)
            self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- asyncio -------------------------------------------------------------------------------
    async def wait_permit(self) -> None:
        """Wait until :meth:`allow` says yes (the caller must then record a verdict or release)."""
        while not self.allow():
            if self._changed is None:
                self._changed = asyncio.Event()
            event = self._changed
            # Open: sleep out the cooldown. Half-open with a probe running: wait for its verdict,
            # but re-check now and then in case the prober vanished without releasing.
            timeout = self.retry_in() if self._state is BreakerState.OPEN else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=max(timeout, 0.001))
