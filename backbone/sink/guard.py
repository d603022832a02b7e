"""Monotonic guard: a late IN_TRANSIT never overwrites DELIVERED at the target.

The ledger keeps the highest rank applied per (sink, entity key). Before a record is applied the
runtime asks :func:`judge` for a :class:`GuardVerdict` and hands it to the handler: the handler
must not call the target's status-changing method when ``verdict.allowed`` is False (it may still
record the fact, e.g. as a note). Ranks come from :mod:`backbone.canonical`; unranked codes
(EXCEPTION, CANCELLED, UNKNOWN: rank 0) never overwrite a ranked status. A deployment may permit
explicit regressions, e.g. ``(85, 80)``: DELIVERY_ATTEMPT_FAILED -> OUT_FOR_DELIVERY next day.

Example::

    v = judge(current=90, new=70)
    v.allowed, v.reason          # (False, 'regression')
    judge(current=85, new=80, allow_regressions=frozenset({(85, 80)})).store_rank   # 80
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from backbone.canonical import allowed_transition

__all__ = ["GuardVerdict", "VerdictReason", "judge"]

VerdictReason = Literal[
    "unguarded",  # the record has no rank (e.g. inventory events): nothing to protect
    "first",  # nothing applied yet for this entity
    "advance",  # higher rank than what the target has
    "same",  # same rank again (e.g. a second IN_TRANSIT checkpoint)
    "allowed_regression",  # lower rank, explicitly permitted by configuration
    "regression",  # lower rank: would move the target backwards
    "unranked",  # rank 0 (EXCEPTION, CANCELLED, UNKNOWN) over a ranked status
]


@dataclass(frozen=True)
class GuardVerdict:
    allowed: bool
    reason: VerdictReason
    current_rank: int | None
    new_rank: int | None

    @property
    def stale(self) -> bool:
        return not self.allowed

    @property
    def store_rank(self) -> int | None:
        """Rank the entity state takes once the record is applied (None: leave it unchanged)."""
        if not self.allowed or self.new_rank is None or self.new_rank <= 0:
            return None
        if self.reason == "same":
            return None
        return self.new_rank


def judge(
    current: int | None, new: int | None, *, allow_regressions: frozenset[tuple[int, int]] = frozenset()
) -> GuardVerdict:
    """Verdict for moving an entity whose applied rank is ``current`` to ``new``."""
    if new is None:
        return GuardVerdict(True, "unguarded", current, new)
    if current is None:
        return GuardVerdict(True, "first", current, new)
    if not allowed_transition(current, new, allow_regressions=allow_regressions):
        return GuardVerdict(False, "unranked" if new == 0 else "regression", current, new)
    if new == current:
        return GuardVerdict(True, "same", current, new)
    if new < current:
        return GuardVerdict(True, "allowed_regression", current, new)
    return GuardVerdict(True, "advance", current, new)
