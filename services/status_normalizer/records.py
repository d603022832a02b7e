"""Canonical records: plain frozen dataclasses whose fields mirror schemas/*.avsc one to one.

``to_avro()`` returns the dict the Avro serializer expects (aware datetimes for timestamp-micros,
enum symbols as strings). ``milestone_id``, ``rank`` and the Kafka key fields are derived in
``__post_init__`` so they can never disagree with the fields they come from.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from backbone.canonical import (
    ORDER_RANK,
    SHIPMENT_RANK,
    ExceptionReason,
    InventoryKind,
    OrderCode,
    ShipmentCode,
)

__all__ = [
    "MILESTONE_NAMESPACE",
    "Address",
    "CanonicalRecord",
    "InventoryEvent",
    "Location",
    "OrderLine",
    "OrderMilestone",
    "RawContext",
    "RawRef",
    "ShipmentIds",
    "ShipmentMilestone",
    "dedupe_key",
    "milestone_id_for",
    "shipment_dedupe_key",
    "stream_key",
    "utc_text",
]

# Fixed forever: changing it changes every milestone id ever published.
MILESTONE_NAMESPACE = uuid.UUID("5b0f3c52-8c1e-5e8a-9a57-2f1d3c4b6a70")
_SEP = "\x1f"  # unit separator: cannot appear in the JSON strings we key on by accident


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is not UTC and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware")


def utc_text(value: datetime) -> str:
    """The time as dedupe keys write it (UTC, microseconds)."""
    # Parsers hand over UTC datetimes already: skip the conversion (same text either way).
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class RawRef:
    """Pointer back to the raw record a canonical record was derived from."""

    event_id: str
    topic: str
    partition: int
    offset: int

    def to_avro(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class RawContext:
    """What the normalizer knows about a raw event besides its payload bytes."""

    partner: str
    format: str
    event_id: str
    received_at: datetime
    correlation_id: str
    topic: str
    partition: int
    offset: int

    def __post_init__(self) -> None:
        _require_aware("received_at", self.received_at)

    @property
    def raw_ref(self) -> RawRef:
        return RawRef(self.event_id, self.topic, self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class Location:
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2 when known
    description: str | None = None

    def key(self) -> str:
        return "|".join([(p or "").strip().casefold()
                         for p in (self.city, self.state, self.postal_code, self.country, self.description)])

    def to_avro(self) -> dict[str, Any]:
        return {
            "city": self.city,
            "state": self.state,
            "postal_code": self.postal_code,
            "country": self.country,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Address:
    """Destination of an order. Personal data: excluded from repr so it never reaches a log line."""

    name: str | None = field(default=None, repr=False)
    street: str | None = field(default=None, repr=False)
    city: str | None = field(default=None, repr=False)
    postal_code: str | None = field(default=None, repr=False)
    country: str | None = None
    phone: str | None = field(default=None, repr=False)

    def to_avro(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "street": self.street,
            "city": self.city,
            "postal_code": self.postal_code,
            "country": self.country,
            "phone": self.phone,
        }


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: float
    lot: str | None = None

    def to_avro(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity, "lot": self.lot}


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentMilestone:
    milestone_id: str = field(init=False)
    code: ShipmentCode
    rank: int = field(init=False)
    exception_reason: ExceptionReason | None = None
    shipment_key: str = field(init=False)
    carrier: str
    tracking_number: str
    order_ref: str | None = None
    package_ref: str | None = None
    package_number: int | None = None
    total_packages: int | None = None
    source_partner: str
    raw_status: str
    raw_status_text: str | None = None
    occurred_at: datetime
    occurred_at_offset_minutes: int | None = None
    tz_inferred: bool = False
    received_at: datetime
    location: Location | None = None
    estimated_delivery: datetime | None = None
    signed_by: str | None = field(default=None, repr=False)  # personal data
    out_of_order: bool = False
    mapping_version: str
    raw_ref: RawRef
    correlation_id: str

    def __post_init__(self) -> None:
        for name in ("occurred_at", "received_at", "estimated_delivery"):
            _require_aware(name, getattr(self, name))
        object.__setattr__(self, "rank", SHIPMENT_RANK[self.code])
        object.__setattr__(self, "shipment_key", f"{self.carrier}:{self.tracking_number}")
        object.__setattr__(self, "milestone_id", milestone_id_for(self))

    def to_avro(self) -> dict[str, Any]:
        return {
            "milestone_id": self.milestone_id,
            "code": str(self.code),
            "rank": self.rank,
            "exception_reason": None if self.exception_reason is None else str(self.exception_reason),
            "shipment_key": self.shipment_key,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "order_ref": self.order_ref,
            "package_ref": self.package_ref,
            "package_number": self.package_number,
            "total_packages": self.total_packages,
            "source_partner": self.source_partner,
            "raw_status": self.raw_status,
            "raw_status_text": self.raw_status_text,
            "occurred_at": self.occurred_at,
            "occurred_at_offset_minutes": self.occurred_at_offset_minutes,
            "tz_inferred": self.tz_inferred,
            "received_at": self.received_at,
            "location": None if self.location is None else self.location.to_avro(),
            "estimated_delivery": self.estimated_delivery,
            "signed_by": self.signed_by,
            "out_of_order": self.out_of_order,
            "mapping_version": self.mapping_version,
            "raw_ref": self.raw_ref.to_avro(),
            "correlation_id": self.correlation_id,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderMilestone:
    milestone_id: str = field(init=False)
    code: OrderCode
    rank: int = field(init=False)
    order_ref: str
    partner_order_id: str | None = None
    warehouse: str | None = None
    source_partner: str
    raw_status: str
    reason: str | None = None
    occurred_at: datetime
    occurred_at_offset_minutes: int | None = None
    tz_inferred: bool = False
    received_at: datetime
    package_number: int | None = None
    total_packages: int | None = None
    fully_shipped: bool | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    service_level: str | None = None
    lines: tuple[OrderLine, ...] = ()
    ship_to: Address | None = None
    out_of_order: bool = False
    mapping_version: str
    raw_ref: RawRef
    correlation_id: str

    def __post_init__(self) -> None:
        _require_aware("occurred_at", self.occurred_at)
        _require_aware("received_at", self.received_at)
        object.__setattr__(self, "rank", ORDER_RANK[self.code])
        object.__setattr__(self, "milestone_id", milestone_id_for(self))

    def to_avro(self) -> dict[str, Any]:
        return {
            "milestone_id": self.milestone_id,
            "code": str(self.code),
            "rank": self.rank,
            "order_ref": self.order_ref,
            "partner_order_id": self.partner_order_id,
            "warehouse": self.warehouse,
            "source_partner": self.source_partner,
            "raw_status": self.raw_status,
            "reason": self.reason,
            "occurred_at": self.occurred_at,
            "occurred_at_offset_minutes": self.occurred_at_offset_minutes,
            "tz_inferred": self.tz_inferred,
            "received_at": self.received_at,
            "package_number": self.package_number,
            "total_packages": self.total_packages,
            "fully_shipped": self.fully_shipped,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "service_level": self.service_level,
            "lines": [line.to_avro() for line in self.lines],
            "ship_to": None if self.ship_to is None else self.ship_to.to_avro(),
            "out_of_order": self.out_of_order,
            "mapping_version": self.mapping_version,
            "raw_ref": self.raw_ref.to_avro(),
            "correlation_id": self.correlation_id,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryEvent:
    milestone_id: str = field(init=False)
    kind: InventoryKind
    inventory_key: str = field(init=False)
    warehouse: str
    sku: str
    quantity: float | None = None
    delta: float | None = None
    reason: str | None = None
    lot: str | None = None
    source_partner: str
    raw_status: str
    occurred_at: datetime
    occurred_at_offset_minutes: int | None = None
    tz_inferred: bool = False
    received_at: datetime
    mapping_version: str
    raw_ref: RawRef
    correlation_id: str

    def __post_init__(self) -> None:
        _require_aware("occurred_at", self.occurred_at)
        _require_aware("received_at", self.received_at)
        object.__setattr__(self, "inventory_key", f"{self.warehouse}:{self.sku}")
        object.__setattr__(self, "milestone_id", milestone_id_for(self))

    def to_avro(self) -> dict[str, Any]:
        return {
            "milestone_id": self.milestone_id,
            "kind": str(self.kind),
            "inventory_key": self.inventory_key,
            "warehouse": self.warehouse,
            "sku": self.sku,
            "quantity": self.quantity,
            "delta": self.delta,
            "reason": self.reason,
            "lot": self.lot,
            "source_partner": self.source_partner,
            "raw_status": self.raw_status,
            "occurred_at": self.occurred_at,
            "occurred_at_offset_minutes": self.occurred_at_offset_minutes,
            "tz_inferred": self.tz_inferred,
            "received_at": self.received_at,
            "mapping_version": self.mapping_version,
            "raw_ref": self.raw_ref.to_avro(),
            "correlation_id": self.correlation_id,
        }


CanonicalRecord: TypeAlias = ShipmentMilestone | OrderMilestone | InventoryEvent


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def dedupe_key(record: CanonicalRecord) -> tuple[str, ...]:
    """The content that makes a fact unique; vendors re-send histories, so ids come from this.

    Shipments: carrier, tracking number, UTC time, code, location. Orders: order ref, code,
    package number, UTC time. Inventory: warehouse, sku, kind, UTC time, quantity/delta, lot.
    Source partner and raw text are deliberately absent: the same checkpoint reported twice (or by
    two platforms) is one fact.
    """
    if isinstance(record, ShipmentMilestone):
        return shipment_dedupe_key(record.carrier, record.tracking_number, record.occurred_at, record.code,
                                   record.location)
    if isinstance(record, OrderMilestone):
        package = "" if record.package_number is None else str(record.package_number)
        return ("order", record.order_ref, str(record.code), package, utc_text(record.occurred_at))
    return ("inventory", record.warehouse, record.sku, str(record.kind), utc_text(record.occurred_at),
            _number(record.quantity), _number(record.delta), record.lot or "")


def shipment_dedupe_key(carrier: str, tracking_number: str, occurred_at: datetime, code: str,
                        location: Location | None) -> tuple[str, ...]:
    """``dedupe_key`` of a ShipmentMilestone with these fields."""
    where = location.key() if location is not None else ""
    return ("shipment", carrier, tracking_number, utc_text(occurred_at), str(code), where)


class ShipmentIds:
    """Milestone ids of many checkpoints of one shipment, as ``milestone_id_for`` computes them: the
    hash of the shared prefix (namespace, kind, carrier, tracking number) is computed once and copied."""

    __slots__ = ("_prefix",)

    def __init__(self, carrier: str, tracking_number: str) -> None:
        self._prefix = hashlib.sha1(_NAMESPACE_BYTES + _SEP.join(("shipment", carrier, tracking_number, "")).encode(),
                                    usedforsecurity=False)

    def milestone_id(self, occurred: str, code: str, location_key: str) -> str:
        """Id of the checkpoint at ``occurred`` (``utc_text`` of occurred_at) with ``code`` and
        ``Location.key()`` (or "")."""
        digest = self._prefix.copy()
        digest.update(_SEP.join((occurred, code, location_key)).encode())
        return _uuid5_format(digest.hexdigest())


def milestone_id_for(record: CanonicalRecord) -> str:
    """UUIDv5 of the dedupe key: a replay or a redelivery produces the same id."""
    return _uuid5_text(_SEP.join(dedupe_key(record)))


_NAMESPACE_BYTES = MILESTONE_NAMESPACE.bytes


def _uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(MILESTONE_NAMESPACE, name))`` without building a UUID object (runs per record)."""
    return _uuid5_format(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).hexdigest())


def _uuid5_format(h: str) -> str:
    """RFC 4122 text of a name-based SHA-1 UUID (version 5) from the hex SHA-1 of namespace + name."""
    # version nibble -> 5; variant: the two top bits of the 17th hex digit -> 10
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT = {c: "89ab"[int(c, 16) & 0x3] for c in "0123456789abcdef"}


def stream_key(record: CanonicalRecord) -> str:
    """The Kafka key of the record's canonical topic (shipment key, order ref, warehouse:sku)."""
    if isinstance(record, ShipmentMilestone):
        return record.shipment_key
    if isinstance(record, OrderMilestone):
        return record.order_ref
    return record.inventory_key
