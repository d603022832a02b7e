"""Raw bytes in, encoded canonical records out: everything the Faust agent does, minus Faust.

One raw message goes through: decode RawEvent (Confluent wire format) -> skip if its event id was
seen -> parse (one record per checkpoint) -> dedupe by content -> encode Avro -> outputs with
headers (correlation id, traceparent, milestone id). Dedupe state is written to a per-batch
overlay first and reaches the real table only after Kafka acknowledged the outputs, so a crash
republishes (same milestone ids) instead of losing a checkpoint.

This runs once per raw event at tens of thousands of events per second, so per-event work that
does not depend on the event is done once: schemas are parsed and compiled into Avro readers and
writers at start-up (:mod:`backbone.avro_compiled`, byte-identical to fastavro), metric children
are looked up once, and trace context goes through :mod:`._tracing` (same headers, fewer layers).
With the standard parsers, checkpoints whose milestone id was already published are not even
built (``parsers.parse_unseen``): vendors re-send whole histories, so most of a webhook is known.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fastavro
from prometheus_client import Counter

from backbone import headers as h
from backbone.avro_compiled import UnsupportedSchema, compile_reader, compile_writer
from backbone.errors import SerializationError
from backbone.serialization import AvroSerde, SchemaRegistry, load_schema, parse_wire_header
from backbone.topics import TopicCatalog
from services.status_normalizer import parsers
from services.status_normalizer._tracing import SpanFactory
from services.status_normalizer.dedupe import Deduper, StateStore
from services.status_normalizer.records import (
    CanonicalRecord,
    InventoryEvent,
    OrderMilestone,
    RawContext,
    ShipmentMilestone,
    stream_key,
)

__all__ = ["BatchOverlay", "Output", "Pipeline", "RawMessage"]

NORMALIZED = Counter("backbone_normalizer_records_total", "Canonical records published", ["kind"])
DUPLICATES = Counter("backbone_normalizer_duplicates_total", "Records or events dropped as already seen", ["reason"])
UNKNOWN = Counter("backbone_normalizer_unknown_codes_total", "Vendor statuses missing from the mapping tables",
                  ["partner", "format"])
RAW_IN = Counter("backbone_normalizer_raw_events_total", "Raw events consumed", ["topic"])

_ROLE = {ShipmentMilestone: ("canonical.shipment-milestones", "ShipmentMilestone"),
         OrderMilestone: ("canonical.order-milestones", "OrderMilestone"),
         InventoryEvent: ("canonical.inventory-events", "InventoryEvent")}
_KIND = {ShipmentMilestone: "shipment", OrderMilestone: "order", InventoryEvent: "inventory"}
_NULLABLE_RECORDS = {ShipmentMilestone: ("location",), OrderMilestone: ("ship_to",), InventoryEvent: ()}
_NULLABLE_TIMES = {ShipmentMilestone: ("estimated_delivery",), OrderMilestone: (), InventoryEvent: ()}


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: h.Headers
    timestamp_ms: int


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes
    value: bytes
    headers: h.Headers
    record: CanonicalRecord


class BatchOverlay:
    """A StateStore that reads through to ``base`` and keeps writes until ``writes`` are flushed."""

    def __init__(self, base: StateStore) -> None:
        self.base = base
        self._shared: dict[str, str] = {}
        self.writes: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        if key in self._shared:
            return self._shared[key]
        return self.base.get(key)

    def set(self, key: str, value: str) -> None:
        self._shared[key] = value
        self.writes[key] = value

    def begin_event(self) -> None:
        """Writes are flushed per raw event (Faust tables need each key's source partition)."""
        self.writes = {}


class _Encoder:
    """Avro encoding of one canonical record type: a writer compiled from the schema
    (:mod:`backbone.avro_compiled`).

    A schema the compiler does not handle falls back to fastavro, with the union branches named up
    front: fastavro picks a branch by validating the value against each one in turn, which for a
    nested record costs more than writing it; naming the branch (fastavro's tuple notation) writes
    the same bytes without the search.
    """

    def __init__(self, topic: str, serde: AvroSerde, cls: type) -> None:
        self.topic = topic
        self.serde = serde
        self.kind = _KIND[cls]
        self._parsed = fastavro.parse_schema(serde.schema)
        self._prefix = serde.wire_prefix
        namespace = serde.schema.get("namespace", "")
        fields = {f["name"]: f["type"] for f in serde.schema["fields"]}
        self._records = [(name, _branch_name(fields[name], namespace)) for name in _NULLABLE_RECORDS[cls]]
        self._times = list(_NULLABLE_TIMES[cls])
        try:
            self._write: Callable[[dict[str, Any]], bytes] | None = compile_writer(serde.schema)
        except UnsupportedSchema:
            self._write = None

    def encode(self, value: dict[str, Any]) -> bytes:
        try:
            if self._write is not None:
                return self._prefix + self._write(value)
            return self._prefix + self._fastavro(value)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerializationError(f"record does not fit schema {self.serde.schema.get('name')}: {exc}",
                                     schema_id=self.serde.schema_id) from exc

    def _fastavro(self, value: dict[str, Any]) -> bytes:
        for name, branch in self._records:
            if value[name] is not None:
                value[name] = (branch, value[name])
        for name in self._times:
            if value[name] is not None:
                value[name] = ("long", value[name])
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self._parsed, value)
        return buf.getvalue()


