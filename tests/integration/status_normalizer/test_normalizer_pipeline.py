"""The normalizer as a real Faust worker process against the real broker and registry."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backbone import headers as h
from tests.conftest import IsolatedTopics, StackEndpoints, partner_fixture_bytes
from tests.integration.pipeline_helpers import RawFeeder, read_avro
from tests.integration.status_normalizer.conftest import NormalizerRunner

pytestmark = pytest.mark.integration

FIXTURES = [
    ("raw.carrier-tracking", "easypost", "easypost.event.v2", "easypost_tracker_updated.json"),
    ("raw.carrier-tracking", "aftership", "aftership.webhook.v4", "aftership_tracking_update.json"),
    ("raw.carrier-tracking", "shippo", "shippo.track_updated", "shippo_track_updated.json"),
    ("raw.warehouse", "shiphero", "shiphero.shipment_update", "shiphero_shipment_update.json"),
    ("raw.warehouse", "shipbob", "shipbob.webhook", "shipbob_order_shipped.json"),
    ("raw.carrier-tracking", "generic-tms", "generic.milestone.v1", "generic_milestone.json"),
]


def _by_tracking(records: list[dict[str, Any]], tracking: str) -> list[dict[str, Any]]:
    return sorted((r for r in records if r.get("tracking_number") == tracking), key=lambda r: r["occurred_at"])


def test_every_fixture_produces_exactly_its_milestones_and_nothing_twice(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, run_normalizer: NormalizerRunner
) -> None:
    feeders = {
        role: RawFeeder(stack_env.kafka, stack_env.registry, isolated_topics.name(role))
        for role in ("raw.carrier-tracking", "raw.warehouse")
    }
    event_ids = {}
    for role, partner, fmt, name in FIXTURES:
        event_ids[name] = feeders[role].send(partner, fmt, partner_fixture_bytes(name), key=name)
    for f in feeders.values():
        f.flush()
    shipments_topic = isolated_topics.name("canonical.shipment-milestones")
    orders_topic = isolated_topics.name("canonical.order-milestones")
    with run_normalizer():
        shipments = read_avro(stack_env.kafka, stack_env.registry, shipments_topic, expect=14)
        orders = read_avro(stack_env.kafka, stack_env.registry, orders_topic, expect=2)
        # The same bodies again (a vendor redelivery with new event ids): nothing new may come out.
        for role, partner, fmt, name in FIXTURES:
            feeders[role].send(partner, fmt, partner_fixture_bytes(name), key=name)
        for f in feeders.values():
            f.flush()
        time.sleep(4)
        shipments_after = read_avro(stack_env.kafka, stack_env.registry, shipments_topic, expect=len(shipments))
        orders_after = read_avro(stack_env.kafka, stack_env.registry, orders_topic, expect=len(orders))
    assert len(shipments_after) == len(shipments)
    assert len(orders_after) == len(orders)

    easypost = _by_tracking(shipments, "9400110898825022579493")
    assert [r["code"] for r in easypost] == ["LABEL_CREATED", "CARRIER_PICKED_UP", "IN_TRANSIT"]
    assert all(r["_key"] == "usps:9400110898825022579493" for r in easypost)

    aftership = _by_tracking(shipments, "1Z999AA10123456784")
    assert [r["code"] for r in aftership] == ["LABEL_CREATED", "CARRIER_PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY"]
    assert {r["occurred_at_offset_minutes"] for r in aftership} == {60}
    assert aftership[0]["occurred_at"] == datetime(2026, 11, 18, 16, 2, tzinfo=UTC)

    shippo = _by_tracking(shipments, "9205590164917312751089")
    assert [r["code"] for r in shippo] == ["LABEL_CREATED", "CARRIER_PICKED_UP", "IN_TRANSIT", "DELIVERED"]

    generic = _by_tracking(shipments, "JJD000390007882231")
    assert [(r["code"], r["exception_reason"]) for r in generic] == [("DELIVERY_ATTEMPT_FAILED", "ADDRESS")]

    shiphero = [r for r in orders if r["order_ref"] == "SO-2026-0419"]
    assert [(r["code"], r["package_number"], r["total_packages"], r["fully_shipped"]) for r in shiphero] == [
        ("SHIPPED", 1, 2, False)
    ]
    assert (shiphero[0]["carrier"], shiphero[0]["tracking_number"]) == ("fedex", "794618300113")
    shipbob = [r for r in orders if r["order_ref"] == "SO-2026-0420"]
    assert [(r["code"], r["carrier"], r["tracking_number"]) for r in shipbob] == [
        ("SHIPPED", "ups", "1Z4W37A20321884411")
    ]

    # Every record carries its lineage: milestone id header, correlation id, pointer to the raw record.
    for r in shipments + orders:
        assert r["_headers"][h.MILESTONE_ID] == r["milestone_id"]
        assert r["_headers"][h.CORRELATION_ID] == r["correlation_id"]
        assert r["raw_ref"]["topic"].startswith("raw.")
    assert len({r["milestone_id"] for r in shipments}) == len(shipments)


def test_resent_history_with_one_extra_checkpoint_yields_exactly_one(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, run_normalizer: NormalizerRunner
) -> None:
    feeder = RawFeeder(stack_env.kafka, stack_env.registry, isolated_topics.name("raw.carrier-tracking"))
    body = json.loads(partner_fixture_bytes("easypost_tracker_updated.json"))
    feeder.send("easypost", "easypost.event.v2", json.dumps(body).encode(), key="t")
    extra = dict(
        body["result"]["tracking_details"][-1],
        status="out_for_delivery",
        status_detail="out_for_delivery",
        message="Out for Delivery",
        datetime="2026-11-21T07:10:00Z",
    )
    body["result"]["tracking_details"].append(extra)
    body["id"] = "evt_second"
    feeder.send("easypost", "easypost.event.v2", json.dumps(body).encode(), key="t")
    feeder.flush()
    topic = isolated_topics.name("canonical.shipment-milestones")
    with run_normalizer():
        records = read_avro(stack_env.kafka, stack_env.registry, topic, expect=4)
    assert [r["code"] for r in sorted(records, key=lambda r: r["occurred_at"])] == [
        "LABEL_CREATED",
        "CARRIER_PICKED_UP",
        "IN_TRANSIT",
        "OUT_FOR_DELIVERY",
    ]


def test_poison_record_goes_to_dlq_and_the_stream_moves_on(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, run_normalizer: NormalizerRunner
) -> None:
    feeder = RawFeeder(stack_env.kafka, stack_env.registry, isolated_topics.name("raw.carrier-tracking"))
    good = json.loads(partner_fixture_bytes("generic_milestone.json"))
    sent = []
    for i in range(5):
        body = dict(
            good,
            event_id=f"g-{i}",
            occurred_at=(datetime(2026, 11, 20, 10, tzinfo=UTC) + timedelta(minutes=i)).isoformat(),
        )
        sent.append(feeder.send("generic-tms", "generic.milestone.v1", json.dumps(body).encode(), key="same"))
        if i == 2:
            poison = feeder.send("generic-tms", "generic.milestone.v1", b'{"event_id": "x", "kind": 42}', key="same")
    feeder.flush()
    with run_normalizer():
        good_out = read_avro(
            stack_env.kafka, stack_env.registry, isolated_topics.name("canonical.shipment-milestones"), expect=5
        )
        from confluent_kafka import Consumer, Message

        c = Consumer(
            {
                "bootstrap.servers": stack_env.kafka,
                "group.id": f"dlq-{isolated_topics.suffix}",
                "auto.offset.reset": "earliest",
            }
        )
        c.subscribe([isolated_topics.name("dlq.status_normalizer")])
        dead: list[Message] = []
        deadline = time.monotonic() + 30
        while not dead and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and not msg.error():
                dead.append(msg)
        c.close()
    assert len(good_out) == 5
    assert len(dead) == 1
    d = h.to_dict(dead[0].headers())
    assert d[h.EVENT_ID] == poison
    assert d[h.ERROR_CLASS] == "ParseError"
    assert d[h.ERROR_STAGE] == "normalize"
    assert d[h.ORIGINAL_TOPIC] == isolated_topics.name("raw.carrier-tracking")
    assert int(d[h.ORIGINAL_OFFSET]) >= 0
    assert d[h.ATTEMPTS] == "1" and d[h.FIRST_FAILURE_AT]
