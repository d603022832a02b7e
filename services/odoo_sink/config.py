"""Settings of odoo_sink: the sink runtime's (``BACKBONE_ODOO_SINK_*``) plus how to reach Odoo
(``BACKBONE_ODOO_URL``, ``BACKBONE_ODOO_DB``, ``BACKBONE_ODOO_LOGIN``, ``BACKBONE_ODOO_API_KEY``
(required), ``BACKBONE_ODOO_PROTOCOL`` = jsonrpc | json2).

Example::

    cfg = load(OdooSinkConfig)                     # ConfigError names a missing BACKBONE_ODOO_API_KEY
    cfg.odoo.protocol, cfg.topic_roles, cfg.health_port
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import NoDecode

from backbone.config import service_config
from backbone.sink import SinkConfig
from services.odoo_sink.connection import API_KEY_VAR, OdooConnectionConfig
from services.odoo_sink.mapping import DEFAULT_MAPPING, OdooMapping, load_mapping

__all__ = ["SHIPMENT_ROLE", "OdooSinkConfig"]

SHIPMENT_ROLE = "canonical.shipment-milestones"


class OdooSinkConfig(SinkConfig):
    model_config = service_config("ODOO_SINK_")

    sink_name: str = Field(default="odoo_sink", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    target: str = "odoo"
    topic_roles: Annotated[tuple[str, ...], NoDecode] = (
        SHIPMENT_ROLE,
        "canonical.order-milestones",
        "canonical.inventory-events",
    )
    health_port: int | None = Field(default=8181, description="/healthz /readyz /metrics; None = off, 0 = any")
    # Odoo answers in tens of milliseconds; 64 calls in flight keep one process busy at 5-50 ms.
    concurrency: int = Field(default=64, ge=1, le=1024)

    odoo: OdooConnectionConfig = Field(default_factory=OdooConnectionConfig)
    mapping_file: Path = Field(default=DEFAULT_MAPPING, description="codes -> Odoo effects (mapping.yaml)")
    picking_cache_size: int = Field(default=20_000, ge=0, description="shipments whose picking id is remembered")
    stale_shipment_hours: float = Field(
        default=24.0, gt=0, description="undelivered shipments without a milestone this long are counted"
    )
    stale_check_interval: float = Field(default=60.0, ge=0, description="seconds between two counts; 0 = off")

    @model_validator(mode="after")
    def _credentials(self) -> OdooSinkConfig:
        # Fail at start-up, naming the variable, rather than on the first record.
        if not self.odoo.api_key.get_secret_value():
            raise ValueError(f"{API_KEY_VAR} is not set; create an API key for the integration user in Odoo")
        return self

    def connection(self) -> OdooConnectionConfig:
        """The Odoo settings the client uses: one HTTP connection per concurrent record unless
        ``BACKBONE_ODOO_MAX_CONNECTIONS`` says otherwise (an Odoo with few workers wants fewer)."""
        if "max_connections" in self.odoo.model_fields_set:
            return self.odoo
        return self.odoo.model_copy(update={"max_connections": self.concurrency})

    def mapping(self) -> OdooMapping:
        return load_mapping(self.mapping_file)
