"""SinkConfig: settings every sink shares; a service subclasses it with its own env prefix.

Example::

    class OdooSinkConfig(SinkConfig):
        model_config = service_config("ODOO_SINK_")      # BACKBONE_ODOO_SINK_CONCURRENCY=64 ...
        sink_name: str = "odoo_sink"
        target: str = "odoo"
        topic_roles: tuple[str, ...] = ("canonical.shipment-milestones", "canonical.order-milestones")

    cfg = load(OdooSinkConfig, force_reapply=True)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode

from backbone import env
from backbone.config import BackboneConfig, repo_root, service_config
from backbone.sink.records import RecordFields
from backbone.sink.retry import RetryPolicy

__all__ = ["SinkConfig", "comma_separated"]


def comma_separated(value: Any, json_start: str, build: Callable[[list[str]], Any]) -> Any:
    """A setting the environment writes as ``"a, b,c"``: ``build`` gets the stripped, non-empty parts.

    A string starting with ``json_start`` (``[`` or ``{``) is JSON; anything else (a value given in
    code) passes through as it is. For ``mode="before"`` validators: pydantic checks the result.
    """
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith(json_start):
        return json.loads(value)
    return build([p.strip() for p in value.split(",") if p.strip()])


class SinkConfig(BackboneConfig):
    model_config = service_config("SINK_")

    # One topics file for the whole deployment, whatever the service's env prefix.
    topics_file: Path = Field(
        default_factory=lambda: repo_root() / "topics.yaml",
        validation_alias=AliasChoices(f"{env.PREFIX}TOPICS_FILE", "topics_file"),
    )
    sink_name: str = Field(default="sink", pattern=r"^[a-z][a-z0-9_]{0,62}$", description="ledger/DLQ/metrics name")
    target: str = Field(default="target", description="target system name (breaker, metrics, spans)")
    topic_roles: Annotated[tuple[str, ...], NoDecode] = ("canonical.shipment-milestones",)
    group_id: str | None = Field(default=None, description="consumer group; default <sink_name>")
    dlq_role: str | None = Field(default=None, description="topics.yaml role of the DLQ; default dlq.<sink_name>")

    concurrency: int = Field(default=32, ge=1, le=1024, description="records applied at once, across keys")
    max_buffered: int = Field(
        default=2000, ge=1, description="fetched records queued or running before fetching pauses"
    )
    max_awaiting_target: int = Field(
        default=10_000, ge=0,
        description="records waiting for a missing target record that do not count toward max_buffered",
    )
    fetch_batch: int = Field(default=500, ge=1, le=10_000)
    call_timeout: float = Field(default=30.0, gt=0, description="seconds one handler call may take")
    commit_interval: float = Field(default=1.0, gt=0)
    revoke_timeout: float = Field(default=10.0, ge=0, description="seconds to finish in-flight work on revoke")
    shutdown_deadline: float = Field(default=25.0, ge=0)

    retry_max_attempts: int = Field(default=8, ge=1)
    retry_min_backoff: float = Field(default=0.5, ge=0)
    retry_max_backoff: float = Field(default=60.0, ge=0)
    retry_multiplier: float = Field(default=2.0, ge=1)
    retry_jitter: float = Field(default=0.2, ge=0, lt=1)
    retry_max_retry_after: float = Field(default=600.0, ge=0)
    grace_period: float = Field(default=600.0, ge=0, description="how long a missing target record is waited for")
    grace_max_delay: float = Field(default=30.0, gt=0)
    auth_retry_interval: float = Field(default=30.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown: float = Field(default=30.0, ge=0)

    ledger_schema: str = Field(default="backbone", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=16, ge=1)
    force_reapply: bool = Field(default=False, description="re-send records the ledger says were applied")
    allow_regressions: Annotated[frozenset[tuple[int, int]], NoDecode] = Field(
        default=frozenset(), description="rank pairs 'from:to' the guard lets through, e.g. 85:80"
    )
    call_handler_on_stale: bool = Field(default=True, description="give stale records to the handler (notes)")
    milestone_field: str = "milestone_id"
    rank_field: str | None = "rank"
    entity_key_field: str | None = None

    health_host: str = "0.0.0.0"
    health_port: int | None = Field(default=8080, description="/healthz /readyz /metrics; None = off, 0 = any")
    consumer_overrides: dict[str, str | int | bool] = Field(default_factory=dict, description="librdkafka settings")

    @field_validator("topic_roles", mode="before")
    @classmethod
    def _roles(cls, value: Any) -> Any:
        """Accept ``"canonical.shipment-milestones,canonical.order-milestones"`` from the environment."""
        return comma_separated(value, "[", tuple)

    @field_validator("allow_regressions", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        """Accept ``"85:80,99:95"`` from the environment as well as a list of pairs."""
        return comma_separated(value, "[", lambda pairs: frozenset(
            (int(a), int(b)) for a, b in (p.split(":", 1) for p in pairs)))

    @property
    def consumer_group(self) -> str:
        # The runbook's `backbone replay --group odoo_sink` relies on group == sink name.
        return self.group_id or self.sink_name

    @property
    def dlq_topic_role(self) -> str:
        return self.dlq_role or f"dlq.{self.sink_name}"

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.retry_max_attempts,
            min_backoff=self.retry_min_backoff,
            max_backoff=max(self.retry_max_backoff, self.retry_min_backoff),
            multiplier=self.retry_multiplier,
            jitter=self.retry_jitter,
            max_retry_after=self.retry_max_retry_after,
            grace_period=self.grace_period,
            grace_max_delay=self.grace_max_delay,
            auth_retry_interval=self.auth_retry_interval,
        )

    def record_fields(self) -> RecordFields:
        return RecordFields(self.milestone_field, self.rank_field, self.entity_key_field)
