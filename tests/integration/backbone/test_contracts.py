"""Data contracts against the real registry and broker."""

from __future__ import annotations

import copy
import json
import struct
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from backbone.schema_registry_ops import backward_problems
from backbone.serialization import SchemaRegistry, load_schema, subject_for
from backbone.topic_admin import apply_plan, plan_topics
from backbone.topics import load_topics
from tests.conftest import StackEndpoints

pytestmark = pytest.mark.integration


def _raw_event() -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "partner": "easypost",
        "channel": "carrier-tracking",
        "format": "easypost.event.v2",
        "received_at": datetime(2026, 11, 20, 14, 5, 12, tzinfo=UTC),
        "content_type": "application/json",
        "payload": b'{"id": "evt_1"}',
        "signature_scheme": "easypost-hmac",
        "correlation_id": "c-1",
        "source_ip": None,
        "natural_key": "9400110898825022579493",
    }


def test_avro_round_trip_through_registry_and_broker(stack_env: StackEndpoints, unique: str) -> None:
    topic = f"test.roundtrip-{unique}.v1"
    admin = AdminClient({"bootstrap.servers": stack_env.kafka})
    from confluent_kafka.admin import NewTopic

    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    registry = SchemaRegistry.connect(stack_env.registry)
    serde = registry.serde_for(topic, "RawEvent")
    value = serde.encode(_raw_event())

    producer = Producer({"bootstrap.servers": stack_env.kafka, "enable.idempotence": True, "acks": "all"})
    producer.produce(topic, value, b"easypost:9400110898825022579493")
    assert producer.flush(15) == 0

    consumer = Consumer(
        {"bootstrap.servers": stack_env.kafka, "group.id": f"g-{unique}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    msg = None
    for _ in range(60):
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            break
    consumer.close()
    assert msg is not None and msg.value() is not None
    data = msg.value()
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == serde.schema_id
    # The registry knows that id, and a plain Confluent deserializer (what analytics use) reads it.
    client = SchemaRegistryClient({"url": stack_env.registry})
    assert json.loads(client.get_schema(serde.schema_id).schema_str)["name"] == "RawEvent"
    decoded = AvroDeserializer(client)(data, SerializationContext(topic, MessageField.VALUE))
    assert decoded["payload"] == b'{"id": "evt_1"}'
    assert decoded["received_at"] == datetime(2026, 11, 20, 14, 5, 12, tzinfo=UTC)
    assert registry.decode(data)["natural_key"] == "9400110898825022579493"


def test_incompatible_change_is_rejected_by_registry_and_fastavro(stack_env: StackEndpoints, unique: str) -> None:
    old = load_schema("ShipmentMilestone")
    broken = copy.deepcopy(old)
    # A new required field without default: old data cannot be read by the new reader.
    broken["fields"].append({"name": "hub_code", "type": "string"})
    fine = copy.deepcopy(old)
    fine["fields"].append({"name": "hub_code", "type": ["null", "string"], "default": None})

    assert backward_problems(old, broken)
    assert backward_problems(old, fine) == []

    registry = SchemaRegistry.connect(stack_env.registry)
    subject = subject_for(f"test.compat-{unique}.v1")
    registry.set_compatibility(subject, "BACKWARD")
    registry.register(subject, old)
    assert registry.is_compatible(subject, fine) is True
    assert registry.is_compatible(subject, broken) is False


def test_topics_apply_creates_then_reports_no_drift(stack_env: StackEndpoints, unique: str, tmp_path: Path) -> None:
    text = (Path("topics.yaml")).read_text()
    # Same declarations under unique names so the test never touches the real topics.
    path = tmp_path / "topics.yaml"
    path.write_text(text.replace(".v1", f"-{unique}.v1"))
    catalog = load_topics(path)
    admin = AdminClient({"bootstrap.servers": stack_env.kafka})

    first = plan_topics(admin, catalog, replication=1)
    assert {c.action for c in first.changes} == {"create"}
    assert len(first.changes) == len(catalog.specs)
    apply_plan(admin, first)

    second = plan_topics(admin, catalog, replication=1)
    assert second.empty, second.render()

    # Drift: someone shortened retention by hand and the file wants more partitions.
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    name = catalog.specs[0].name
    res = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)],
    )
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result(timeout=15)
    import time

    for _ in range(40):  # config changes reach describe_configs asynchronously in KRaft
        described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)])
        if next(iter(described.values())).result(timeout=10)["retention.ms"].value == "1000":
            break
        time.sleep(0.25)
    path.write_text(path.read_text().replace("partitions: 6", "partitions: 8", 1))
    drift = plan_topics(admin, load_topics(path), replication=1)
    actions = {(c.topic, c.action) for c in drift.changes}
    assert (name, "alter-config") in actions
    assert (name, "add-partitions") in actions
    apply_plan(admin, drift)
    assert plan_topics(admin, load_topics(path), replication=1).empty
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 8
