"""OffsetTracker: which offset of a partition may be committed when records finish out of order.

Records of one partition finish in any order (different keys run concurrently), but a commit
says "everything before this offset is done". The tracker keeps fetched offsets in fetch order
and advances the commit position only over a done prefix, so a crash never skips unfinished work.

Example::

    t = OffsetTracker()
    for o in (10, 11, 12):
        t.add(o)
    t.done(11); t.committable()     # None: 10 is still running
    t.done(10); t.committable()     # 12 (10 and 11 are done; commit means "next to read")
"""

from __future__ import annotations

from collections import deque

__all__ = ["OffsetTracker"]


class OffsetTracker:
    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._next: int | None = None
        self.committed: int | None = None

    def add(self, offset: int) -> None:
        """Register a fetched offset (offsets arrive in increasing order per partition)."""
        if self._pending and offset <= self._pending[-1]:
            raise ValueError(f"offset {offset} fetched out of order after {self._pending[-1]}")
        self._pending.append(offset)

    def done(self, offset: int) -> None:
        """The record at ``offset`` is durable (applied, skipped or dead-lettered)."""
        self._done.add(offset)
        pending = self._pending
        while pending and pending[0] in self._done:
            first = pending.popleft()
            self._done.discard(first)
            self._next = first + 1

    def committable(self) -> int | None:
        """Offset to commit now (the next one to read), or None when nothing new is done."""
        if self._next is None or self._next == self.committed:
            return None
        return self._next

    def position(self) -> int | None:
        """Next offset to read after everything done so far (commit position, committed or not)."""
        return self._next

    def mark_committed(self, offset: int) -> None:
        self.committed = offset

    @property
    def in_progress(self) -> int:
        return len(self._pending)

    @property
    def lowest_pending(self) -> int | None:
        return self._pending[0] if self._pending else None
