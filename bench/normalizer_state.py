"""On-disk size of the normalizer's dedupe state (the worker must be stopped first).

Faust keeps one RocksDB per table partition (``<datadir>/<app>-data/v1/tables/<table>-<n>.db``).
"As written" is what the directories hold when the worker stops (mostly the write-ahead log: the
64 MB memtables are not flushed yet); "compacted" is after a full manual compaction, i.e. the
steady-state SST size once RocksDB has flushed and compacted, which is what a volume must hold.
Both are divided by the number of live keys and scaled to a million keys: the per-key cost is flat
(keys and values are short strings), so a 200k-key run extrapolates linearly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from rocksdict import AccessType, Options, Rdict


def _bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def state_size(datadir: Path) -> dict[str, Any]:
    dbs = sorted(p for p in datadir.rglob("*.db") if p.is_dir())
    written = sum(_bytes(db) for db in dbs)
    keys = key_bytes = value_bytes = 0
    for path in dbs:
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_write())
        for key, value in db.items():  # raw mode: both are bytes
            keys += 1
            key_bytes += len(cast(bytes, key))
            value_bytes += len(cast(bytes, value))
        db.compact_range(None, None)
        db.close()
    compacted = sum(_bytes(db) for db in dbs)
    per_million = 1e6 / keys if keys else 0.0
    return {
        "keys": keys,
        "databases": len(dbs),
        "bytes_as_written": written,
        "bytes_compacted": compacted,
        "bytes_per_million_keys": round(written * per_million),
        "bytes_per_million_keys_compacted": round(compacted * per_million),
        "avg_key_bytes": round(key_bytes / keys, 1) if keys else 0,
        "avg_value_bytes": round(value_bytes / keys, 1) if keys else 0,
    }
