"""Shared helpers for the status normalizer tests (plain functions so hypothesis tests can use them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.validation import validate

from services.status_normalizer.parsers import parse
from services.status_normalizer.records import (
    CanonicalRecord,
    InventoryEvent,
    OrderMilestone,
    RawContext,
    ShipmentMilestone,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
RECEIVED_AT = datetime(2026, 11, 20, 19, 0, 5, tzinfo=UTC)

# fixture file -> RawEvent format (the six shared partner samples come first)
FORMATS: dict[str, str] = {
    "easypost_tracker_updated.json": "easypost.event.v2",
    "aftership_tracking_update.json": "aftership.webhook.v4",
    "shippo_track_updated.json": "shippo.track_updated",
    "shiphero_shipment_update.json": "shiphero.shipment_update",
    "shipbob_order_shipped.json": "shipbob.webhook",
    "generic_milestone.json": "generic.milestone.v1",
    "odoo_order_released.json": "odoo.order.v1",
    "odoo_order_cancelled.json": "odoo.order.v1",
    "wms_order_answer_rejected.json": "wms.order_answer.v1",
    "wms_reconciliation.json": "wms.reconciliation.v1",
    "carrier_label_created.json": "carrier.label.v1",
    "shiphero_inventory_update.json": "shiphero.inventory_update",
    "shiphero_inventory_change.json": "shiphero.inventory_change",
    "shiphero_order_allocated.json": "shiphero.order_allocated",
    "shiphero_capture_payment.json": "shiphero.webhook",
    "shipbob_tracking_updated.json": "shipbob.webhook",
    "generic_order_picked.json": "generic.milestone.v1",
    "generic_inventory_counted.json": "generic.milestone.v1",
}


def ctx(fmt: str, *, partner: str = "test-partner", offset: int = 42) -> RawContext:
    return RawContext(
        partner=partner,
        format=fmt,
        event_id=f"evt-{offset}",
        received_at=RECEIVED_AT,
        correlation_id="corr-1",
        topic="raw.carrier-tracking.v1",
        partition=3,
        offset=offset,
    )


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def parse_fixture(name: str, *, payload: bytes | None = None) -> list[CanonicalRecord]:
    fmt = FORMATS[name]
    return parse(fixture_bytes(name) if payload is None else payload, ctx(fmt, partner=name.split("_")[0]))


def parse_json(name: str, document: Any) -> list[CanonicalRecord]:
    return parse_fixture(name, payload=json.dumps(document).encode())


@cache
def schema(name: str) -> Any:
    return parse_schema(json.loads((SCHEMAS / f"{name}.avsc").read_text()))


def schema_for(record: CanonicalRecord) -> Any:
    if isinstance(record, ShipmentMilestone):
        return schema("ShipmentMilestone")
    if isinstance(record, OrderMilestone):
        return schema("OrderMilestone")
    assert isinstance(record, InventoryEvent)
    return schema("InventoryEvent")


def assert_valid_avro(record: CanonicalRecord) -> None:
    assert validate(record.to_avro(), schema_for(record), raise_errors=True)


def shipments(records: list[CanonicalRecord]) -> list[ShipmentMilestone]:
    return [r for r in records if isinstance(r, ShipmentMilestone)]


def orders(records: list[CanonicalRecord]) -> list[OrderMilestone]:
    return [r for r in records if isinstance(r, OrderMilestone)]
