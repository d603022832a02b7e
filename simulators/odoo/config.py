"""Settings of the Odoo simulator: one database, one API-key user, optional OCA modules, access rights."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["API_KEY_ENV", "DEFAULT_ACL", "SimulatorConfig"]

# Same variable the odoo_sink reads, so a local demo needs one export (lead: add it to backbone/env.py).
API_KEY_ENV = "BACKBONE_ODOO_API_KEY"
DEMO_API_KEY = "odoo-dev-key"

_READ = frozenset({"read"})
# The integration user of a typical deployment: it may validate pickings, post on them and count
# stock, but only read sales orders and master data. Models not listed allow every operation.
DEFAULT_ACL: Mapping[str, frozenset[str]] = {
    "sale.order": _READ,
    "res.users": _READ,
    "product.product": _READ,
    "stock.location": _READ,
    "stock.picking.type": _READ,
    "delivery.carrier": _READ,
    "mail.message.subtype": _READ,
}


def _api_key_from_env() -> str:
    return os.environ.get(API_KEY_ENV) or DEMO_API_KEY


@dataclass(frozen=True)
class SimulatorConfig:
    """``delivery_state`` installs the OCA module's fields on stock.picking; ``seed_demo`` loads a
    few orders with outgoing pickings at startup and after each reset."""

    database: str = "backbone"
    login: str = "bot"
    api_key: str = field(default_factory=_api_key_from_env, repr=False)
    delivery_state: bool = False
    seed_demo: bool = False
    acl: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_ACL))
    server_version: str = "19.0"
    hang_s: float = 30.0  # how long the ``timeout`` fault holds a call before answering 504
