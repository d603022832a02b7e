"""Parser behaviour beyond the shared fixtures: unknown statuses, time zones, other formats, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backbone.canonical import ExceptionReason, InventoryKind, OrderCode, ShipmentCode
from backbone.errors import PermanentError
from services.status_normalizer.errors import ParseError
from services.status_normalizer.parsers import PARSERS, parse
from services.status_normalizer.records import Address, InventoryEvent, OrderLine

from ._support import RECEIVED_AT, ctx, fixture_json, orders, parse_fixture, parse_json, shipments


def _aftership_with(**checkpoint: Any) -> dict[str, Any]:
    document = fixture_json("aftership_tracking_update.json")
    document["msg"]["checkpoints"] = [{**document["msg"]["checkpoints"][0], **checkpoint}]
    return dict(document)


# --- unknown values are kept, never dropped -------------------------------------------------------

def test_unknown_easypost_status_becomes_unknown_with_raw_code() -> None:
    document = fixture_json("easypost_tracker_updated.json")
    document["result"]["tracking_details"][2].update(status="teleported", status_detail="beamed_up")
    m = shipments(parse_json("easypost_tracker_updated.json", document))[2]
    assert (m.code, m.rank, m.raw_status) == (ShipmentCode.UNKNOWN, 0, "teleported/beamed_up")


def test_unknown_aftership_subtag_falls_back_to_its_tag() -> None:
    m = shipments(parse_json("aftership_tracking_update.json", _aftership_with(tag="Exception", subtag="Exception_099")))
    assert (m[0].code, m[0].exception_reason, m[0].raw_status) == (ShipmentCode.EXCEPTION, ExceptionReason.OTHER,
                                                                   "Exception_099")


def test_unknown_aftership_tag_and_subtag_become_unknown() -> None:
    m = shipments(parse_json("aftership_tracking_update.json", _aftership_with(tag="Warped", subtag="Warped_001")))
    assert (m[0].code, m[0].raw_status) == (ShipmentCode.UNKNOWN, "Warped_001")


def test_unknown_shippo_substatus_uses_status() -> None:
    document = fixture_json("shippo_track_updated.json")
    document["data"]["tracking_history"][2]["substatus"]["code"] = "package_teleported"
    m = shipments(parse_json("shippo_track_updated.json", document))[2]
    assert (m.code, m.raw_status) == (ShipmentCode.IN_TRANSIT, "TRANSIT/package_teleported")


def test_easypost_dominant_status_wins_over_a_generic_detail() -> None:
    document = fixture_json("easypost_tracker_updated.json")
    document["result"]["tracking_details"][2].update(status="return_to_sender", status_detail="arrived_at_facility")
    assert shipments(parse_json("easypost_tracker_updated.json", document))[2].code is ShipmentCode.RETURN_TO_SENDER


def test_easypost_signed_by_only_on_delivered() -> None:
    document = fixture_json("easypost_tracker_updated.json")
    document["result"]["signed_by"] = "J DOE"
    document["result"]["tracking_details"][2].update(status="delivered", status_detail="arrived_at_destination")
    ms = shipments(parse_json("easypost_tracker_updated.json", document))
    assert [m.signed_by for m in ms] == [None, None, "J DOE"]
    assert "J DOE" not in repr(ms[2])  # personal data stays out of logs


def test_generic_unknown_code_and_reason() -> None:
    document = fixture_json("generic_milestone.json")
    document.update(code="DRONE_DROPPED", exception_reason="ALIENS")
    m = shipments(parse_json("generic_milestone.json", document))[0]
    assert (m.code, m.raw_status, m.exception_reason) == (ShipmentCode.UNKNOWN, "DRONE_DROPPED", None)
    document.update(code="EXCEPTION")
    m = shipments(parse_json("generic_milestone.json", document))[0]
    assert (m.code, m.exception_reason) == (ShipmentCode.EXCEPTION, ExceptionReason.OTHER)


def test_shiphero_unknown_webhook_type_is_an_unknown_order_fact() -> None:
    document = {"webhook_type": "Order Teleported", "order_number": "SO-9", "timestamp": "2026-11-20T10:00:00Z"}
    o = orders(parse_json("shiphero_order_allocated.json", document))[0]
    assert (o.code, o.rank, o.raw_status, o.order_ref) == (OrderCode.UNKNOWN, 0, "Order Teleported", "SO-9")


# --- time zones ----------------------------------------------------------------------------------

def test_local_time_without_offset_is_placed_by_country_and_flagged() -> None:
    m = shipments(parse_json("aftership_tracking_update.json", _aftership_with(checkpoint_time="2026-07-01T12:00:00")))
    # Germany in July is CEST (+02:00)
    assert (m[0].occurred_at, m[0].occurred_at_offset_minutes, m[0].tz_inferred) == (
        datetime(2026, 7, 1, 10, 0, tzinfo=UTC), 120, True)


def test_local_time_uses_the_us_state_table() -> None:
    document = fixture_json("easypost_tracker_updated.json")
    document["result"]["tracking_details"][0]["datetime"] = "2026-11-19T09:12:00"  # MEMPHIS, TN: Central
    m = shipments(parse_json("easypost_tracker_updated.json", document))[0]
    assert (m.occurred_at, m.occurred_at_offset_minutes, m.tz_inferred) == (
        datetime(2026, 11, 19, 15, 12, tzinfo=UTC), -360, True)


def test_local_time_without_any_location_is_rejected_not_shifted() -> None:
    document = _aftership_with(checkpoint_time="2026-11-18T17:02:00", country_iso3=None, location=None, city=None)
    with pytest.raises(ParseError, match=r"checkpoint_time: local time without UTC offset"):
        parse_json("aftership_tracking_update.json", document)


def test_shiphero_unknown_warehouse_with_local_time_is_rejected() -> None:
    document = fixture_json("shiphero_shipment_update.json")
    document["fulfillment"].update(warehouse="Atlantis DC", warehouse_id=1)
    with pytest.raises(ParseError, match="created_at"):
        parse_json("shiphero_shipment_update.json", document)


def test_explicit_utc_offset_is_zero_not_null() -> None:
    m = shipments(parse_json("aftership_tracking_update.json", _aftership_with(checkpoint_time="2026-11-18T17:02:00+00:00")))
    assert m[0].occurred_at_offset_minutes == 0


def test_odoo_times_are_utc_by_contract_not_inferred() -> None:
    o = orders(parse_fixture("odoo_order_released.json"))[0]
    assert (o.occurred_at, o.occurred_at_offset_minutes, o.tz_inferred) == (
        datetime(2026, 11, 20, 8, 15, tzinfo=UTC), None, False)


# --- other formats -------------------------------------------------------------------------------

def test_odoo_order_released_carries_what_the_wms_needs() -> None:
    o = orders(parse_fixture("odoo_order_released.json"))[0]
    assert (o.code, o.rank, o.order_ref, o.partner_order_id) == (OrderCode.ORDER_RELEASED, 10, "SO-2026-0419",
                                                                 "WH/OUT/00231")
    assert (o.carrier, o.service_level, o.warehouse) == ("fedex", "ground", "Reno DC")
    assert o.lines == (OrderLine("CHAIR-OAK-01", 4.0), OrderLine("TABLE-OAK-02", 1.0, "LOT-2026-11"))
    assert o.ship_to == Address(name="Ada Example", street="1 Main St", city="Decatur", postal_code="30030",
                                country="US", phone="+1 404 555 0100")
    assert "Ada" not in repr(o) and "555" not in repr(o)


def test_odoo_order_cancelled() -> None:
    o = orders(parse_fixture("odoo_order_cancelled.json"))[0]
    assert (o.code, o.rank, o.reason, o.lines) == (OrderCode.CANCELLED, 0, "customer request", ())


def test_wms_rejection_keeps_the_reason() -> None:
    o = orders(parse_fixture("wms_order_answer_rejected.json"))[0]
    assert (o.code, o.reason, o.partner_order_id) == (OrderCode.REJECTED_BY_WAREHOUSE, "unknown SKU GHOST-1", "W-9001")


def test_wms_reconciliation_orders_and_stock() -> None:
    records = parse_fixture("wms_reconciliation.json")
    os_ = orders(records)
    assert [(o.order_ref, o.code) for o in os_] == [("SO-2026-0419", OrderCode.PACKED), ("SO-2026-0420", OrderCode.SHIPPED),
                                                   ("SO-2026-0421", OrderCode.UNKNOWN)]
    assert (os_[1].fully_shipped, os_[1].carrier, os_[1].occurred_at_offset_minutes) == (True, "ups", -480)
    stock = [r for r in records if isinstance(r, InventoryEvent)]
    assert [(s.kind, s.inventory_key, s.quantity, s.lot) for s in stock] == [
        (InventoryKind.COUNTED, "RENO:CHAIR-OAK-01", 12.0, None),
        (InventoryKind.COUNTED, "RENO:TABLE-OAK-02", 3.0, "LOT-2026-11")]
    assert stock[0].occurred_at == datetime(2026, 11, 20, 12, tzinfo=UTC)  # no counted_at: the poll time


def test_carrier_label_created() -> None:
    m = shipments(parse_fixture("carrier_label_created.json"))[0]
    assert (m.code, m.shipment_key, m.package_ref, m.order_ref) == (ShipmentCode.LABEL_CREATED,
                                                                    "ups:1Z999AA10123456799", "2/2", "SO-2026-0422")


def test_shiphero_inventory_update_is_an_absolute_count_per_warehouse() -> None:
    [event] = parse_fixture("shiphero_inventory_update.json")
    assert isinstance(event, InventoryEvent)
    assert (event.kind, event.inventory_key, event.quantity, event.delta) == (InventoryKind.COUNTED,
                                                                             "Reno DC:CHAIR-OAK-01", 48.0, None)
    assert event.occurred_at == RECEIVED_AT  # the webhook has no timestamp: sent as it happened


def test_shiphero_inventory_change_is_a_delta_with_reason() -> None:
    [event] = parse_fixture("shiphero_inventory_change.json")
    assert isinstance(event, InventoryEvent)
    assert (event.kind, event.delta, event.reason, event.lot) == (InventoryKind.ADJUSTED, -2.0, "Damaged in storage",
                                                                  "114475")
    assert (event.occurred_at_offset_minutes, event.tz_inferred) == (-480, True)  # shiphero:3811 is Reno


def test_shiphero_order_allocated_and_ignored_webhooks() -> None:
    o = orders(parse_fixture("shiphero_order_allocated.json"))[0]
    assert (o.code, o.order_ref, o.partner_order_id) == (OrderCode.ACCEPTED_BY_WAREHOUSE, "SO-2026-0419", "402231998")
    assert parse_fixture("shiphero_capture_payment.json") == []


def test_shiphero_both_packages_in_one_update_is_fully_shipped() -> None:
    document = fixture_json("shiphero_shipment_update.json")
    f = document["fulfillment"]
    f["packages"].append({**f["packages"][0], "package_number": 2, "tracking_number": "794618300114"})
    records = parse_json("shiphero_shipment_update.json", document)
    assert [(o.package_number, o.fully_shipped) for o in orders(records)] == [(1, True), (2, True)]
    assert [s.shipment_key for s in shipments(records)] == ["fedex:794618300113", "fedex:794618300114"]


def test_shipbob_tracking_update_uses_the_tracking_status() -> None:
    [m] = shipments(parse_fixture("shipbob_tracking_updated.json"))
    assert (m.code, m.raw_status, m.shipment_key) == (ShipmentCode.OUT_FOR_DELIVERY,
                                                     "order.shipment.tracking.updated/OutForDelivery",
                                                     "ups:1Z4W37A20321884411")


@pytest.mark.parametrize(("topic", "code"), [("order.shipment.cancelled", OrderCode.CANCELLED),
                                             ("order.shipment.exception", OrderCode.BACKORDERED),
                                             ("order.shipment.on_hold", OrderCode.REJECTED_BY_WAREHOUSE)])
def test_shipbob_order_level_topics(topic: str, code: OrderCode) -> None:
    document = {**fixture_json("shipbob_order_shipped.json"), "topic": topic}
    records = parse_json("shipbob_order_shipped.json", document)
    assert [type(r).__name__ for r in records] == ["OrderMilestone"]
    assert orders(records)[0].code is code


def test_shipbob_ignores_return_topics() -> None:
    assert parse_json("shipbob_order_shipped.json", {**fixture_json("shipbob_order_shipped.json"),
                                                      "topic": "return.created"}) == []


def test_generic_order_and_inventory_kinds() -> None:
    o = orders(parse_fixture("generic_order_picked.json"))[0]
    assert (o.code, o.warehouse, o.lines) == (OrderCode.PICKED, "LYON-1", (OrderLine("LAMP-01", 3.0),))
    [inv] = parse_fixture("generic_inventory_counted.json")
    assert isinstance(inv, InventoryEvent)
    assert (inv.kind, inv.quantity, inv.occurred_at_offset_minutes) == (InventoryKind.COUNTED, 41.0, 60)


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "document", "where"), [
    ("easypost_tracker_updated.json", {"result": {"carrier": "USPS"}}, "tracking_code"),
    ("aftership_tracking_update.json", {"msg": {"slug": "ups", "tracking_number": "1", "checkpoints": {}}},
     "checkpoints: expected an array"),
    ("shippo_track_updated.json", {"data": {"carrier": "usps", "tracking_number": "1",
                                            "tracking_history": [{"status": "TRANSIT"}]}}, "status_date"),
    ("generic_milestone.json", {"kind": "pallet", "code": "X"}, "kind"),
    ("generic_milestone.json", {**{"kind": "shipment", "code": "DELIVERED", "occurred_at": "yesterday"},
                                "shipment": {"carrier": "dhl", "tracking_number": "1"}}, "not an ISO 8601"),
    ("shiphero_shipment_update.json", {"webhook_type": "Shipment Update", "fulfillment": {
        "order_number": "SO-1", "package_number": 3, "total_packages": 2}}, "greater than total_packages"),
    ("shipbob_order_shipped.json", {"reference_id": "SO-1"}, "topic"),
    ("odoo_order_released.json", {"event": "order.released", "order_ref": "SO-1", "occurred_at": "2026-11-20",
                                  "lines": [{"sku": "A"}]}, "qty"),
])
def test_malformed_payloads_raise_parse_error_with_the_path(name: str, document: dict[str, Any], where: str) -> None:
    with pytest.raises(ParseError, match=where) as info:
        parse_json(name, document)
    assert isinstance(info.value, PermanentError)
    assert info.value.context["event_id"] == "evt-42"


@pytest.mark.parametrize("payload", [b"", b"not json", b"[1, 2]", b"\xff\xfe\x00", b'"text"', b"[" * 100_000])
def test_non_object_payloads(payload: bytes) -> None:
    for fmt in PARSERS:
        with pytest.raises(ParseError):
            parse(payload, ctx(fmt))


def test_unknown_format_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"no parser for format 'fedex\.webhook\.v9'"):
        parse(b"{}", ctx("fedex.webhook.v9"))


def test_eta_date_only_is_midnight_utc_and_an_unplaceable_eta_is_left_out() -> None:
    assert shipments(parse_fixture("aftership_tracking_update.json"))[0].estimated_delivery == datetime(
        2026, 11, 20, tzinfo=UTC)
    document = fixture_json("aftership_tracking_update.json")
    document["msg"].update(expected_delivery="2026-11-20T18:00:00", destination_country_iso3=None)
    assert [m.estimated_delivery for m in shipments(parse_json("aftership_tracking_update.json", document))] == [None] * 4
    document["msg"]["destination_country_iso3"] = "DEU"  # now the zone is known: 18:00 CET is 17:00 UTC
    assert shipments(parse_json("aftership_tracking_update.json", document))[0].estimated_delivery == datetime(
        2026, 11, 20, 17, tzinfo=UTC)


@pytest.mark.parametrize("stamp", [10**400, -(10**400)])
def test_an_epoch_beyond_any_float_is_a_parse_error(stamp: int) -> None:
    # JSON integers are unbounded; float() of one this size raises OverflowError, not ParseError.
    document = fixture_json("shiphero_order_allocated.json")
    document["allocated_at"] = stamp
    with pytest.raises(ParseError, match="allocated_at: epoch timestamp out of range"):
        parse_json("shiphero_order_allocated.json", document)
