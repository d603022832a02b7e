"""Settings of the status normalizer (env prefix BACKBONE_NORMALIZER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from backbone.config import BackboneConfig, service_config

__all__ = ["NormalizerConfig"]


class NormalizerConfig(BackboneConfig):
    model_config = service_config("NORMALIZER_")

    app_id: str = Field(
        default="status_normalizer",
        description="Faust app id = consumer group and changelog prefix. A rebuild uses a new id "
        "(e.g. status_normalizer-rebuild-2) to re-run every raw record with empty dedupe state.",
    )
    datadir: Path = Field(default=Path(".backbone/normalizer"), description="RocksDB state (a volume in k8s)")
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    dedupe_ttl_days: float = Field(default=30.0, gt=0, description="How long a seen checkpoint is remembered")
    batch_max: int = Field(default=1000, ge=1, description="Events per take_events batch")
    batch_within: float = Field(default=0.005, gt=0, description="Seconds to wait for a batch to fill (latency "
                                 "bound at low rates; under load batches fill to batch_max first)")
    commit_depth: int = Field(default=0, ge=0, description="Batches computed while earlier ones await their "
                              "Kafka acknowledgements (their raw events stay unacked until then); 0 = none")
    producer_linger_ms: int = Field(default=1, ge=0, description="linger.ms of the canonical/changelog producer: "
                                    "each batch waits for two acknowledgements in a row")
    auto_offset_reset: str = "earliest"
    store: str = Field(default="rocksdb://", description="Faust table store; memory:// for tests")
    # One RocksDB per table partition (15 with topics.yaml). Faust's defaults (three 64 MB
    # memtables and a 2 GiB block cache each) would let a busy worker outgrow any pod limit.
    rocksdb_write_buffer_mb: int = Field(default=8, ge=1, description="memtable size per partition database")
    rocksdb_max_write_buffers: int = Field(default=2, ge=2, description="memtables per partition database")
    rocksdb_block_cache_mb: int = Field(default=8, ge=1, description="block cache per partition database")
    rocksdb_bloom_bits: int = Field(default=10, ge=1, description="bloom filter bits per key (10: ~1 % false "
                                    "positives; most dedupe reads are for keys never seen)")

    def rocksdb_options(self) -> dict[str, int]:
        """Options of every dedupe table's RocksDB (faust.stores.rocksdb.RocksDBOptions)."""
        mib = 1024 * 1024
        return {"write_buffer_size": self.rocksdb_write_buffer_mb * mib,
                "max_write_buffer_number": self.rocksdb_max_write_buffers,
                "block_cache_size": self.rocksdb_block_cache_mb * mib,
                "bloom_filter_size": self.rocksdb_bloom_bits}
