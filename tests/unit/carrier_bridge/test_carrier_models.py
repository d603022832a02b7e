"""Carrier request/answer dataclasses: EasyPost wire shape, Decimal money, no personal data in repr."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.carrier_bridge.models import Rate, ShipmentAnswer
from tests.conftest import partner_fixture
from tests.unit.carrier_bridge.conftest import a_shipment


def test_shipment_request_is_wrapped_like_easypost_expects() -> None:
    body = a_shipment(carrier="USPS")
    wire = body.to_json()["shipment"]
    assert wire["parcel"] == {"weight": 17.6, "length": 10, "width": 8, "height": 4}
    assert wire["carrier"] == "USPS" and "service" not in wire
    assert wire["to_address"]["zip"] == "30030" and "phone" not in wire["to_address"]


def test_repr_keeps_personal_data_out_of_logs() -> None:
    text = repr(a_shipment())
    for personal in ("Ada Example", "417 Montgomery St", "Decatur", "30030"):
        assert personal not in text


def test_rates_are_decimal_and_bad_ones_are_refused() -> None:
    rate = Rate.from_json({"id": "rate_1", "carrier": "USPS", "service": "Priority", "rate": "9.15"})
    assert rate.amount == Decimal("9.15") and rate.delivery_days is None and rate.currency == "USD"
    with pytest.raises(ValueError, match="rate"):
        Rate.from_json({"id": "rate_1", "carrier": "USPS", "service": "Priority", "rate": "n/a"})


def test_a_tracker_event_result_does_not_parse_as_a_shipment() -> None:
    tracker = partner_fixture("easypost_tracker_updated.json")["result"]
    answer = ShipmentAnswer.from_json({"id": tracker["shipment_id"], "status": tracker["status"]})
    assert (answer.status, answer.rates, answer.purchased) == ("in_transit", (), False)
    with pytest.raises(KeyError):
        ShipmentAnswer.from_json({"status": "unknown"})
