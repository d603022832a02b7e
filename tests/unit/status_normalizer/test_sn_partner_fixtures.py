"""Every shared partner fixture produces exactly the milestones its README promises."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backbone.canonical import ExceptionReason, OrderCode, ShipmentCode
from services.status_normalizer.mapping import MAPPING_VERSION
from services.status_normalizer.records import (
    InventoryEvent,
    Location,
    OrderLine,
    OrderMilestone,
    ShipmentMilestone,
    dedupe_key,
)

from ._support import FORMATS, RECEIVED_AT, fixture_json, orders, parse_fixture, parse_json, shipments

SHARED = list(FORMATS)[:6]
REPO = Path(__file__).resolve().parents[3]


def test_easypost_three_milestones_in_order() -> None:
    records = parse_fixture("easypost_tracker_updated.json")
    assert [type(r) for r in records] == [ShipmentMilestone] * 3
    ms = shipments(records)
    assert [m.code for m in ms] == [ShipmentCode.LABEL_CREATED, ShipmentCode.CARRIER_PICKED_UP,
                                   ShipmentCode.IN_TRANSIT]
    assert [m.rank for m in ms] == [40, 60, 70]
    assert {m.shipment_key for m in ms} == {"usps:9400110898825022579493"}
    assert [m.raw_status for m in ms] == ["pre_transit/label_created", "in_transit/received_at_origin_facility",
                                         "in_transit/arrived_at_facility"]
    assert ms[0].occurred_at == datetime(2026, 11, 19, 9, 12, tzinfo=UTC)
    assert all(m.occurred_at_offset_minutes is None and not m.tz_inferred for m in ms)  # vendor gave Z
    assert ms[0].location == Location(city="MEMPHIS", state="TN", postal_code="38118", country="US")
    assert ms[2].estimated_delivery == datetime(2026, 11, 22, tzinfo=UTC)
    assert ms[0].raw_status_text == "Shipping Label Created, USPS Awaiting Item"


def test_aftership_keeps_plus_one_hour_offsets() -> None:
    ms = shipments(parse_fixture("aftership_tracking_update.json"))
    assert [m.code for m in ms] == [ShipmentCode.LABEL_CREATED, ShipmentCode.CARRIER_PICKED_UP,
                                   ShipmentCode.IN_TRANSIT, ShipmentCode.OUT_FOR_DELIVERY]
    assert [m.occurred_at_offset_minutes for m in ms] == [60, 60, 60, 60]
    assert not any(m.tz_inferred for m in ms)
    # 2026-11-18T17:02:00+01:00 is 16:02 UTC: stored in UTC, original offset kept beside it
    assert ms[0].occurred_at == datetime(2026, 11, 18, 16, 2, tzinfo=UTC)
    assert ms[3].occurred_at == datetime(2026, 11, 20, 6, 45, tzinfo=UTC)
    assert [m.raw_status for m in ms] == ["InfoReceived_001", "InTransit_002", "InTransit_007", "OutForDelivery_001"]
    assert {m.shipment_key for m in ms} == {"ups:1Z999AA10123456784"}
    assert {m.order_ref for m in ms} == {"SO-2026-0412"}
    assert ms[2].location == Location(city="Frankfurt", country="DE", description="Frankfurt, DE")


def test_shippo_counts_current_status_once() -> None:
    document = fixture_json("shippo_track_updated.json")
    assert document["data"]["tracking_status"]["status"] == "DELIVERED"  # also the last history entry
    ms = shipments(parse_fixture("shippo_track_updated.json"))
    assert [m.code for m in ms] == [ShipmentCode.LABEL_CREATED, ShipmentCode.CARRIER_PICKED_UP,
                                   ShipmentCode.IN_TRANSIT, ShipmentCode.DELIVERED]
    assert [m.code for m in ms].count(ShipmentCode.DELIVERED) == 1
    assert ms[3].raw_status == "DELIVERED/delivered"
    assert ms[3].estimated_delivery == datetime(2026, 11, 21, 8, tzinfo=UTC)


def test_shippo_current_status_alone_is_still_reported() -> None:
    document = fixture_json("shippo_track_updated.json")
    document["data"]["tracking_history"] = []
    ms = shipments(parse_json("shippo_track_updated.json", document))
    assert [m.code for m in ms] == [ShipmentCode.DELIVERED]


def test_shiphero_package_one_of_two_is_not_fully_shipped() -> None:
    records = parse_fixture("shiphero_shipment_update.json")
    assert [type(r) for r in records] == [OrderMilestone, ShipmentMilestone]
    order = orders(records)[0]
    assert order.code is OrderCode.SHIPPED and order.rank == 60
    assert order.order_ref == "SO-2026-0419"
    assert (order.package_number, order.total_packages, order.fully_shipped) == (1, 2, False)
    assert (order.carrier, order.tracking_number, order.service_level) == ("fedex", "794618300113", "ground")
    assert order.warehouse == "Reno DC"
    assert order.lines == (OrderLine("CHAIR-OAK-01", 2.0), OrderLine("TABLE-OAK-02", 1.0, "LOT-2026-11"))
    # "2026-11-20 15:32:08" has no offset: Reno DC (geo.yaml sites) -> America/Los_Angeles, PST in November
    assert order.occurred_at == datetime(2026, 11, 20, 23, 32, 8, tzinfo=UTC)
    assert (order.occurred_at_offset_minutes, order.tz_inferred) == (-480, True)
    shipment = shipments(records)[0]
    assert shipment.code is ShipmentCode.SHIPPED and shipment.rank == 50
    assert shipment.shipment_key == "fedex:794618300113"
    assert (shipment.order_ref, shipment.package_ref) == ("SO-2026-0419", "1/2")
    assert shipment.location == Location(city="Reno", state="NV", country="US", description="Reno DC")


def test_shipbob_order_shipped_with_ups_tracking() -> None:
    records = parse_fixture("shipbob_order_shipped.json")
    assert [type(r) for r in records] == [OrderMilestone, ShipmentMilestone]
    order = orders(records)[0]
    assert order.code is OrderCode.SHIPPED
    assert (order.order_ref, order.partner_order_id) == ("SO-2026-0420", "7712093")
    assert (order.carrier, order.tracking_number, order.service_level) == ("ups", "1Z4W37A20321884411", "Ground")
    assert order.fully_shipped is None  # ShipBob does not say whether other shipments are open
    assert order.lines == (OrderLine("MUG-STONE-12", 4.0),)
    assert order.occurred_at == datetime(2026, 11, 20, 18, 11, 42, 117000, tzinfo=UTC)
    assert shipments(records)[0].shipment_key == "ups:1Z4W37A20321884411"


def test_generic_delivery_attempt_failed_for_address() -> None:
    records = parse_fixture("generic_milestone.json")
    assert len(records) == 1
    m = shipments(records)[0]
    assert (m.code, m.exception_reason, m.rank) == (ShipmentCode.DELIVERY_ATTEMPT_FAILED, ExceptionReason.ADDRESS, 85)
    assert m.shipment_key == "dhl:JJD000390007882231"
    assert (m.order_ref, m.package_ref, m.package_number, m.total_packages) == ("SO-2026-0401", "1/1", 1, 1)
    assert (m.occurred_at, m.occurred_at_offset_minutes) == (datetime(2026, 11, 20, 9, 42, tzinfo=UTC), 60)
    assert m.raw_status_text == "Recipient not at address; card left"


@pytest.mark.parametrize("name", SHARED)
def test_common_fields_point_back_to_the_raw_event(name: str) -> None:
    for record in parse_fixture(name):
        assert record.received_at == RECEIVED_AT
        assert (record.raw_ref.topic, record.raw_ref.partition, record.raw_ref.offset) == ("raw.carrier-tracking.v1", 3, 42)
        assert record.correlation_id == "corr-1"
        assert record.mapping_version == MAPPING_VERSION
        assert record.source_partner == name.split("_")[0]


def _ids_in_fresh_interpreter() -> dict[str, list[str]]:
    code = (
        "import json\n"
        "from tests.unit.status_normalizer._support import FORMATS, parse_fixture\n"
        "print(json.dumps({n: [r.milestone_id for r in parse_fixture(n)] for n in FORMATS}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO, env={"PYTHONHASHSEED": "12345", "PATH": ""})
    return dict(json.loads(out.stdout))


def test_milestone_ids_are_deterministic_across_processes() -> None:
    here = {name: [r.milestone_id for r in parse_fixture(name)] for name in FORMATS}
    assert _ids_in_fresh_interpreter() == here
    assert all(len(set(ids)) == len(ids) for ids in here.values())


def test_milestone_id_is_a_uuid5_of_the_dedupe_key() -> None:
    first = parse_fixture("easypost_tracker_updated.json")[0]
    assert dedupe_key(first) == ("shipment", "usps", "9400110898825022579493", "2026-11-19T09:12:00.000000+00:00",
                                 "LABEL_CREATED", "memphis|tn|38118|us|")
    # golden value: changing the namespace or the key layout would re-identify every published fact
    assert first.milestone_id == "0e0ba479-5059-5008-b983-6f1a6b53d582"


def test_ids_ignore_partner_and_raw_pointer_but_not_the_checkpoint_time() -> None:
    a = parse_fixture("easypost_tracker_updated.json")
    document = fixture_json("easypost_tracker_updated.json")
    document["result"]["tracking_details"][0]["datetime"] = "2026-11-19T09:13:00Z"
    b = parse_json("easypost_tracker_updated.json", document)
    assert a[1].milestone_id == b[1].milestone_id
    assert a[0].milestone_id != b[0].milestone_id
    assert not any(isinstance(r, InventoryEvent) for r in a)
