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
