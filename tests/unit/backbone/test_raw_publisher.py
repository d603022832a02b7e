"""RawPublisher: RawEvent bytes, key, headers and trace context, with in-memory producer and registry."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import pytest
from opentelemetry.sdk.trace import TracerProvider

from backbone import headers as h
from backbone.config import repo_root
from backbone.errors import RetryableError
from backbone.raw_publisher import RawPublisher
from backbone.serialization import AvroSerde, load_schema
from backbone.topics import load_topics


@dataclass
class FakeMessage:
    _partition: int
    _offset: int

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes | None, bytes | None, h.Headers]] = field(default_factory=list)
    fail: Exception | None = None

    async def send(self, topic: str, value: bytes | None, key: bytes | None = None,
                   headers: h.Headers | None = None, partition: int | None = None) -> FakeMessage:
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, value, key, list(headers or [])))
        return FakeMessage(3, len(self.sent) - 1)


@dataclass
class FakeRegistry:
    calls: list[tuple[str, str]] = field(default_factory=list)

    def serde_for(self, topic: str, schema_name: str) -> AvroSerde:
        self.calls.append((topic, schema_name))
        return AvroSerde(41, load_schema(schema_name))


def publisher(producer: FakeProducer, registry: FakeRegistry) -> RawPublisher:
    return RawPublisher(producer, registry, load_topics(repo_root() / "topics.yaml"))


async def test_publish_writes_a_raw_event_like_ingest_does() -> None:
    producer, registry = FakeProducer(), FakeRegistry()
    sent = await publisher(producer, registry).publish(
        "raw.warehouse", partner="shiphero", fmt="wms.order_answer.v1", payload=b'{"answer":"accepted"}',
        natural_key="SO-1", correlation_id="corr-1", event_id="ev-1",
    )
    assert (sent.topic, sent.partition, sent.offset, sent.key, sent.event_id) == (
        "raw.warehouse.v1", 3, 0, "shiphero:SO-1", "ev-1")
    topic, value, key, headers = producer.sent[0]
    assert (topic, key) == ("raw.warehouse.v1", b"shiphero:SO-1")
    assert value is not None and value[:5] == b"\x00\x00\x00\x00\x29"  # Confluent framing, schema id 41
    record = AvroSerde(41, load_schema("RawEvent")).decode(value)
    assert {k: record[k] for k in ("event_id", "partner", "channel", "format", "payload", "signature_scheme",
                                   "correlation_id", "natural_key", "content_type", "source_ip")} == {
        "event_id": "ev-1", "partner": "shiphero", "channel": "warehouse", "format": "wms.order_answer.v1",
        "payload": b'{"answer":"accepted"}', "signature_scheme": "internal", "correlation_id": "corr-1",
        "natural_key": "SO-1", "content_type": "application/json", "source_ip": None,
    }
    assert record["received_at"].tzinfo is not None
    assert {k: v for k, v in h.to_dict(headers).items() if k != h.TRACEPARENT} == {
        h.EVENT_ID: "ev-1", h.CORRELATION_ID: "corr-1", h.PARTNER: "shiphero", h.FORMAT: "wms.order_answer.v1"}


async def test_the_trace_continues_from_the_current_span() -> None:
    producer = FakeProducer()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("wms apply") as span:
        await publisher(producer, FakeRegistry()).publish(
            "raw.carrier-tracking", partner="easypost", fmt="carrier.label.v1", payload=b"{}",
            natural_key="1Z999", correlation_id="c")
    trace_id = format(span.get_span_context().trace_id, "032x")
    traceparent = h.get(producer.sent[0][3], h.TRACEPARENT)
    assert traceparent is not None and traceparent.split("-")[1] == trace_id
    assert producer.sent[0][0] == "raw.carrier-tracking.v1"


async def test_without_ids_the_key_falls_back_to_a_fresh_event_id() -> None:
    producer = FakeProducer()
    sent = await publisher(producer, FakeRegistry()).publish(
        "raw.warehouse", partner="shiphero", fmt="wms.reconciliation.v1", payload=b"{}", natural_key=None,
        correlation_id=None)
    uuid.UUID(sent.event_id)
    assert sent.key == f"shiphero:{sent.event_id}"
    assert h.get(producer.sent[0][3], h.CORRELATION_ID) == sent.event_id


async def test_the_schema_is_registered_once_per_topic_even_under_concurrency() -> None:
    producer, registry = FakeProducer(), FakeRegistry()
    pub = publisher(producer, registry)
    assert await pub.prepare("raw.warehouse") == "raw.warehouse.v1"
    await asyncio.gather(*(pub.publish("raw.warehouse", partner="p", fmt="f", payload=b"x", natural_key=str(i),
                                       correlation_id=None) for i in range(20)))
    await asyncio.gather(*(pub.publish("raw.erp", partner="p", fmt="f", payload=b"x", natural_key=str(i),
                                       correlation_id=None) for i in range(5)))
    assert registry.calls == [("raw.warehouse.v1", "RawEvent"), ("raw.erp.v1", "RawEvent")]
    assert len(producer.sent) == 25


async def test_an_unacknowledged_write_raises_the_delivery_error() -> None:
    producer = FakeProducer(fail=RetryableError("kafka write not acknowledged", retry_after=1.0))
    with pytest.raises(RetryableError):
        await publisher(producer, FakeRegistry()).publish(
            "raw.warehouse", partner="p", fmt="f", payload=b"x", natural_key="k", correlation_id="c")


def test_an_unknown_role_is_refused_before_anything_is_sent() -> None:
    from backbone.errors import ConfigError

    pub = publisher(FakeProducer(), FakeRegistry())
    with pytest.raises(ConfigError):
        asyncio.run(pub.prepare("raw.nowhere"))
