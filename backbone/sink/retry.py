"""One retry policy for every sink (attempts, capped exponential backoff with jitter, then DLQ).

:meth:`RetryPolicy.decide` classifies a failure with the backbone error tree:

- :class:`~backbone.errors.AuthenticationError` -> ``pause``: stop the whole sink, alert, re-probe
  every ``auth_retry_interval`` seconds; never dead-letter (fixing a credential fixes every record).
- :class:`~backbone.errors.PermanentError` -> ``dead_letter`` now.
- :class:`NotYetAvailableError` -> ``retry`` with a bounded delay until ``grace_period`` seconds
  after the first failure, then ``dead_letter`` ("missing record after grace period").
- :class:`~backbone.errors.RetryableError` (and unexpected exceptions, which may be bugs but must
  not lose data) -> ``retry`` after ``max(backoff, retry_after)`` until ``max_attempts``, then
  ``dead_letter``.

Example::

    policy = RetryPolicy(max_attempts=5, min_backoff=0.5, max_backoff=30)
    d = policy.decide(RetryableError("429", retry_after=12), attempts=1, first_failure_at=t0, now=t0)
    d.action, d.delay        # ('retry', 12.0)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from backbone.errors import AuthenticationError, PermanentError, RetryableError

__all__ = ["NotYetAvailableError", "RetryDecision", "RetryPolicy"]


class NotYetAvailableError(RetryableError):
    """The target record this one needs does not exist yet (e.g. the Odoo picking of a shipment).

    Retried with bounded delay up to the policy's grace period, then dead-lettered with reason.
    """


@dataclass(frozen=True)
class RetryDecision:
    action: Literal["retry", "dead_letter", "pause"]
    delay: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """Immutable retry settings; ``decide`` is pure (pass ``rng`` for deterministic jitter)."""

    max_attempts: int = 8
    min_backoff: float = 0.5
    max_backoff: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_retry_after: float = 600.0
    grace_period: float = 600.0
    grace_max_delay: float = 30.0
    auth_retry_interval: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.min_backoff <= self.max_backoff:
            raise ValueError("need 0 <= min_backoff <= max_backoff")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay after failed attempt ``attempt`` (1-based): min * multiplier^(n-1), capped, +-jitter.

        Jitter spreads retries of many records so they do not hit a recovering target together;
        the result never leaves [min_backoff, max_backoff].
        """
        exponent = min(max(attempt - 1, 0), 64)  # avoid float overflow on absurd attempt counts
        base = min(self.max_backoff, self.min_backoff * self.multiplier**exponent)
        if self.jitter:
            base *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return min(self.max_backoff, max(self.min_backoff, base))

    def _honour(self, delay: float, error: BaseException) -> float:
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            return max(delay, min(float(retry_after), self.max_retry_after))
        return delay

    def decide(
        self,
        error: BaseException,
        *,
        attempts: int,
        first_failure_at: float,
        now: float,
        rng: random.Random | None = None,
    ) -> RetryDecision:
        """What to do after ``attempts`` failed attempts, the first at ``first_failure_at``."""
        if isinstance(error, AuthenticationError):
            return RetryDecision("pause", self.auth_retry_interval, "credentials refused")
        if isinstance(error, PermanentError):
            return RetryDecision("dead_letter", 0.0, str(error))
        if isinstance(error, NotYetAvailableError):
            remaining = first_failure_at + self.grace_period - now
            if remaining <= 0:
                return RetryDecision(
                    "dead_letter", 0.0, f"missing record after grace period of {self.grace_period:g}s: {error}"
                )
            delay = min(self._honour(self.backoff(attempts, rng), error), self.grace_max_delay)
            # The last try lands on the end of the grace period rather than long after it.
            return RetryDecision("retry", max(0.0, min(delay, remaining)), "not yet available")
        if attempts >= self.max_attempts:
            return RetryDecision("dead_letter", 0.0, f"gave up after {attempts} attempts: {error}")
        return RetryDecision("retry", self._honour(self.backoff(attempts, rng), error), type(error).__name__)
