"""Dedupe state on a Faust table, with a time-to-live.

Values are stored as ``<epoch seconds>|<value>``; a read older than the TTL counts as absent, the
changelog topic's ``retention.ms`` equals the TTL so restores stay bounded, and ``purge`` drops
expired keys from the local RocksDB store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["TtlTableStore"]


class TtlTableStore:
    """A ``StateStore`` (get/set of str) over a Faust table, or any mutable mapping in tests."""

    def __init__(self, table: MutableMapping[str, Any], ttl_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.ttl = ttl_seconds
        self.clock = clock

    def get(self, key: str) -> str | None:
        raw = self.table.get(key)
        if raw is None:
            return None
        stamp, _, value = str(raw).partition("|")
        try:
            if self.clock() - float(stamp) > self.ttl:
                return None
        except ValueError:
            return None
        return value

    def set(self, key: str, value: str) -> None:
        self.table[key] = f"{int(self.clock())}|{value}"

    def expired(self, items: Any) -> list[str]:
        """Keys of ``items`` ((key, raw value) pairs) whose TTL has passed."""
        now = self.clock()
        out = []
        for key, raw in items:
            stamp = str(raw).partition("|")[0]
            try:
                if now - float(stamp) > self.ttl:
                    out.append(key)
            except ValueError:
                out.append(key)
        return out
