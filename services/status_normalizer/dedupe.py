"""Which records are new, which are late, and whether an order is now fully shipped.

Vendors re-send whole histories, so most records of a webhook were published before: their
deterministic milestone ids are in the state and they are dropped here. The state is a plain
key/value ``StateStore`` (a Faust table in production, ``MemoryStore`` in tests).

Two steps so at-least-once holds: ``new_records`` decides without touching the state; the caller
publishes, then calls ``remember``. A crash in between republishes the same ids, which consumers
already treat as duplicates. The seen-id keys grow with traffic: give the backing table a
retention (e.g. a windowed Faust table or changelog retention of a few weeks), longer than any
vendor re-sends history.

Example::

    dedupe = Deduper(store)
    fresh = dedupe.new_records(parse(payload, ctx))
    ...publish fresh...
    dedupe.remember(fresh)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from backbone.canonical import OrderCode

from .records import CanonicalRecord, InventoryEvent, OrderMilestone, ShipmentMilestone, dedupe_key, stream_key

__all__ = ["Deduper", "MemoryStore", "StateStore", "dedupe_key"]


class StateStore(Protocol):
    """The minimal key/value state the deduper needs."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class MemoryStore:
    """A ``StateStore`` in a dict that lives and dies with the process: tests and the bare benchmark.

    Not for a worker: a restart forgets what was published, so re-sent histories are published again.
    """

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self.data[key] = value


def _seen_key(record: CanonicalRecord) -> str:
    return f"seen:{record.milestone_id}"


def _seen_id_key(milestone_id: str) -> str:
    return f"seen:{milestone_id}"


def _latest_key(record: CanonicalRecord) -> str:
    return f"latest:{type(record).__name__}:{stream_key(record)}"


def _packages_key(order_ref: str) -> str:
    return f"shipped-packages:{order_ref}"


def _packages(text: str | None) -> set[int]:
    return {int(p) for p in text.split(",") if p} if text else set()


class Deduper:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    def published(self, milestone_id: str) -> bool:
        """Whether a record with this id was published (``new_records`` drops such records)."""
        return self._store.get(_seen_id_key(milestone_id)) is not None

    def new_records(self, records: Iterable[CanonicalRecord]) -> list[CanonicalRecord]:
        """Records not published before, oldest first, with ``out_of_order`` and ``fully_shipped`` set.

        A record is out of order when a later fact for the same shipment (or order) was already
        published by an earlier message; checkpoints inside one message are sorted, not flagged.
        """
        fresh: list[CanonicalRecord] = []
        ids: set[str] = set()
        for record in records:
            if record.milestone_id in ids or self._store.get(_seen_key(record)) is not None:
                continue
            ids.add(record.milestone_id)
            fresh.append(record)
        fresh.sort(key=lambda r: r.occurred_at)
        shipped: dict[str, set[int]] = {}
        return [self._annotate(record, shipped) for record in fresh]

    def _annotate(self, record: CanonicalRecord, shipped: dict[str, set[int]]) -> CanonicalRecord:
        if isinstance(record, InventoryEvent):
            return record  # no out_of_order field: COUNTED is absolute, deltas apply in any order
        latest = self._store.get(_latest_key(record))
        if latest is not None and record.occurred_at < datetime.fromisoformat(latest):
            record = dataclasses.replace(record, out_of_order=True)
        if isinstance(record, OrderMilestone):
            record = self._fully_shipped(record, shipped)
        return record

    def _fully_shipped(self, record: OrderMilestone, shipped: dict[str, set[int]]) -> OrderMilestone:
        if record.code is not OrderCode.SHIPPED or record.package_number is None or not record.total_packages:
            return record
        done = shipped.setdefault(record.order_ref, _packages(self._store.get(_packages_key(record.order_ref))))
        done.add(record.package_number)
        # Counted, not compared with set(range(...)): total_packages comes from the partner, and a
        # "1/999999999" package ref must not allocate a billion-element set.
        total = record.total_packages
        if sum(1 for p in done if 1 <= p <= total) == total and not record.fully_shipped:
            record = dataclasses.replace(record, fully_shipped=True)
        return record

    def remember(self, records: Sequence[CanonicalRecord]) -> None:
        """Record that ``records`` were published (call after the producer acknowledged them)."""
        for record in records:
            self._store.set(_seen_key(record), "1")
            if isinstance(record, ShipmentMilestone | OrderMilestone):
                key = _latest_key(record)
                latest = self._store.get(key)
                if latest is None or record.occurred_at > datetime.fromisoformat(latest):
                    self._store.set(key, record.occurred_at.isoformat())
            if isinstance(record, OrderMilestone) and record.code is OrderCode.SHIPPED and record.package_number:
                key = _packages_key(record.order_ref)
                done = _packages(self._store.get(key)) | {record.package_number}
                self._store.set(key, ",".join(str(p) for p in sorted(done)))
