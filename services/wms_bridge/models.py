"""Typed requests to and answers from the WMS/3PL order API (plain dataclasses, no HTTP).

Answers are parsed leniently (unknown fields ignored, unknown statuses kept as text) because the
normalizer, not the bridge, decides what a partner status means. Personal data (names, addresses,
phones) stays out of ``repr`` so an answer or request can be logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "Address",
    "ChangesPage",
    "FieldIssue",
    "InventoryChange",
    "InventoryPage",
    "OrderAnswer",
    "OrderLine",
    "OrderRequest",
    "PackageInfo",
    "StatusChange",
]


def _dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {value!r}")
    return moment


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Address:
    name: str = field(repr=False)
    address1: str = field(repr=False)
    city: str = field(repr=False)
    postal_code: str = field(repr=False)
    country: str
    address2: str | None = field(default=None, repr=False)
    state: str | None = None
    company: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, str]:
        values = {
            "name": self.name, "company": self.company, "address1": self.address1, "address2": self.address2,
            "city": self.city, "state": self.state, "postal_code": self.postal_code, "country": self.country,
            "phone": self.phone, "email": self.email,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class OrderLine:
    sku: str
    qty: int


@dataclass(frozen=True)
class OrderRequest:
    """An outbound order released to the warehouse. ``order_ref`` is our (Odoo) order reference."""

    order_ref: str
    lines: tuple[OrderLine, ...]
    ship_to: Address
    requested_carrier: str | None = None
    requested_service: str | None = None
    partner_order_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "order_ref": self.order_ref,
            "lines": [{"sku": line.sku, "qty": line.qty} for line in self.lines],
            "ship_to": self.ship_to.to_json(),
        }
        for key in ("requested_carrier", "requested_service", "partner_order_id"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        return body


@dataclass(frozen=True)
class FieldIssue:
    """One field the partner refused, with its machine reason (e.g. ``unknown_sku``)."""

    field: str
    reason: str
    message: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldIssue:
        return cls(str(data.get("field", "")), str(data.get("reason", "")), str(data.get("message", "")))


@dataclass(frozen=True)
class PackageInfo:
    shipment_id: str
    package_number: int
    total_packages: int
    carrier: str
    service: str | None
    tracking_number: str
    tracking_url: str | None
    shipped_at: datetime | None
    line_items: tuple[OrderLine, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackageInfo:
        return cls(
            shipment_id=str(data["shipment_id"]),
            package_number=int(data.get("package_number", 1)),
            total_packages=int(data.get("total_packages", 1)),
            carrier=str(data["carrier"]),
            service=_opt_str(data.get("service")),
            tracking_number=str(data["tracking_number"]),
            tracking_url=_opt_str(data.get("tracking_url")),
            shipped_at=_dt(data.get("shipped_at")),
            line_items=tuple(OrderLine(str(i["sku"]), int(i["quantity"])) for i in data.get("line_items", [])),
        )


@dataclass(frozen=True)
class StatusChange:
    """One step of an order's history at the warehouse (``{"status": "picked", "at": ...}``)."""

    status: str
    at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusChange:
        at = _dt(data.get("at"))
        if at is None:
            raise ValueError("history entry without 'at'")
        return cls(str(data["status"]), at)


@dataclass(frozen=True)
class OrderAnswer:
    """The warehouse's view of one order. ``replayed``: answered from an Idempotency-Key replay.

    ``history`` lists every status the order went through with its time, oldest first (empty when
    the WMS does not report it); it gives each fact a stable time, so re-polling repeats it exactly.
    """

    id: str
    order_ref: str
    status: str
    reason: str | None
    created_at: datetime | None
    updated_at: datetime | None
    packages: tuple[PackageInfo, ...] = ()
    replayed: bool = False
    history: tuple[StatusChange, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, replayed: bool = False) -> OrderAnswer:
        return cls(
            id=str(data["id"]),
            order_ref=str(data["order_ref"]),
            status=str(data["status"]),
            reason=_opt_str(data.get("reason")),
            created_at=_dt(data.get("created_at")),
            updated_at=_dt(data.get("updated_at")),
            packages=tuple(PackageInfo.from_json(p) for p in data.get("shipments") or []),
            replayed=replayed,
            history=tuple(StatusChange.from_json(h) for h in data.get("history") or [] if isinstance(h, Mapping)),
        )


@dataclass(frozen=True)
class ChangesPage:
    """One page of changed orders. Keep ``next_cursor`` and poll with it to get only newer changes."""

    orders: tuple[OrderAnswer, ...]
    next_cursor: str | None
    has_more: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChangesPage:
        return cls(tuple(OrderAnswer.from_json(o) for o in data["orders"]), _opt_str(data.get("next_cursor")),
                   bool(data.get("has_more", False)))


@dataclass(frozen=True)
class InventoryChange:
    id: str
    sku: str
    warehouse: str
    delta: int
    on_hand: int
    reason: str
    occurred_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InventoryChange:
        return cls(str(data["id"]), str(data["sku"]), str(data.get("warehouse", "")), int(data["delta"]),
                   int(data["on_hand"]), str(data.get("reason", "")), _dt(data.get("occurred_at")))


@dataclass(frozen=True)
class InventoryPage:
    changes: tuple[InventoryChange, ...]
    next_cursor: str | None
    has_more: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InventoryPage:
        return cls(tuple(InventoryChange.from_json(c) for c in data["changes"]),
                   _opt_str(data.get("next_cursor")), bool(data.get("has_more", False)))
