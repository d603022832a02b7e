"""Dedupe state on a Faust table, with a time-to-live.

Values are stored as ``<epoch seconds>|<value>`` (UTF-8, raw bytes in the table); a read older
than the TTL counts as absent, the changelog topic's ``retention.ms`` equals the TTL so restores
stay bounded, and ``purge`` drops expired keys from the local RocksDB store.

Faust owns the table's life cycle: partition assignment, RocksDB files, changelog topic, recovery
(replaying the changelog into RocksDB from the last persisted offset) and standbys. The
per-key path through the table API is not used, because per key it costs a codec round trip, a
sensor call, a membership test before every read (with a KeyError for every absent key, which is
most of them here) and, for every write, a changelog future queued through Faust's producer
buffer. Instead, for the RocksDB store, reads go straight to the partition's database and a
batch's writes go to it as one ``WriteBatch`` per partition, while the same bytes go to the
same partition of the changelog topic through our confluent-kafka producer (one ``produce_batch``
per partition, acknowledged once); then the changelog offsets are recorded as persisted, as Faust
does. Other stores (``memory://`` in tests) and plain dicts go through the mapping API.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from backbone.delivery import DeliveryBatch

__all__ = ["ChangelogWriter", "TtlTableStore"]


class TtlTableStore:
    """A ``StateStore`` (get/set of str) over a Faust table, or any mutable mapping of bytes in tests.

    ``route(partition)`` selects the table partition that reads go to (the partition of the raw
    event being processed: tables are co-partitioned with their source topic).
    """

    def __init__(self, table: MutableMapping[Any, Any], ttl_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.ttl = ttl_seconds
        self.clock = clock
        self.data: Any = getattr(table, "data", table)
        self._rocksdb = getattr(self.data, "use_rocksdict", False) and hasattr(self.data, "_db_for_partition")
        self._reader: Any = self.data
        self.partition = 0

    def route(self, partition: int) -> None:
        """Reads that follow go to ``partition`` (RocksDB has one database per partition)."""
        self.partition = partition
        # Looked up per event, never kept across batches: Faust drops a revoked partition's db.
        self._reader = self.db(partition) if self._rocksdb else self.data

    def db(self, partition: int) -> Any:
        return self.data._db_for_partition(partition)

    @property
    def direct(self) -> bool:
        return bool(self._rocksdb)

    def get(self, key: str) -> str | None:
        raw = self._reader.get(key.encode())
        if raw is None:
            return None
        stamp, _, value = _text(raw).partition("|")
        try:
            if self.clock() - float(stamp) > self.ttl:
                return None
        except ValueError:
            return None
        return value

    def set(self, key: str, value: str) -> None:
        self.table[key.encode()] = f"{int(self.clock())}|{value}".encode()

    def expired(self, items: Iterable[tuple[Any, Any]]) -> list[Any]:
        """Keys of ``items`` ((key, raw value) pairs) whose TTL has passed."""
        now = self.clock()
        out = []
        for key, raw in items:
            stamp = _text(raw).partition("|")[0]
            try:
                if now - float(stamp) > self.ttl:
                    out.append(key)
            except ValueError:
                out.append(key)
        return out


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class ChangelogWriter:
    """A batch's dedupe writes: local store plus changelog, the same bytes Faust would write and replay."""

    def __init__(self, table: Any, store: TtlTableStore) -> None:
        self._table = table
        self._store = store
        self._pending: defaultdict[int, dict[bytes, bytes]] = defaultdict(dict)

    @property
    def topic(self) -> str:
        return str(self._table.changelog_topic_name)

    def add(self, partition: int, writes: dict[str, str], stamp: str) -> None:
        """Queue one raw event's writes (later writes of a key in the batch win, as in the table)."""
        pending = self._pending[partition]
        for key, value in writes.items():
            pending[key.encode()] = f"{stamp}|{value}".encode()

    def flush(self, batch: DeliveryBatch) -> None:
        """Write the queued keys to the local store and produce them to the changelog (await ``batch``)."""
        from rocksdict import WriteBatch

        topic = self.topic
        for partition, writes in self._pending.items():
            if self._store.direct:
                wb = WriteBatch(raw_mode=True)
                for key, value in writes.items():
                    wb.put(key, value)
                self._store.db(partition).write(wb)
            else:
                for key, value in writes.items():
                    self._store.data[key] = value
            batch.send_many(topic, partition, [{"key": k, "value": v} for k, v in writes.items()])
        self._pending.clear()

    def persisted(self, offsets: dict[tuple[str, int], int]) -> None:
        """Record acknowledged changelog offsets, so a restart replays only what RocksDB lacks."""
        from faust.types import TP

        topic = self.topic
        setter = getattr(self._store.data, "set_persisted_offset", None)
        if setter is None:
            return
        for (name, partition), offset in offsets.items():
            if name == topic:
                setter(TP(topic, partition), offset)
