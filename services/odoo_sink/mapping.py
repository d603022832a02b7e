"""What the sink does in Odoo per canonical code, read from ``mapping.yaml`` (data, not code).

Example::

    mapping = load_mapping()                       # the packaged defaults
    mapping.shipment.delivery_state["DELIVERED"]   # 'customer_delivered'
    mapping.inventory.location_for("WH")           # 'WH/Stock'
    load_mapping(Path("/etc/backbone/odoo-mapping.yaml"))   # a deployment's own copy
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from backbone.canonical import OrderCode, ShipmentCode
from backbone.errors import ConfigError

__all__ = ["DEFAULT_MAPPING", "InventoryMapping", "OdooMapping", "OrderMapping", "ShipmentMapping", "load_mapping"]

DEFAULT_MAPPING = Path(__file__).with_name("mapping.yaml")


@dataclass(frozen=True)
class ShipmentMapping:
    delivery_state: Mapping[str, str] = field(default_factory=dict)
    date_delivered: frozenset[str] = frozenset({"DELIVERED"})
    date_shipped: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)
    note_signed_by: bool = True

    def label(self, code: str) -> str:
        return self.labels.get(code, code)


@dataclass(frozen=True)
class OrderMapping:
    validate: frozenset[str] = frozenset({"SHIPPED"})
    notes: frozenset[str] = frozenset()
    set_quantities_from_lines: bool = True


@dataclass(frozen=True)
class InventoryMapping:
    locations: Mapping[str, str] = field(default_factory=dict)
    location_pattern: str = "{warehouse}/Stock"

    def location_for(self, warehouse: str) -> str:
        return self.locations.get(warehouse) or self.location_pattern.format(warehouse=warehouse)


@dataclass(frozen=True)
class OdooMapping:
    shipment: ShipmentMapping = field(default_factory=ShipmentMapping)
    order: OrderMapping = field(default_factory=OrderMapping)
    inventory: InventoryMapping = field(default_factory=InventoryMapping)


def _section(doc: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    value = doc.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: '{name}' must be a mapping")
    return value


def _codes(values: Any, enum: type[StrEnum], where: str, path: Path) -> frozenset[str]:
    if not isinstance(values, list | tuple | set | frozenset):
        raise ConfigError(f"{path}: {where} must be a list of codes")
    unknown = sorted(str(v) for v in values if str(v) not in enum.__members__)
    if unknown:
        raise ConfigError(f"{path}: {where}: unknown {enum.__name__} {', '.join(unknown)}")
    return frozenset(str(v) for v in values)


def _strings(values: Any, enum: type[StrEnum] | None, where: str, path: Path) -> Mapping[str, str]:
    if not isinstance(values, Mapping) or not all(isinstance(v, str) for v in values.values()):
        raise ConfigError(f"{path}: {where} must map names to strings")
    if enum is not None:
        _codes(list(values), enum, where, path)
    return MappingProxyType({str(k): v for k, v in values.items()})


def load_mapping(path: Path | None = None) -> OdooMapping:
    """Read and check a mapping file (unknown codes are a ConfigError naming the file and key)."""
    path = path or DEFAULT_MAPPING
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the Odoo mapping {path}: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    ship, order, inv = (_section(doc, name, path) for name in ("shipment", "order", "inventory"))
    defaults = OdooMapping()
    shipment = ShipmentMapping(
        delivery_state=_strings(ship.get("delivery_state", {}), ShipmentCode, "shipment.delivery_state", path),
        date_delivered=_codes(
            ship.get("date_delivered", sorted(defaults.shipment.date_delivered)), ShipmentCode,
            "shipment.date_delivered", path),
        date_shipped=_codes(ship.get("date_shipped", []), ShipmentCode, "shipment.date_shipped", path),
        labels=_strings(ship.get("labels", {}), ShipmentCode, "shipment.labels", path),
        note_signed_by=bool(ship.get("note_signed_by", True)),
    )
    orders = OrderMapping(
        validate=_codes(order.get("validate", sorted(defaults.order.validate)), OrderCode, "order.validate", path),
        notes=_codes(order.get("notes", []), OrderCode, "order.notes", path),
        set_quantities_from_lines=bool(order.get("set_quantities_from_lines", True)),
    )
    pattern = inv.get("location_pattern", defaults.inventory.location_pattern)
    if not isinstance(pattern, str) or "{warehouse}" not in pattern:
        raise ConfigError(f"{path}: inventory.location_pattern must contain '{{warehouse}}'")
    inventory = InventoryMapping(
        locations=_strings(inv.get("locations", {}), None, "inventory.locations", path), location_pattern=pattern
    )
    return OdooMapping(shipment, orders, inventory)
