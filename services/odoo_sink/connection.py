"""How the sink reaches Odoo: URL, database, credentials, protocol and timeouts.

Read from ``BACKBONE_ODOO_*`` variables (``BACKBONE_ODOO_URL``, ``BACKBONE_ODOO_DB`` (or
``BACKBONE_ODOO_DATABASE``), ``BACKBONE_ODOO_LOGIN``, ``BACKBONE_ODOO_API_KEY``,
``BACKBONE_ODOO_PROTOCOL`` = ``jsonrpc`` | ``json2``...). The sink's own settings class can nest
it, as BackboneConfig nests KafkaSecurity.

Example::

    cfg = OdooConnectionConfig()   # reads BACKBONE_ODOO_*; or a field of the sink's own config
    async with make_client(cfg) as odoo:
        uid = await odoo.authenticate()
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings

from backbone import env
from backbone.config import service_config
from backbone.errors import ConfigError

__all__ = ["API_KEY_VAR", "OdooConnectionConfig"]

API_KEY_VAR = f"{env.PREFIX}ODOO_API_KEY"


class OdooConnectionConfig(BaseSettings):
    """``jsonrpc`` works with every Odoo up to 21 (deprecated from 19); ``json2`` needs Odoo 19+."""

    model_config = service_config("ODOO_")

    url: str = "http://127.0.0.1:8069"
    database: str = Field(
        default="backbone",
        validation_alias=AliasChoices(f"{env.PREFIX}ODOO_DB", f"{env.PREFIX}ODOO_DATABASE", "database"),
    )
    login: str = "bot"
    api_key: SecretStr = SecretStr("")
    protocol: Literal["jsonrpc", "json2"] = "jsonrpc"
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0, description="longest wait for one answer")
    total_timeout_s: float = Field(default=60.0, gt=0)
    send_database_header: bool = Field(default=True, description="X-Odoo-Database on JSON-2 calls")
    max_connections: int = Field(default=10, ge=1)
    user_agent: str = "logistics-backbone-odoo-sink/0.1"

    def api_key_value(self) -> str:
        """The key, or ConfigError naming the variable: never start a sink without credentials."""
        key = self.api_key.get_secret_value()
        if not key:
            raise ConfigError(f"{API_KEY_VAR} is not set; create an API key for the integration user in Odoo")
        return key
