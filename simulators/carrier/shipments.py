"""Shipments, rates, labels and trackers of the simulated platform, as EasyPost models them.

No HTTP in here. Trackers follow a script (pre_transit -> in_transit -> out_for_delivery ->
delivered, optionally one in_transit exception) and keep their full ``tracking_details`` history,
which every ``tracker.updated`` event carries again.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulators.carrier.config import CarrierSimConfig
from simulators.common.http import hex_id, utcnow

__all__ = ["BookError", "FieldError", "Shipment", "ShipmentBook", "Tracker"]

_SCRIPT: tuple[tuple[str, str, str], ...] = (
    ("pre_transit", "label_created", "Shipping Label Created, {carrier} Awaiting Item"),
    ("in_transit", "received_at_origin_facility", "Accepted at {carrier} Origin Facility"),
    ("in_transit", "arrived_at_facility", "Arrived at {carrier} Regional Facility"),
    ("out_for_delivery", "out_for_delivery", "Out for Delivery"),
    ("delivered", "arrived_at_destination", "Delivered, In/At Mailbox"),
)
_ADDRESS_REQUIRED = ("street1", "city", "zip", "country")


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # EasyPost renders seconds, always UTC


class BookError(Exception):
    """A request the platform refuses: ``status`` and EasyPost ``code`` for the error body."""

    def __init__(self, status: int, code: str, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.errors = status, code, errors or []


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class Tracker:
    id: str
    tracking_code: str
    carrier: str
    shipment_id: str | None
    service: str | None
    origin: dict[str, Any]
    destination: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    status: str = "unknown"
    status_detail: str = "unknown"
    details: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0
    signed_by: str | None = None
    last_event: bytes | None = None

    @property
    def finished(self) -> bool:
        return self.status in {"delivered", "return_to_sender", "cancelled"}

    def as_dict(self, mode: str) -> dict[str, Any]:
        est = self.created_at + timedelta(days=3)
        return {
            "id": self.id, "object": "Tracker", "mode": mode, "tracking_code": self.tracking_code,
            "status": self.status, "status_detail": self.status_detail,
            "created_at": _ts(self.created_at), "updated_at": _ts(self.updated_at),
            "signed_by": self.signed_by, "weight": None,
            "est_delivery_date": est.strftime("%Y-%m-%dT00:00:00Z"),
            "shipment_id": self.shipment_id, "carrier": self.carrier, "is_return": False,
            "finalized": self.finished, "tracking_details": list(self.details),
            "carrier_detail": {
                "object": "CarrierDetail", "service": self.service, "container_type": None,
                "est_delivery_date_local": est.strftime("%Y-%m-%d"), "est_delivery_time_local": None,
                "origin_location": _place(self.origin), "destination_location": _place(self.destination),
            },
            "public_url": "https://track.easypost.com/" + base64.urlsafe_b64encode(self.id.encode()).decode(),
        }


def _place(address: Mapping[str, Any]) -> str:
    return " ".join(str(address[k]) for k in ("city", "state", "zip") if address.get(k)).upper()


@dataclass
class Shipment:
    id: str
    body: dict[str, Any]
    rates: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    selected_rate: dict[str, Any] | None = None
    postage_label: dict[str, Any] | None = None
    tracking_code: str | None = None
    tracker_id: str | None = None


class ShipmentBook:
    def __init__(self, config: CarrierSimConfig, now: Callable[[], datetime] = utcnow) -> None:
        self._config = config
        self._now = now
        self.reset()

    def reset(self) -> None:
        self.shipments: dict[str, Shipment] = {}
        self.trackers: dict[str, Tracker] = {}
        self._rng = random.Random(self._config.seed)

    def _carrier(self, name: str) -> str | None:
        return next((c for c in self._config.services if c.lower() == name.lower()), None)

    # --- shipments -----------------------------------------------------------------------

    def validate(self, body: Mapping[str, Any]) -> list[FieldError]:
        problems: list[FieldError] = []
        for key in ("to_address", "from_address"):
            address = body.get(key)
            if not isinstance(address, dict):
                problems.append(FieldError(key, "is required"))
                continue
            problems += [FieldError(f"{key}.{k}", "is required") for k in _ADDRESS_REQUIRED
                         if not isinstance(address.get(k), str) or not address[k].strip()]
        parcel = body.get("parcel")
        if not isinstance(parcel, dict):
            problems.append(FieldError("parcel", "is required"))
        else:
            weight = parcel.get("weight")
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
                problems.append(FieldError("parcel.weight", "must be a positive number of ounces"))
        carrier, service = body.get("carrier"), body.get("service")
        if carrier is not None and (not isinstance(carrier, str) or self._carrier(carrier) is None):
            problems.append(FieldError("carrier", f"is not one of {', '.join(self._config.services)}"))
        elif service is not None:
            offered = {s for c, options in self._config.services.items()
                       if carrier is None or c.lower() == str(carrier).lower() for s, _, _ in options}
            if service not in offered:
                problems.append(FieldError("service", "is not offered by the requested carrier"))
        return problems

    def create(self, body: Mapping[str, Any]) -> Shipment:
        now, shipment_id = self._now(), hex_id("shp")
        wanted_carrier, wanted_service = body.get("carrier"), body.get("service")
        rates = [
            {"id": hex_id("rate"), "object": "Rate", "mode": self._config.mode, "carrier": carrier,
             "service": service, "rate": price, "currency": "USD", "delivery_days": days,
             "shipment_id": shipment_id, "carrier_account_id": f"ca_{carrier.lower()}",
             "created_at": _ts(now), "updated_at": _ts(now)}
            for carrier, options in self._config.services.items()
            if wanted_carrier is None or carrier.lower() == str(wanted_carrier).lower()
            for service, price, days in options
            if wanted_service is None or service == wanted_service
        ]
        clean = {k: body[k] for k in ("reference", "to_address", "from_address", "parcel", "options") if k in body}
        shipment = Shipment(shipment_id, clean, rates, now, now)
        self.shipments[shipment_id] = shipment
        return shipment

    def buy(self, shipment: Shipment, rate_id: str) -> Shipment:
        if shipment.postage_label is not None:
            raise BookError(422, "SHIPMENT.POSTAGE.EXISTS", "Postage already exists for this shipment.")
        rate = next((r for r in shipment.rates if r["id"] == rate_id), None)
        if rate is None:
            raise BookError(422, "SHIPMENT.INVALID_PARAMS", "The rate is not one of this shipment's rates.",
                            [{"field": "rate.id", "message": "not found on this shipment"}])
        now = self._now()
        shipment.selected_rate = rate
        shipment.tracking_code = self._tracking_code(rate["carrier"])
        label_id = hex_id("pl")
        shipment.postage_label = {
            "id": label_id, "object": "PostageLabel", "label_date": _ts(now), "label_resolution": 300,
            "label_size": "4x6", "label_type": "default", "label_file_type": "image/png",
            "label_url": f"https://easypost-files.s3.us-west-2.amazonaws.com/files/postage_label/"
                         f"{now:%Y%m%d}/{label_id.removeprefix('pl_')}.png",
            "created_at": _ts(now), "updated_at": _ts(now),
        }
        tracker, _ = self.track(shipment.tracking_code, rate["carrier"], shipment=shipment)
        shipment.tracker_id, shipment.updated_at = tracker.id, now
        return shipment

    def shipment_dict(self, shipment: Shipment) -> dict[str, Any]:
        body = shipment.body
        tracker = self.trackers.get(shipment.tracker_id or "")
        return {
            "id": shipment.id, "object": "Shipment", "mode": self._config.mode,
            "reference": body.get("reference"), "status": tracker.status if tracker else "unknown",
            "created_at": _ts(shipment.created_at), "updated_at": _ts(shipment.updated_at),
            "to_address": body.get("to_address"), "from_address": body.get("from_address"),
            "parcel": body.get("parcel"), "options": body.get("options", {}), "rates": shipment.rates,
            "selected_rate": shipment.selected_rate, "postage_label": shipment.postage_label,
            "tracking_code": shipment.tracking_code,
            "tracker": tracker.as_dict(self._config.mode) if tracker else None, "messages": [],
        }

    # --- trackers ------------------------------------------------------------------------

    def track(self, tracking_code: str, carrier: str | None, *,
              shipment: Shipment | None = None) -> tuple[Tracker, bool]:
        """The tracker for this code and carrier, created when new (EasyPost dedupes them too)."""
        name = (self._carrier(carrier) or carrier) if carrier else "USPS"
        for tracker in self.trackers.values():
            if tracker.tracking_code == tracking_code and tracker.carrier.lower() == name.lower():
                return tracker, False
        now = self._now()
        origin = (shipment.body.get("from_address") if shipment else None) or {"city": "Memphis", "state": "TN",
                                                                                "zip": "38118", "country": "US"}
        destination = (shipment.body.get("to_address") if shipment else None) or {"city": "Decatur", "state": "GA",
                                                                                  "zip": "30030", "country": "US"}
        rate = shipment.selected_rate if shipment else None
        tracker = Tracker(hex_id("trk"), tracking_code, name, shipment.id if shipment else None,
                          rate["service"] if rate else None, origin, destination, now, now)
        self.trackers[tracker.id] = tracker
        return tracker, True

    def advance(self, tracker: Tracker, *, status: str | None = None, detail: str | None = None,
                message: str | None = None) -> str:
        """Append the next checkpoint (or the one given) and return the previous status."""
        script = list(_SCRIPT)
        if self._config.exception_detail:
            script.insert(3, ("in_transit", self._config.exception_detail, "Delivery exception: {detail}"))
        if status is None:
            if tracker.step >= len(script):
                raise BookError(409, "TRACKER.FINISHED", "the tracker has no further checkpoint")
            status, detail, message = script[tracker.step]
            tracker.step += 1
        detail = detail or status
        place = tracker.destination if status in {"out_for_delivery", "delivered"} else tracker.origin
        previous, now = tracker.status, self._now()
        tracker.details.append({
            "object": "TrackingDetail",
            "message": (message or status.replace("_", " ").title()).format(carrier=tracker.carrier, detail=detail),
            "description": "", "status": status, "status_detail": detail, "datetime": _ts(now),
            "source": tracker.carrier, "carrier_code": "",
            "tracking_location": {"object": "TrackingLocation", "city": str(place.get("city", "")).upper(),
                                  "state": place.get("state"), "country": place.get("country"),
                                  "zip": place.get("zip")},
        })
        tracker.status, tracker.status_detail, tracker.updated_at = status, detail, now
        if status == "delivered":
            tracker.signed_by = "J DOE"
        return previous

    def _tracking_code(self, carrier: str) -> str:
        digits = "".join(self._rng.choice("0123456789") for _ in range(22))
        return {"USPS": "9400" + digits[:18], "UPS": "1Z" + digits[:16], "FedEx": digits[:12],
                "DHLExpress": digits[:10]}.get(carrier, "EZ" + digits[:10])
