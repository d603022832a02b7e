"""What to book for a PACKED order milestone, which rate to buy, and the answer to publish.

Pure logic: plain typed objects in and out, no HTTP, no Kafka. The handler glues it to the
carrier client and the raw publisher.

Example::

    catalog = ServiceCatalog.load()
    booking = plan_booking(record.value, record.milestone_id, known=None, defaults=defaults, catalog=catalog)
    rate = choose_rate(shipment, booking)               # after create_shipment
    payload = label_payload(booking, bought)            # carrier.label.v1 bytes, after buy
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from services.carrier_bridge.errors import BookingError
from services.carrier_bridge.models import Address, Lane, Parcel, Rate, ShipmentAnswer, ShipmentRequest

__all__ = [
    "LABEL_FORMAT",
    "SERVICES_FILE",
    "Booking",
    "BookingDefaults",
    "OrderDetails",
    "ServiceCatalog",
    "choose_rate",
    "label_event_id",
    "label_payload",
    "plan_booking",
]

LABEL_FORMAT = "carrier.label.v1"
SERVICES_FILE = Path(__file__).with_name("services.yaml")
# Fixed forever: the event id of a label answer derives from the milestone id, so a replay
# publishes the same event id and the normalizer's dedupe drops it.
_LABEL_NAMESPACE = uuid.UUID("a4f1c0de-7c55-4b8e-9d0e-2b6f3c1e8a11")


def _level(value: str | None) -> str | None:
    """``"Same Day"``, ``"same-day"`` and ``"SAME_DAY"`` are one service level."""
    if value is None or not value.strip():
        return None
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


@dataclass(frozen=True)
class ServiceCatalog:
    carriers: Mapping[str, str]
    levels: Mapping[str, Mapping[str, str]]
    urgent: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: Path | None = None) -> ServiceCatalog:
        data = yaml.safe_load((path or SERVICES_FILE).read_text()) or {}
        return cls(
            carriers={str(k).lower(): str(v) for k, v in (data.get("carriers") or {}).items()},
            levels={
                str(level).lower(): {str(c).lower(): str(s) for c, s in (services or {}).items()}
                for level, services in (data.get("service_levels") or {}).items()
            },
            urgent=frozenset(str(u).lower() for u in data.get("urgent") or ()),
        )

    def platform_carrier(self, code: str) -> str:
        return self.carriers.get(code.lower(), code)

    def service(self, level: str, platform_carrier: str) -> str | None:
        """The platform service for ``level``: mapped, or the level itself when it is not a listed
        level; None when the level is listed but this carrier has no service for it."""
        services = self.levels.get(level)
        if services is None:
            return level
        return services.get(platform_carrier.lower())

    def is_urgent(self, level: str | None) -> bool:
        return level in self.urgent


@dataclass(frozen=True)
class OrderDetails:
    """What an order milestone says about shipping it (ORDER_RELEASED carries the address)."""

    ship_to: Address | None = None
    carrier: str | None = None
    service_level: str | None = None

    @classmethod
    def from_milestone(cls, value: Mapping[str, Any]) -> OrderDetails:
        ship_to = value.get("ship_to")
        return cls(
            _address(ship_to) if isinstance(ship_to, Mapping) else None,
            _text(value.get("carrier")),
            _text(value.get("service_level")),
        )

    @property
    def empty(self) -> bool:
        return self.ship_to is None and self.carrier is None and self.service_level is None

    def to_json(self) -> dict[str, Any]:
        a = self.ship_to
        ship_to = (
            None
            if a is None
            else {
                "name": a.name or None,
                "street": a.street1 or None,
                "city": a.city or None,
                "postal_code": a.zip or None,
                "country": a.country or None,
                "phone": a.phone,
            }
        )
        return {"ship_to": ship_to, "carrier": self.carrier, "service_level": self.service_level}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderDetails:
        return cls.from_milestone(data)

    def over(self, older: OrderDetails | None) -> OrderDetails:
        """These details, completed by ``older`` where they say nothing."""
        if older is None:
            return self
        return OrderDetails(
            self.ship_to or older.ship_to, self.carrier or older.carrier, self.service_level or older.service_level
        )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _address(data: Mapping[str, Any]) -> Address | None:
    """Canonical Address (OrderMilestone.ship_to) -> the platform's; None when it has no place."""
    street, city, postal, country = (_text(data.get(k)) for k in ("street", "city", "postal_code", "country"))
    if not any((street, city, postal, country)):
        return None
    return Address(
        name=_text(data.get("name")) or "",
        street1=street or "",
        city=city or "",
        zip=postal or "",
        country=country or "",
        phone=_text(data.get("phone")),
    )


