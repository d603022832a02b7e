"""Typed requests to and answers from the multi-carrier (EasyPost-like) API; no HTTP in here.

Money is ``Decimal`` (EasyPost sends rates as strings). Personal data stays out of ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Address", "Lane", "Parcel", "Rate", "ShipmentAnswer", "ShipmentRequest", "TrackerAnswer"]


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Lane:
    """Which rate-limit bucket a call spends: the carrier it is about, and whether it may jump the
    queue (same-day/next-day bookings go before ground ones waiting for the same bucket)."""

    carrier: str | None = None
    urgent: bool = False


@dataclass(frozen=True)
class Address:
    name: str = field(repr=False)
    street1: str = field(repr=False)
    city: str = field(repr=False)
    zip: str = field(repr=False)
    country: str
    state: str | None = None
    street2: str | None = field(default=None, repr=False)
    company: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, str]:
        values = {
            "name": self.name, "company": self.company, "street1": self.street1, "street2": self.street2,
            "city": self.city, "state": self.state, "zip": self.zip, "country": self.country,
            "phone": self.phone, "email": self.email,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Parcel:
    """Weight in ounces and dimensions in inches, as EasyPost expects them."""

    weight_oz: float
    length_in: float | None = None
    width_in: float | None = None
    height_in: float | None = None
    predefined_package: str | None = None

    def to_json(self) -> dict[str, Any]:
        values = {"weight": self.weight_oz, "length": self.length_in, "width": self.width_in,
                  "height": self.height_in, "predefined_package": self.predefined_package}
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class ShipmentRequest:
    to_address: Address
    from_address: Address
    parcel: Parcel
    carrier: str | None = None
    service: str | None = None
    reference: str | None = None  # our shipment/order reference; echoed back on the shipment

    def to_json(self) -> dict[str, Any]:
        shipment: dict[str, Any] = {
            "to_address": self.to_address.to_json(),
            "from_address": self.from_address.to_json(),
            "parcel": self.parcel.to_json(),
        }
        for key in ("carrier", "service", "reference"):
            if getattr(self, key) is not None:
                shipment[key] = getattr(self, key)
        return {"shipment": shipment}


@dataclass(frozen=True)
class Rate:
    id: str
    carrier: str
    service: str
    amount: Decimal
    currency: str
    delivery_days: int | None
    shipment_id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rate:
        try:
            amount = Decimal(str(data["rate"]))
        except InvalidOperation as exc:
            raise ValueError(f"rate is not a number: {data.get('rate')!r}") from exc
        days = data.get("delivery_days")
        return cls(str(data["id"]), str(data["carrier"]), str(data["service"]), amount,
                   str(data.get("currency", "USD")), None if days is None else int(days),
                   _opt_str(data.get("shipment_id")))


@dataclass(frozen=True)
class TrackerAnswer:
    id: str
    tracking_code: str
    carrier: str
    status: str
    status_detail: str | None
    shipment_id: str | None
    public_url: str | None
    created: bool = True  # False when the platform returned an existing tracker for this code

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, created: bool = True) -> TrackerAnswer:
        return cls(str(data["id"]), str(data["tracking_code"]), str(data["carrier"]), str(data["status"]),
                   _opt_str(data.get("status_detail")), _opt_str(data.get("shipment_id")),
                   _opt_str(data.get("public_url")), created)


@dataclass(frozen=True)
class ShipmentAnswer:
    """A shipment; after ``buy`` it has ``tracking_code``, ``label_url`` and ``selected_rate``.

    ``replayed``: the answer came from an Idempotency-Key replay or from a label bought earlier.
    """

    id: str
    reference: str | None
    status: str
    rates: tuple[Rate, ...]
    selected_rate: Rate | None = None
    tracking_code: str | None = None
    label_url: str | None = None
    tracker_id: str | None = None
    replayed: bool = False
    label_created_at: str | None = None  # the platform's label_date: stable across re-reads

    @property
    def purchased(self) -> bool:
        return self.label_url is not None

    def find_rate(self, carrier: str | None = None, service: str | None = None) -> Rate | None:
        """The cheapest rate matching carrier and service (case-insensitive), or None."""
        matching = [r for r in self.rates
                    if (carrier is None or r.carrier.lower() == carrier.lower())
                    and (service is None or r.service.lower() == service.lower())]
        return min(matching, key=lambda r: r.amount, default=None)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, replayed: bool = False) -> ShipmentAnswer:
        selected, label, tracker = data.get("selected_rate"), data.get("postage_label"), data.get("tracker")
        return cls(
            id=str(data["id"]),
            reference=_opt_str(data.get("reference")),
            status=str(data.get("status") or "unknown"),
            rates=tuple(Rate.from_json(r) for r in data.get("rates") or []),
            selected_rate=Rate.from_json(selected) if isinstance(selected, dict) else None,
            tracking_code=_opt_str(data.get("tracking_code")),
            label_url=_opt_str(label.get("label_url")) if isinstance(label, dict) else None,
            tracker_id=_opt_str(tracker.get("id")) if isinstance(tracker, dict) else None,
            replayed=replayed,
            label_created_at=_opt_str(label.get("label_date") or label.get("created_at"))
            if isinstance(label, dict) else None,
        )
