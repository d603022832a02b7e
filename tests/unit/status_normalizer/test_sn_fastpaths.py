"""The normalizer's fast paths produce exactly what the straightforward code they replace produces."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from backbone import headers as h
from backbone.delivery import DeliveryBatch
from backbone.serialization import AvroSerde, load_schema
from services.status_normalizer import _tracing
from services.status_normalizer.errors import ParseError
from services.status_normalizer.parsers._json import load_json
from services.status_normalizer.pipeline import _Encoder
from services.status_normalizer.records import (
    MILESTONE_NAMESPACE,
    CanonicalRecord,
    InventoryEvent,
    Location,
    OrderMilestone,
    ShipmentMilestone,
    _uuid5_text,
)
from services.status_normalizer.state import ChangelogWriter, TtlTableStore

from ._support import FORMATS, parse_fixture

SCHEMA = {ShipmentMilestone: "ShipmentMilestone", OrderMilestone: "OrderMilestone", InventoryEvent: "InventoryEvent"}


def _all_fixture_records() -> list[CanonicalRecord]:
    return [r for name in FORMATS for r in parse_fixture(name)]


def _variants(record: CanonicalRecord) -> Iterator[CanonicalRecord]:
    yield record
    if isinstance(record, ShipmentMilestone):
        yield dataclasses.replace(record, location=None, estimated_delivery=None)
        yield dataclasses.replace(record, location=Location(city="Lyon", country="FR"),
                                  estimated_delivery=datetime(2026, 11, 22, tzinfo=UTC))
    if isinstance(record, OrderMilestone):
        yield dataclasses.replace(record, ship_to=None)


def test_encoder_writes_the_bytes_of_the_plain_serde() -> None:
    records = [v for r in _all_fixture_records() for v in _variants(r)]
    assert {type(r) for r in records} == set(SCHEMA)
    for record in records:
        serde = AvroSerde(7, load_schema(SCHEMA[type(record)]))
        value = dict(record.to_avro(), mapping_version="1.abc")
        expected = serde.encode(dict(value))
        assert _Encoder("t", serde, type(record)).encode(value) == expected


@pytest.mark.parametrize("name", ["", "a", "shipment\x1fusps\x1f9400\x1f2026-11-19T09:12:00.000000+00:00", "é" * 300])
def test_milestone_ids_are_uuid5_text(name: str) -> None:
    assert _uuid5_text(name) == str(uuid.uuid5(MILESTONE_NAMESPACE, name))


def test_milestone_ids_of_fixtures_are_stable() -> None:
    for record in _all_fixture_records():
        assert uuid.UUID(record.milestone_id).version == 5


def test_lazy_paths_name_the_field_in_errors() -> None:
    root = load_json(json.dumps({"msg": {"checkpoints": [{"tag": "x"}, {"tag": ["x"]}]}}).encode())
    second = root.obj("msg").items("checkpoints")[1]
    with pytest.raises(ParseError, match=r"^\$\.msg\.checkpoints\[1\]\.tag: expected a string, got list$"):
        second.opt_text("tag")
    assert root.obj("msg").items("checkpoints")[0].opt_text("tag") == "x"
    assert second.path == "$.msg.checkpoints[1]"
    with pytest.raises(ParseError, match=r"^\$\.msg\.checkpoints\[0\]: expected an object, got str$"):
        load_json(b'{"msg": {"checkpoints": ["x"]}}').obj("msg").items("checkpoints")[0].raw("tag")


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    return exporter


PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_event_span_is_a_consumer_child_and_its_headers_carry_it(spans: InMemorySpanExporter) -> None:
    factory = _tracing.SpanFactory("t")
    with factory.consumer("normalize", [(h.TRACEPARENT, PARENT.encode()), (h.TRACESTATE, b"k=v")],
                          {"backbone.partner": "p"}) as span:
        headers = dict(span.headers())
    (done,) = spans.get_finished_spans()
    assert done.kind is SpanKind.CONSUMER and done.attributes == {"backbone.partner": "p"}
    assert done.parent is not None and done.parent.span_id == 0xB7AD6B7169203331
    ctx = done.context
    assert headers[h.TRACEPARENT] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01".encode()
    assert ctx.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert headers[h.TRACESTATE] == b"k=v"


def test_baggage_and_other_propagators_take_the_generic_path(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = _tracing.SpanFactory("t")
    with factory.consumer("n", [(h.TRACEPARENT, PARENT.encode()), ("baggage", b"tenant=acme")], {}) as span:
        assert dict(span.headers())["baggage"] == b"tenant=acme"
    monkeypatch.setenv("OTEL_PROPAGATORS", "b3")
    assert _tracing.SpanFactory("t").parent([])[1] is False


def test_errors_are_recorded_on_the_span(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ParseError), _tracing.SpanFactory("t").consumer("n", [], {}):
        raise ParseError("bad")
    (done,) = spans.get_finished_spans()
    assert not done.status.is_ok and done.events[0].name == "exception"


class _FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o


class _FakeProducer:
    """Acknowledges from another thread, like librdkafka's poll thread."""

    def __init__(self, fail_offset: int | None = None) -> None:
        self.offset = 0
        self.fail_offset = fail_offset
        self.threads: list[threading.Thread] = []

    def _ack(self, callback: Any, topic: str, partition: int) -> None:
        from confluent_kafka import KafkaError

        offset, self.offset = self.offset, self.offset + 1
        err = KafkaError(KafkaError._MSG_TIMED_OUT) if offset == self.fail_offset else None
        thread = threading.Thread(target=callback, args=(err, _FakeMessage(topic, partition, offset)))
        self.threads.append(thread)
        thread.start()

    def produce(self, topic: str, value: bytes, key: bytes | None, partition: int = -1, headers: Any = None,
                on_delivery: Any = None) -> None:
        self._ack(on_delivery, topic, max(partition, 0))

    def produce_batch(self, topic: str, messages: list[dict[str, Any]], partition: int = -1,
                      on_delivery: Any = None) -> int:
        for _ in messages:
            self._ack(on_delivery, topic, partition)
        return len(messages)


