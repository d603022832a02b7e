"""Dedupe over re-sent histories, late checkpoints and multi-package orders."""

from __future__ import annotations

import copy

from backbone.canonical import OrderCode, ShipmentCode
from services.status_normalizer.dedupe import Deduper, MemoryStore
from services.status_normalizer.parsers import parse
from services.status_normalizer.records import CanonicalRecord

from ._support import ctx, fixture_bytes, fixture_json, orders, parse_fixture, parse_json, shipments


def _publish(dedupe: Deduper, records: list[CanonicalRecord]) -> list[CanonicalRecord]:
    fresh = dedupe.new_records(records)
    dedupe.remember(fresh)
    return fresh


def _easypost_with_extra_checkpoint() -> list[CanonicalRecord]:
    document = fixture_json("easypost_tracker_updated.json")
    details = document["result"]["tracking_details"]
    details.append({**copy.deepcopy(details[-1]), "status": "out_for_delivery", "status_detail": "out_for_delivery",
                    "message": "Out for Delivery", "datetime": "2026-11-21T12:05:00Z"})
    return parse_json("easypost_tracker_updated.json", document)


def test_redelivery_of_the_same_body_emits_nothing() -> None:
    dedupe = Deduper(MemoryStore())
    assert len(_publish(dedupe, parse_fixture("easypost_tracker_updated.json"))) == 3
    assert _publish(dedupe, parse_fixture("easypost_tracker_updated.json")) == []


def test_resent_history_with_one_extra_checkpoint_yields_exactly_one_new_record() -> None:
    dedupe = Deduper(MemoryStore())
    _publish(dedupe, parse_fixture("easypost_tracker_updated.json"))
    resent = _easypost_with_extra_checkpoint()
    assert len(resent) == 4
    fresh = _publish(dedupe, resent)
    assert [shipments(fresh)[0].code] == [ShipmentCode.OUT_FOR_DELIVERY]
    assert shipments(fresh)[0].out_of_order is False


def test_deciding_does_not_touch_the_state_until_remember() -> None:
    store = MemoryStore()
    dedupe = Deduper(store)
    first = dedupe.new_records(parse_fixture("easypost_tracker_updated.json"))
    assert store.data == {}
    # publishing failed and the message is retried: the same records are still new
    assert [r.milestone_id for r in dedupe.new_records(parse_fixture("easypost_tracker_updated.json"))] == [
        r.milestone_id for r in first]


def test_a_late_checkpoint_is_published_and_flagged_out_of_order() -> None:
    dedupe = Deduper(MemoryStore())
    document = fixture_json("easypost_tracker_updated.json")
    details = document["result"]["tracking_details"]
    late = details.pop(1)  # the carrier pickup scan arrives only in a later webhook
    first = shipments(_publish(dedupe, parse_json("easypost_tracker_updated.json", document)))
    assert [r.out_of_order for r in first] == [False, False]
    details.insert(1, late)
    fresh = shipments(_publish(dedupe, parse_json("easypost_tracker_updated.json", document)))
    assert [(m.code, m.out_of_order) for m in fresh] == [(ShipmentCode.CARRIER_PICKED_UP, True)]
    assert fresh[0].milestone_id == parse_fixture("easypost_tracker_updated.json")[1].milestone_id


def test_checkpoints_inside_one_message_are_sorted_not_flagged() -> None:
    document = fixture_json("easypost_tracker_updated.json")
    document["result"]["tracking_details"].reverse()  # some vendors list newest first
    fresh = shipments(Deduper(MemoryStore()).new_records(parse_json("easypost_tracker_updated.json", document)))
    assert [m.code for m in fresh] == [ShipmentCode.LABEL_CREATED, ShipmentCode.CARRIER_PICKED_UP,
                                       ShipmentCode.IN_TRANSIT]
    assert not any(m.out_of_order for m in fresh)


def test_second_package_completes_the_order() -> None:
    dedupe = Deduper(MemoryStore())
    first = orders(_publish(dedupe, parse_fixture("shiphero_shipment_update.json")))
    assert [(o.package_number, o.fully_shipped) for o in first] == [(1, False)]
    document = fixture_json("shiphero_shipment_update.json")
    f = document["fulfillment"]
    f["package_number"] = 2
    f["packages"] = [{**f["packages"][0], "package_number": 2, "tracking_number": "794618300114"}]
    f["created_at"] = "2026-11-21 09:00:00"
    parsed = orders(parse_json("shiphero_shipment_update.json", document))
    assert parsed[0].fully_shipped is False  # the payload alone cannot know package 1 shipped
    second = orders(_publish(dedupe, parse_json("shiphero_shipment_update.json", document)))
    assert [(o.code, o.package_number, o.fully_shipped) for o in second] == [(OrderCode.SHIPPED, 2, True)]
    assert second[0].milestone_id == parsed[0].milestone_id  # the id does not depend on fully_shipped


def test_same_fact_from_two_partners_is_one_record() -> None:
    dedupe = Deduper(MemoryStore())
    a = parse_fixture("shipbob_order_shipped.json")
    b = parse(fixture_bytes("shipbob_order_shipped.json"), ctx("shipbob.webhook", partner="shipbob-eu", offset=99))
    assert [r.source_partner for r in b] == ["shipbob-eu", "shipbob-eu"]
    assert len(_publish(dedupe, a)) == 2
    assert _publish(dedupe, b) == []


def test_inventory_counts_are_deduped_by_content() -> None:
    dedupe = Deduper(MemoryStore())
    assert len(_publish(dedupe, parse_fixture("wms_reconciliation.json"))) == 5
    assert _publish(dedupe, parse_fixture("wms_reconciliation.json")) == []


def test_a_huge_total_packages_is_counted_not_materialised() -> None:
    import dataclasses
    import tracemalloc

    (order,) = orders(parse_fixture("shiphero_shipment_update.json"))
    huge = dataclasses.replace(order, package_number=1, total_packages=999_999_999, fully_shipped=False)
    tracemalloc.start()
    (out,) = orders(Deduper(MemoryStore()).new_records([huge]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.fully_shipped is False
    assert peak < 10_000_000  # a set of every package number would take tens of gigabytes
