"""Records validate against schemas/*.avsc and survive an Avro round trip."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import validate

from services.status_normalizer.records import CanonicalRecord, OrderMilestone, ShipmentMilestone

from ._support import FORMATS, assert_valid_avro, parse_fixture, schema, schema_for

ALL_RECORDS: list[tuple[str, CanonicalRecord]] = [(n, r) for n in FORMATS for r in parse_fixture(n)]


def test_every_fixture_produced_records_of_all_three_kinds() -> None:
    assert {type(r).__name__ for _, r in ALL_RECORDS} == {"ShipmentMilestone", "OrderMilestone", "InventoryEvent"}


@pytest.mark.parametrize(("name", "record"), ALL_RECORDS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL_RECORDS)])
def test_record_validates_and_round_trips(name: str, record: CanonicalRecord) -> None:
    assert_valid_avro(record)
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema_for(record), record.to_avro())
    buffer.seek(0)
    back = schemaless_reader(buffer, schema_for(record), schema_for(record))
    assert isinstance(back, dict)
    assert back["milestone_id"] == record.milestone_id
    assert back["occurred_at"] == record.occurred_at
    assert back["occurred_at"].tzinfo is not None


def test_record_fields_mirror_the_schema_exactly() -> None:
    for record_type, name in ((ShipmentMilestone, "ShipmentMilestone"), (OrderMilestone, "OrderMilestone")):
        record = next(r for _, r in ALL_RECORDS if isinstance(r, record_type))
        assert list(record.to_avro()) == [f["name"] for f in schema(name)["fields"]]
    inventory = next(r for _, r in ALL_RECORDS if type(r).__name__ == "InventoryEvent")
    assert list(inventory.to_avro()) == [f["name"] for f in schema("InventoryEvent")["fields"]]


def test_validation_would_catch_a_wrong_enum_symbol() -> None:
    record = next(r for _, r in ALL_RECORDS if isinstance(r, ShipmentMilestone))
    broken = {**record.to_avro(), "code": "LOST_IN_SPACE"}
    assert not validate(broken, schema("ShipmentMilestone"), raise_errors=False)
    assert record.to_avro()["occurred_at"] == record.occurred_at.astimezone(UTC)
    assert isinstance(record.to_avro()["received_at"], datetime)