async def test_delivery_batch_waits_for_every_ack_and_keeps_the_highest_offsets() -> None:
    import asyncio

    producer = _FakeProducer()
    batch = DeliveryBatch(producer, asyncio.get_running_loop())  # type: ignore[arg-type]
    for i in range(50):
        batch.send("out", b"v", b"k", [], partition=i % 2)
    batch.send_many("log", 3, [{"key": b"k", "value": b"v"}] * 10)
    await asyncio.wait_for(batch.wait(), 5)
    assert batch.offsets == {("out", 0): 48, ("out", 1): 49, ("log", 3): 59}
    empty = DeliveryBatch(producer, asyncio.get_running_loop())  # type: ignore[arg-type]
    await asyncio.wait_for(empty.wait(), 1)


async def test_delivery_batch_raises_the_first_error() -> None:
    import asyncio

    from backbone.errors import RetryableError

    batch = DeliveryBatch(_FakeProducer(fail_offset=3), asyncio.get_running_loop())  # type: ignore[arg-type]
    for _ in range(10):
        batch.send("out", b"v", None, [])
    with pytest.raises(RetryableError):
        await asyncio.wait_for(batch.wait(), 5)


def test_ttl_store_and_changelog_writer_on_a_plain_mapping() -> None:
    now = [1_000_000.0]
    data: dict[bytes, bytes] = {}
    store = TtlTableStore(data, ttl_seconds=60, clock=lambda: now[0])
    store.route(4)
    assert store.get("seen:x") is None
    store.set("seen:x", "1")
    assert data == {b"seen:x": b"1000000|1"} and store.get("seen:x") == "1"

    class Table(dict[bytes, bytes]):
        changelog_topic_name = "app-dedupe-changelog"

    table = Table()
    sent: list[tuple[str, int, list[dict[str, Any]]]] = []

    class Batch:
        def send_many(self, topic: str, partition: int, messages: list[dict[str, Any]]) -> None:
            sent.append((topic, partition, messages))

    writer = ChangelogWriter(table, TtlTableStore(table, 60, clock=lambda: now[0]))
    writer.add(2, {"event:p:1": "1", "latest:S:k": "2026-11-20T00:00:00+00:00"}, "1000000")
    writer.add(2, {"event:p:2": "1", "latest:S:k": "2026-11-21T00:00:00+00:00"}, "1000001")
    writer.flush(Batch())  # type: ignore[arg-type]
    assert table[b"latest:S:k"] == b"1000001|2026-11-21T00:00:00+00:00"
    ((topic, partition, messages),) = sent
    assert (topic, partition, len(messages)) == ("app-dedupe-changelog", 2, 3)
    now[0] += 61
    assert store.get("seen:x") is None
    assert store.expired(data.items()) == [b"seen:x"]


def test_raw_events_resolve_against_our_schema_unless_the_writer_is_identical() -> None:
    import copy

    import fastavro

    from services.status_normalizer.pipeline import _RawDecoder

    ours = load_schema("RawEvent")
    plain_long = copy.deepcopy(ours)
    (received,) = [f for f in plain_long["fields"] if f["name"] == "received_at"]
    received["type"] = "long"  # same canonical form, no logical type

    class Registry:
        writers = {1: fastavro.parse_schema(ours), 2: fastavro.parse_schema(plain_long)}

        def writer_schema(self, schema_id: int) -> Any:
            return self.writers[schema_id]

    record = {"event_id": "e", "partner": "p", "channel": "c", "format": "f", "content_type": "application/json",
              "payload": b"{}", "signature_scheme": "api-key", "correlation_id": "k", "source_ip": None,
              "natural_key": None}
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    decoder = _RawDecoder(Registry())  # type: ignore[arg-type]
    same = AvroSerde(1, ours).encode({**record, "received_at": at})
    older = AvroSerde(2, plain_long).encode({**record, "received_at": int(at.timestamp() * 1_000_000)})
    reader = fastavro.parse_schema(ours)
    for data, writer in ((same, Registry.writers[1]), (older, Registry.writers[2])):
        # What SchemaRegistry.decode(data, reader) returned before the fast path.
        assert decoder.decode(data) == AvroSerde._read(data, writer, reader)
    assert decoder.decode(same)["received_at"] == at
