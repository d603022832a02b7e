"""Mapping tables: every published vendor value is covered, and bad files fail loudly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backbone.canonical import ExceptionReason, InventoryKind, OrderCode, ShipmentCode
from backbone.errors import ConfigError
from services.status_normalizer.mapping import (
    DEFER,
    IGNORE,
    MAPPING_VERSION,
    MAPPINGS_DIR,
    default_mappings,
    load_mappings,
)

VOCABULARY = {
    "shipment": {str(c) for c in ShipmentCode},
    "order": {str(c) for c in OrderCode},
    "inventory": {str(c) for c in InventoryKind},
}
M = default_mappings()
TABLES = [(v, t) for v, vm in sorted(M.vendors.items()) for t in sorted(vm.tables)]

# The vocabularies named in the design contract: these files and tables must exist.
REQUIRED = {
    ("aftership", "tag"), ("aftership", "subtag"), ("easypost", "status"), ("easypost", "status_detail"),
    ("shippo", "status"), ("shippo", "substatus"), ("17track", "status"), ("17track", "sub_status"),
    ("epcis", "bizstep"), ("shiphero", "order_webhook"), ("shipbob", "order_topic"), ("generic", "shipment_code"),
    ("odoo", "event"),
}

# Spot checks from the vendors' public lists (if a list shrinks by mistake, this catches it).
MUST_KNOW = {
    ("aftership", "subtag"): ["InfoReceived_001", *(f"InTransit_00{i}" for i in range(1, 10)),
                              "OutForDelivery_001", "OutForDelivery_003", "OutForDelivery_004",
                              *(f"AttemptFail_00{i}" for i in range(1, 4)),
                              *(f"Delivered_00{i}" for i in range(1, 5)), "AvailableForPickup_001",
                              *(f"Exception_{i:03d}" for i in range(1, 14)), "Expired_001",
                              *(f"Pending_00{i}" for i in range(1, 7))],
    ("easypost", "status"): ["pre_transit", "in_transit", "out_for_delivery", "delivered", "available_for_pickup",
                             "return_to_sender", "failure", "cancelled", "error", "unknown"],
    ("easypost", "status_detail"): ["label_created", "arrived_at_facility", "address_correction",
                                    "received_at_origin_facility", "weather_delay", "return"],
    ("shippo", "status"): ["PRE_TRANSIT", "TRANSIT", "DELIVERED", "RETURNED", "FAILURE", "UNKNOWN"],
    ("shippo", "substatus"): ["information_received", "address_issue", "contact_carrier", "delayed",
                              "delivery_attempted", "delivery_rescheduled", "delivery_scheduled",
                              "location_inaccessible", "notice_left", "out_for_delivery", "package_accepted",
                              "package_arrived", "package_damaged", "package_departed", "package_forwarded",
                              "package_held", "package_processed", "package_processing", "package_unclaimed",
                              "package_undeliverable", "pickup_available", "return_to_sender", "delivered",
                              "package_lost", "package_disposed"],
    ("17track", "sub_status"): ["InTransit_PickedUp", "InTransit_CustomsRequiringInformation",
                                "DeliveryFailure_InvalidAddress", "Exception_Returning", "Exception_Cancel"],
    ("epcis", "bizstep"): ["shipping", "departing", "arriving", "receiving", "loading", "unloading", "packing",
                           "picking", "staging_outbound", "storing", "accepting", "inspecting", "holding",
                           "void_shipping"],
}


def test_required_vocabularies_exist() -> None:
    assert set(TABLES) >= REQUIRED


@pytest.mark.parametrize(("vendor", "table"), sorted(MUST_KNOW))
def test_public_values_are_listed(vendor: str, table: str) -> None:
    known = set(M.vendor(vendor).table(table).known_values)
    assert [v for v in MUST_KNOW[vendor, table] if v not in known] == []


@pytest.mark.parametrize(("vendor", "table"), TABLES)
def test_every_known_value_maps_to_a_canonical_code(vendor: str, table: str) -> None:
    vm = M.vendor(vendor)
    t = vm.table(table)
    assert t.known_values, "a table must list the vendor's values"
    unmapped = [v for v in t.known_values if t.lookup(v) is None]
    assert unmapped == [], f"{vendor}.{table}: add these to the map"
    for value in t.known_values:
        target = t.lookup(value)
        assert target is not None
        if target.code == DEFER:
            # a generic value defers to a coarser table of the same vocabulary, which must exist
            assert any(o.kind == t.kind for n, o in vm.tables.items() if n != table)
            continue
        assert target.code == IGNORE or target.code in VOCABULARY[t.kind]
        hit = M.resolve(vendor, [(table, value)])
        assert hit.matched and (hit.ignored or hit.code == target.code)


def test_coverage_check_notices_a_value_missing_from_the_map(tmp_path: Path) -> None:
    copy = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, copy)
    path = copy / "aftership.yaml"
    path.write_text(path.read_text().replace("      Exception_013: {code: EXCEPTION, reason: LOST}", ""))
    t = load_mappings(copy).vendor("aftership").table("subtag")
    assert [v for v in t.known_values if t.lookup(v) is None] == ["Exception_013"]


def test_exception_targets_always_carry_a_reason() -> None:
    for vm in M.vendors.values():
        for t in vm.tables.values():
            for target in t.entries.values():
                if target.code in ("EXCEPTION", "DELIVERY_ATTEMPT_FAILED"):
                    assert isinstance(target.reason, ExceptionReason)
                else:
                    assert target.reason is None


def test_unknown_value_resolves_to_unknown_and_finer_values_fall_back() -> None:
    assert M.resolve("aftership", [("subtag", "Exception_099"), ("tag", "Exception")]).code == "EXCEPTION"
    miss = M.resolve("aftership", [("subtag", "Teleported_001"), ("tag", "Teleported")])
    assert (miss.code, miss.matched) == ("UNKNOWN", False)
    assert M.resolve("easypost", [("status_detail", "status_update"), ("status", "pre_transit")]).code == "LABEL_CREATED"
    assert M.resolve("shiphero", [("other_webhook", "Capture Payment")]).ignored


@pytest.mark.parametrize("spelling", ["shipping", "urn:epcglobal:cbv:bizstep:shipping",
                                      "https://ref.gs1.org/cbv/BizStep-shipping"])
def test_epcis_business_steps_in_every_spelling(spelling: str) -> None:
    assert M.resolve("epcis", [("bizstep", spelling)]).code == "SHIPPED"
    assert M.resolve("epcis", [("bizstep_order", spelling)]).code == "SHIPPED"


@pytest.mark.parametrize(("raw", "code"), [("UPS", "ups"), ("FedEx", "fedex"), ("fedex", "fedex"),
                                           ("USPS", "usps"), ("DHL Express", "dhl"), ("dhl_express", "dhl"),
                                           ("dhl-germany", "dhl_paket"), ("Royal Mail", "royal_mail"),
                                           ("Yun Express", "yun_express")])
def test_carrier_names_normalize_to_lower_case_codes(raw: str, code: str) -> None:
    assert M.normalize_carrier(raw) == code


def test_mapping_version_is_stable_and_tracks_content(tmp_path: Path) -> None:
    copy = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, copy)
    assert load_mappings(copy).version == MAPPING_VERSION
    path = copy / "easypost.yaml"
    path.write_text(path.read_text() + "\n# a comment changes nothing\n")
    assert load_mappings(copy).version == MAPPING_VERSION
    path.write_text(path.read_text().replace("address_correction: IN_TRANSIT", "address_correction: EXCEPTION"))
    assert load_mappings(copy).version != MAPPING_VERSION


BROKEN = [
    ("easypost.yaml", "label_created: LABEL_CREATED", "label_created: LABEL_PRINTED", "label_created"),
    ("easypost.yaml", "delayed: {code: EXCEPTION, reason: DELAY}", "delayed: {code: EXCEPTION, reason: SLOW}",
     "delayed"),
    ("easypost.yaml", "in_transit: IN_TRANSIT", "in_transit: {code: IN_TRANSIT, reason: DELAY}", "in_transit"),
    ("easypost.yaml", "vendor: easypost", "vendor: easy", "vendor"),
    ("easypost.yaml", "kind: shipment", "kind: parcel", "kind"),
    ("odoo.yaml", "order.released: ORDER_RELEASED", "order.released: DELIVERED", "order.released"),
    ("odoo.yaml", "naive_time_zone: UTC", "naive_time_zone: Mars/Olympus", "naive_time_zone"),
    ("geo.yaml", '"NO": {iso3', "NO: {iso3", "countries"),
    ("geo.yaml", "DE: {iso3: DEU, zone: Europe/Berlin}", "DE: {iso3: DEU, zone: Europe/Bonn}", "countries.DE"),
    ("carriers.yaml", "  usps: [USPS,", "  usps: [UPS,", "carriers.usps"),
]


@pytest.mark.parametrize(("file", "old", "new", "key"), BROKEN)
def test_bad_mapping_files_raise_config_error_naming_file_and_key(
    tmp_path: Path, file: str, old: str, new: str, key: str
) -> None:
    copy = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, copy)
    path = copy / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_mappings(copy)
    assert file in str(info.value)
    assert key in str(info.value)


def test_missing_support_files_and_unparsable_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no mapping files"):
        load_mappings(tmp_path)
    (tmp_path / "carriers.yaml").write_text("vendor: carriers\ncarriers: {ups: [UPS]}\n")
    with pytest.raises(ConfigError, match=r"geo\.yaml"):
        load_mappings(tmp_path)
    (tmp_path / "odoo.yaml").write_text("vendor: odoo\ntables: [unclosed\n")
    with pytest.raises(ConfigError, match=r"odoo\.yaml: cannot read YAML"):
        load_mappings(tmp_path)