def _branch_name(union: Any, namespace: str) -> str:
    """Full name of the record branch of a ``["null", {record}]`` union."""
    (record,) = [t for t in union if isinstance(t, dict) and t.get("type") == "record"]
    name = str(record["name"])
    return name if "." in name else f"{record.get('namespace', namespace)}.{name}"


class _RawDecoder:
    """RawEvent decoding; resolution against our reader schema only when the writer's differs.

    The writer schema is compared as parsed (docs, defaults and logical types included): only an
    identical schema makes resolution a no-op.
    """

    def __init__(self, registry: SchemaRegistry) -> None:
        self._registry = registry
        ours = load_schema("RawEvent")
        self._reader = fastavro.parse_schema(ours)
        self._fast = compile_reader(ours)
        self._by_id: dict[int, tuple[Any, Any]] = {}

    def decode(self, data: bytes) -> dict[str, Any]:
        schema_id = parse_wire_header(data)
        plan = self._by_id.get(schema_id)
        if plan is None:
            writer = self._registry.writer_schema(schema_id)
            plan = self._by_id[schema_id] = (writer, None if writer == self._reader else self._reader)
        if plan[1] is None:
            try:
                return self._fast(data, 5)
            except Exception:  # truncated, bad UTF-8, a time out of range: fastavro's own result or error
                return AvroSerde._read(data, plan[0], plan[1])
        return AvroSerde._read(data, plan[0], plan[1])


@dataclass
class Pipeline:
    registry: SchemaRegistry
    catalog: TopicCatalog
    parse: Callable[[bytes, RawContext], list[CanonicalRecord]]
    mapping_version: str = "1"
    _encoders: dict[type, _Encoder] = field(default_factory=dict)
    _raw: _RawDecoder | None = None

    def __post_init__(self) -> None:
        # Schema ids are registered (or found) once here: no registry I/O per message.
        for cls, (role, schema) in _ROLE.items():
            topic = self.catalog.name(role)
            self._encoders[cls] = _Encoder(topic, self.registry.serde_for(topic, schema), cls)
        self._raw = _RawDecoder(self.registry)
        self._spans = SpanFactory("backbone.status_normalizer")
        self._raw_in: dict[str, Any] = {}
        self._normalized = {kind: NORMALIZED.labels(kind) for kind in _KIND.values()}
        self._dup_event = DUPLICATES.labels("event_id")
        self._dup_checkpoint = DUPLICATES.labels("checkpoint")

    def context(self, msg: RawMessage) -> tuple[RawContext, bytes]:
        assert self._raw is not None
        raw = self._raw.decode(msg.value)
        ctx = RawContext(partner=raw["partner"], format=raw["format"], event_id=raw["event_id"],
                         received_at=raw["received_at"], correlation_id=raw["correlation_id"],
                         topic=msg.topic, partition=msg.partition, offset=msg.offset)
        return ctx, raw["payload"]

    def normalize(self, msg: RawMessage, store: StateStore) -> list[Output]:
        """Outputs for one raw message; raises on anything that must go to the dead letter topic."""
        counter = self._raw_in.get(msg.topic)
        if counter is None:
            counter = self._raw_in[msg.topic] = RAW_IN.labels(msg.topic)
        counter.inc()
        ctx, payload = self.context(msg)
        event_key = f"event:{ctx.partner}:{ctx.event_id}"
        if store.get(event_key) is not None:
            self._dup_event.inc()
            return []
        with self._spans.consumer("normalize", msg.headers, {"messaging.source": msg.topic,
                                                             "backbone.partner": ctx.partner,
                                                             "backbone.format": ctx.format}) as span:
            deduper = Deduper(store)
            if self.parse is parsers.parse:
                # Checkpoints already published are not even built (vendors re-send whole histories).
                records, skipped = parsers.parse_unseen(payload, ctx, deduper.published)
            else:
                records, skipped = self.parse(payload, ctx), 0
            fresh = deduper.new_records(records)
            if len(records) + skipped > len(fresh):
                self._dup_checkpoint.inc(len(records) + skipped - len(fresh))
            trace_headers = span.headers() if fresh else []
            outputs = [self._encode(rec, ctx, trace_headers) for rec in fresh]
            deduper.remember(fresh)
            store.set(event_key, "1")
        for rec in fresh:
            if str(getattr(rec, "code", getattr(rec, "kind", ""))) == "UNKNOWN":
                UNKNOWN.labels(ctx.partner, ctx.format).inc()
        return outputs

    def _encode(self, record: CanonicalRecord, ctx: RawContext, trace_headers: h.Headers) -> Output:
        encoder = self._encoders[type(record)]
        value = record.to_avro()
        value["mapping_version"] = self.mapping_version
        # Same headers, same order as h.encode + inject_headers: values are never None here.
        hdrs = [(h.CORRELATION_ID, ctx.correlation_id.encode()), (h.EVENT_ID, ctx.event_id.encode()),
                (h.MILESTONE_ID, record.milestone_id.encode()), (h.PARTNER, ctx.partner.encode()), *trace_headers]
        self._normalized[encoder.kind].inc()
        return Output(encoder.topic, stream_key(record).encode(), encoder.encode(value), hdrs, record)


def latency_ms(msg_timestamp_ms: int, now: float | None = None) -> float:
    """Raw append -> now, for the raw-to-canonical latency histogram."""
    return ((now or time.time()) * 1000) - msg_timestamp_ms


def utc_now() -> datetime:
    return datetime.now(UTC)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