@dataclass(frozen=True)
class BookingDefaults:
    ship_from: Address
    parcel: Parcel
    carrier: str = "usps"
    service_level: str = "ground"


@dataclass(frozen=True)
class Booking:
    milestone_id: str
    order_ref: str
    package_number: int | None
    total_packages: int | None
    carrier: str  # canonical code, e.g. "ups": names the rate-limit bucket
    platform_carrier: str  # e.g. "UPS"
    service_level: str
    service: str  # platform service to buy (the cheapest rate of it)
    request: ShipmentRequest = field(repr=False)
    urgent: bool = False

    @property
    def lane(self) -> Lane:
        return Lane(self.carrier, self.urgent)

    # Idempotency keys derive from the milestone id: a retry, a replay or another replica asking
    # again gets the platform's first answer instead of a second shipment or label.
    @property
    def create_key(self) -> str:
        return f"carrier_bridge:{self.milestone_id}:shipment"

    @property
    def buy_key(self) -> str:
        return f"carrier_bridge:{self.milestone_id}:buy"


def plan_booking(
    value: Mapping[str, Any],
    milestone_id: str,
    *,
    known: OrderDetails | None,
    defaults: BookingDefaults,
    catalog: ServiceCatalog,
) -> Booking:
    """The booking for a PACKED milestone; the record's own details win over what was seen before."""
    order_ref = _text(value.get("order_ref"))
    if order_ref is None:
        raise BookingError("PACKED milestone without order_ref", milestone_id=milestone_id)
    details = OrderDetails.from_milestone(value).over(known)
    if details.ship_to is None:
        raise BookingError(
            "no ship-to address: neither the PACKED milestone nor an earlier ORDER_RELEASED carried one",
            order_ref=order_ref,
            milestone_id=milestone_id,
        )
    carrier = (details.carrier or defaults.carrier).lower()
    level = _level(details.service_level) or _level(defaults.service_level) or "ground"
    platform_carrier = catalog.platform_carrier(carrier)
    number, total = value.get("package_number"), value.get("total_packages")
    reference = order_ref if number is None else f"{order_ref}/{number}"
    service = catalog.service(level, platform_carrier)
    if service is None:
        raise BookingError(
            f"{platform_carrier} has no service for level {level!r} in services.yaml",
            order_ref=order_ref,
            milestone_id=milestone_id,
        )
    return Booking(
        milestone_id=milestone_id,
        order_ref=order_ref,
        package_number=number if isinstance(number, int) else None,
        total_packages=total if isinstance(total, int) else None,
        carrier=carrier,
        platform_carrier=platform_carrier,
        service_level=level,
        service=service,
        request=ShipmentRequest(
            details.ship_to, defaults.ship_from, defaults.parcel, carrier=platform_carrier, reference=reference
        ),
        urgent=catalog.is_urgent(level),
    )


def choose_rate(shipment: ShipmentAnswer, booking: Booking) -> Rate:
    """The rate to buy: the service asked for (cheapest if several), never a silent downgrade."""
    rate = shipment.find_rate(booking.platform_carrier, booking.service)
    if rate is None:
        raise BookingError(
            f"{booking.platform_carrier} offers no rate for service {booking.service!r} "
            f"(service level {booking.service_level!r})",
            order_ref=booking.order_ref,
            milestone_id=booking.milestone_id,
            shipment_id=shipment.id,
        )
    return rate


def label_event_id(milestone_id: str) -> str:
    return str(uuid.uuid5(_LABEL_NAMESPACE, f"{LABEL_FORMAT}\x1f{milestone_id}"))


def label_payload(booking: Booking, bought: ShipmentAnswer, now: datetime | None = None) -> bytes:
    """The ``carrier.label.v1`` answer (services/status_normalizer/parsers/carrier_label.py).

    Deterministic for a given label (sorted keys, the platform's label date), so a replay
    publishes the same bytes."""
    rate = bought.selected_rate
    if rate is None or bought.tracking_code is None:
        raise BookingError(
            "the platform answered a purchase without rate or tracking code",
            shipment_id=bought.id,
            order_ref=booking.order_ref,
        )
    created_at = bought.label_created_at or (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict[str, Any] = {
        "event": "label.created",
        "order_ref": booking.order_ref,
        "carrier": rate.carrier,
        "service_level": booking.service_level,
        "service": rate.service,
        "tracking_number": bought.tracking_code,
        "label_url": bought.label_url,
        "rate": {"amount": str(rate.amount), "currency": rate.currency},
        "shipment_id": bought.id,
        "created_at": created_at,
    }
    if booking.package_number is not None:
        body["package_number"] = booking.package_number
    if booking.total_packages is not None:
        body["total_packages"] = booking.total_packages
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
