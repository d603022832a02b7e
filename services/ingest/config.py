"""IngestConfig: every ingest setting, from ``BACKBONE_INGEST_*`` variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field

from backbone.config import BackboneConfig, repo_root, service_config

__all__ = ["DEMO_SECRETS_VAR", "SECRETS_DIR_VAR", "IngestConfig"]

# Not prefixed with INGEST_: the Helm chart mounts one partner secret volume for the whole backbone.
SECRETS_DIR_VAR = "BACKBONE_PARTNER_SECRETS_DIR"
DEMO_SECRETS_VAR = "BACKBONE_INGEST_DEMO_SECRETS"


class IngestConfig(BackboneConfig):
    """Settings of the ingest service. Partner definitions live in ``partners_file`` (data, not env)."""

    model_config = service_config("INGEST_")

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    partners_file: Path = Field(default_factory=lambda: repo_root() / "config" / "partners.yaml")
    secrets_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(SECRETS_DIR_VAR, "secrets_dir"),
        description="Directory of mounted secret files, one per partner id (Kubernetes Secret volume).",
    )
    demo_secrets: bool = Field(
        default=False,
        description="Local demo only: fall back to config/demo-secrets.yaml for partners without a secret.",
    )
    demo_secrets_file: Path = Field(default_factory=lambda: repo_root() / "config" / "demo-secrets.yaml")
    max_batch_events: int = Field(default=1000, ge=1, le=100_000, description="NDJSON lines per /v1/events request")
    max_event_bytes: int = Field(default=900_000, ge=1024, le=900_000, description="one event: body or NDJSON line")
    produce_timeout_s: float = Field(default=5.0, gt=0, le=120, description="Kafka ack deadline per request")
    retry_after_s: int = Field(default=5, ge=1, le=3600, description="Retry-After sent with 503")
    replay_cache_size: int = Field(default=200_000, ge=1000)
    readiness_cache_s: float = Field(default=1.0, ge=0)
    shutdown_timeout_s: float = Field(default=20.0, gt=0, description="drain deadline for in-flight requests")
    trusted_proxy_hops: int = Field(default=0, ge=0, le=10, description="X-Forwarded-For hops to trust")
    access_log: bool = True
    linger_ms: int = Field(default=5, ge=0, le=1000)
