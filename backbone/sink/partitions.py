"""PartitionBook: what one sink process owns right now, partition by partition.

Each owned partition has an :class:`~backbone.sink.offsets.OffsetTracker` (what may be
committed), a generation (so a record finishing after its partition was revoked and re-assigned
cannot move the new owner's offsets) and the number of its records waiting to be retried (which
keeps that partition, and only that one, paused).

Example::

    book = PartitionBook()
    book.assign([("t", 0)])
    gen = book.track(("t", 0), 41)
    book.settled(("t", 0), gen, 41)
    book.committable()          # {('t', 0): 42}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from backbone.sink.offsets import OffsetTracker

__all__ = ["TP", "PartitionBook"]

TP = tuple[str, int]


@dataclass
class _Partition:
    generation: int
    tracker: OffsetTracker = field(default_factory=OffsetTracker)
    retrying: int = 0


class PartitionBook:
    def __init__(self) -> None:
        self._parts: dict[TP, _Partition] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._parts)

    def __contains__(self, tp: object) -> bool:
        return tp in self._parts

    def owned(self) -> set[TP]:
        return set(self._parts)

    def assign(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self._generation += 1
            self._parts[tp] = _Partition(self._generation)

    def release(self, tps: Iterable[TP]) -> dict[TP, int]:
        """Forget partitions; returns the offsets that were committable at that moment."""
        offsets: dict[TP, int] = {}
        for tp in tps:
            part = self._parts.pop(tp, None)
            if part is not None:
                offset = part.tracker.committable()
                if offset is not None:
                    offsets[tp] = offset
        return offsets

    def track(self, tp: TP, offset: int) -> int:
        """Register a fetched record; returns the partition's generation for the record to carry."""
        if tp not in self._parts:  # assignment not seen yet (should not happen): own it now
            self.assign([tp])
        part = self._parts[tp]
        part.tracker.add(offset)
        return part.generation

    def _current(self, tp: TP, generation: int) -> _Partition | None:
        part = self._parts.get(tp)
        return part if part is not None and part.generation == generation else None

    def settled(self, tp: TP, generation: int, offset: int) -> None:
        part = self._current(tp, generation)
        if part is not None:
            part.tracker.done(offset)

    def retrying(self, tp: TP, generation: int, on: bool) -> None:
        part = self._current(tp, generation)
        if part is not None:
            part.retrying = max(0, part.retrying + (1 if on else -1))

    def retrying_partitions(self) -> set[TP]:
        return {tp for tp, part in self._parts.items() if part.retrying > 0}

    def committable(self) -> dict[TP, int]:
        out: dict[TP, int] = {}
        for tp, part in self._parts.items():
            offset = part.tracker.committable()
            if offset is not None:
                out[tp] = offset
        return out

    def mark_committed(self, committed: Mapping[TP, int]) -> None:
        for tp, offset in committed.items():
            part = self._parts.get(tp)
            if part is not None:
                part.tracker.mark_committed(offset)

    def lag(self, high_watermarks: Mapping[TP, int]) -> dict[TP, int]:
        """Records not yet settled (or not yet fetched) per partition."""
        out: dict[TP, int] = {}
        for tp, high in high_watermarks.items():
            part = self._parts.get(tp)
            if part is None:
                continue
            position = part.tracker.lowest_pending
            if position is None:
                position = part.tracker.position()
            if position is not None:
                out[tp] = max(0, high - position)
        return out
