"""Settings of the WMS bridge: the shared sink settings (``BACKBONE_WMS_BRIDGE_*``) plus the WMS.

Example::

    BACKBONE_WMS_URL=https://wms.example.com BACKBONE_WMS_API_KEY=... \\
    BACKBONE_WMS_BRIDGE_RECONCILE_INTERVAL=60 backbone wms-bridge
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import NoDecode

from backbone.config import service_config
from backbone.sink import SinkConfig

__all__ = ["WmsBridgeConfig"]


class WmsBridgeConfig(SinkConfig):
    model_config = service_config("WMS_BRIDGE_")

    sink_name: str = Field(default="wms_bridge", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    target: str = "wms"
    topic_roles: Annotated[tuple[str, ...], NoDecode] = ("canonical.order-milestones",)
    health_port: int | None = 8182
    # The WMS decides what a create or a cancel means (a cancel is a command, not a status that
    # must not move "backwards"), so the monotonic guard is off: every record is "unguarded".
    rank_field: str | None = None

    wms_url: str = Field(
        default="http://127.0.0.1:8070", validation_alias=AliasChoices("BACKBONE_WMS_URL", "wms_url")
    )
    wms_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BACKBONE_WMS_API_KEY", "wms_api_key")
    )
    wms_timeout: float = Field(default=10.0, gt=0, description="seconds one WMS HTTP call may take")
    rate_limit: float | None = Field(default=None, gt=0, description="WMS calls per second; None = no limit")
    rate_burst: int = Field(default=1, ge=1)

    partner: str = Field(
        default="shiphero",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="partner id of published answers: keys '<partner>:<order_ref>' match the WMS's own webhooks",
    )
    warehouse: str = Field(default="Reno DC", min_length=1, description="warehouse name reported with answers")
    answer_role: str = Field(default="raw.warehouse", description="topics.yaml role answers and polls go to")

    reconcile_interval: float = Field(default=60.0, ge=0, description="seconds between polls; 0 = no polling")
    reconcile_lookback: float = Field(default=86_400.0, ge=0, description="history read by the very first poll")
    reconcile_page_size: int = Field(default=50, ge=1, le=1000)
    reconcile_inventory: bool = Field(default=True, description="poll stock movements too")
    awaiting_acceptance_minutes: float = Field(
        default=15.0, ge=0, description="released orders with no acceptance after this long count as awaiting"
    )
