"""Booking plans, rate choice and the carrier.label.v1 answer (pure logic, no platform)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from services.carrier_bridge.booking import (
    OrderDetails,
    ServiceCatalog,
    choose_rate,
    label_event_id,
    label_payload,
    plan_booking,
)
from services.carrier_bridge.errors import BookingError
from services.carrier_bridge.models import Rate, ShipmentAnswer
from tests.unit.carrier_bridge.helpers import DEFAULTS, SHIP_TO, normalize_label, packed

CATALOG = ServiceCatalog.load()


def rate(carrier: str, service: str, amount: str) -> Rate:
    return Rate(f"rate_{carrier}_{service}_{amount}", carrier, service, Decimal(amount), "USD", 2, "shp_1")


def test_the_record_decides_carrier_service_and_urgency() -> None:
    b = plan_booking(
        packed("SO-1", carrier="fedex", service_level="Same-Day", package_number=2),
        "m1",
        known=None,
        defaults=DEFAULTS,
        catalog=CATALOG,
    )
    assert (b.carrier, b.platform_carrier, b.service_level, b.service) == (
        "fedex",
        "FedEx",
        "same_day",
        "PRIORITY_OVERNIGHT",
    )
    assert b.urgent and b.lane.urgent and b.lane.carrier == "fedex"
    assert b.request.reference == "SO-1/2" and b.request.carrier == "FedEx"
    assert b.request.to_address.zip == "30030" and b.request.from_address == DEFAULTS.ship_from
    assert (b.create_key, b.buy_key) == ("carrier_bridge:m1:shipment", "carrier_bridge:m1:buy")


def test_known_order_details_fill_what_the_record_does_not_say_then_defaults() -> None:
    known = OrderDetails.from_milestone({"carrier": "UPS", "service_level": None, "ship_to": SHIP_TO})
    b = plan_booking(
        packed(carrier=None, service_level=None, ship_to=None), "m1", known=known, defaults=DEFAULTS, catalog=CATALOG
    )
    assert (b.platform_carrier, b.service_level, b.service, b.urgent) == ("UPS", "ground", "Ground", False)
    assert b.request.to_address.city == "Decatur"
    own = plan_booking(
        packed(carrier="usps", service_level="priority"), "m1", known=known, defaults=DEFAULTS, catalog=CATALOG
    )
    assert (own.platform_carrier, own.service) == ("USPS", "Priority")


def test_an_address_without_any_place_is_no_address() -> None:
    assert OrderDetails.from_milestone({"ship_to": {"name": "Only A Name"}}).ship_to is None
    with pytest.raises(BookingError, match="no ship-to"):
        plan_booking(packed(ship_to={"name": "Only A Name"}), "m1", known=None, defaults=DEFAULTS, catalog=CATALOG)
    with pytest.raises(BookingError, match="order_ref"):
        plan_booking({"code": "PACKED"}, "m1", known=None, defaults=DEFAULTS, catalog=CATALOG)


def test_order_details_round_trip_and_merge() -> None:
    details = OrderDetails.from_milestone({"ship_to": SHIP_TO, "carrier": "ups", "service_level": "ground"})
    assert OrderDetails.from_json(json.loads(json.dumps(details.to_json()))) == details
    newer = OrderDetails(carrier="fedex")
    merged = newer.over(details)
    assert (merged.carrier, merged.service_level, merged.ship_to) == ("fedex", "ground", details.ship_to)
    assert OrderDetails().empty and not newer.empty


def test_rate_choice_takes_the_cheapest_of_the_service_and_never_downgrades() -> None:
    b = plan_booking(
        packed(carrier="usps", service_level="next_day"), "m1", known=None, defaults=DEFAULTS, catalog=CATALOG
    )
    offered = (rate("USPS", "Express", "31.40"), rate("USPS", "Express", "29.90"), rate("USPS", "Priority", "9.15"))
    shipment = ShipmentAnswer("shp_1", "SO-1", "unknown", offered)
    assert choose_rate(shipment, b).amount == Decimal("29.90")
    with pytest.raises(BookingError, match="no rate for service 'Express'"):
        choose_rate(ShipmentAnswer("shp_1", "SO-1", "unknown", offered[2:]), b)


def test_the_label_answer_is_deterministic_and_normalizes_to_label_created() -> None:
    b = plan_booking(
        packed("SO-5", carrier="ups", package_number=1, total_packages=1),
        "m1",
        known=None,
        defaults=DEFAULTS,
        catalog=CATALOG,
    )
    bought = ShipmentAnswer(
        "shp_9",
        "SO-5/1",
        "pre_transit",
        (),
        selected_rate=rate("UPS", "Ground", "11.20"),
        tracking_code="1Z999",
        label_url="https://labels.example/1.png",
        label_created_at="2026-11-20T15:00:00Z",
    )
    payload = label_payload(b, bought)
    assert payload == label_payload(b, bought)
    body = json.loads(payload)
    assert body["rate"] == {"amount": "11.20", "currency": "USD"} and body["service_level"] == "ground"
    [m] = normalize_label(payload)
    assert (str(m.code), m.shipment_key, m.order_ref, m.package_number) == ("LABEL_CREATED", "ups:1Z999", "SO-5", 1)
    assert m.occurred_at.isoformat() == "2026-11-20T15:00:00+00:00"
    assert label_event_id("m1") == label_event_id("m1") != label_event_id("m2")
    with pytest.raises(BookingError):
        label_payload(b, ShipmentAnswer("shp_9", None, "unknown", ()))


def test_a_custom_services_file(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text("carriers: {acme: ACME}\nservice_levels: {ground: {ACME: Slow}}\nurgent: [rocket]\n")
    catalog = ServiceCatalog.load(path)
    assert catalog.platform_carrier("ACME") == "ACME" and catalog.service("ground", "ACME") == "Slow"
    assert catalog.service("ground", "UPS") is None and catalog.service("Slow", "ACME") == "Slow"
    assert catalog.is_urgent("rocket") and not catalog.is_urgent("same_day")
