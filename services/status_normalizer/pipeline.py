"""Raw bytes in, encoded canonical records out: everything the Faust agent does, minus Faust.

One raw message goes through: decode RawEvent (Confluent wire format) -> skip if its event id was
seen -> parse (one record per checkpoint) -> dedupe by content -> encode Avro -> outputs with
headers (correlation id, traceparent, milestone id). Dedupe state is written to a per-batch
overlay first and reaches the real table only after Kafka acknowledged the outputs, so a crash
republishes (same milestone ids) instead of losing a checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

from backbone import headers as h
from backbone.serialization import AvroSerde, SchemaRegistry
from backbone.telemetry import extract_context, inject_headers
from backbone.topics import TopicCatalog
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

_tracer = trace.get_tracer("backbone.status_normalizer")


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


@dataclass
class Pipeline:
    registry: SchemaRegistry
    catalog: TopicCatalog
    parse: Callable[[bytes, RawContext], list[CanonicalRecord]]
    mapping_version: str = "1"
    _serdes: dict[type, tuple[str, AvroSerde]] = field(default_factory=dict)
    _raw_reader: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Schema ids are registered (or found) once here: no registry I/O per message.
        for cls, (role, schema) in _ROLE.items():
            topic = self.catalog.name(role)
            self._serdes[cls] = (topic, self.registry.serde_for(topic, schema))
        from backbone.serialization import load_schema

        self._raw_reader = load_schema("RawEvent")

    def context(self, msg: RawMessage) -> tuple[RawContext, bytes]:
        raw = self.registry.decode(msg.value, self._raw_reader)
        ctx = RawContext(partner=raw["partner"], format=raw["format"], event_id=raw["event_id"],
                         received_at=raw["received_at"], correlation_id=raw["correlation_id"],
                         topic=msg.topic, partition=msg.partition, offset=msg.offset)
        return ctx, bytes(raw["payload"])

    def normalize(self, msg: RawMessage, store: StateStore) -> list[Output]:
        """Outputs for one raw message; raises on anything that must go to the dead letter topic."""
        RAW_IN.labels(msg.topic).inc()
        ctx, payload = self.context(msg)
        event_key = f"event:{ctx.partner}:{ctx.event_id}"
        if store.get(event_key) is not None:
            DUPLICATES.labels("event_id").inc()
            return []
        with _tracer.start_as_current_span("normalize", context=extract_context(msg.headers), kind=SpanKind.CONSUMER,
                                           attributes={"messaging.source": msg.topic, "backbone.partner": ctx.partner,
                                                       "backbone.format": ctx.format}):
            records = self.parse(payload, ctx)
            deduper = Deduper(store)
            fresh = deduper.new_records(records)
            DUPLICATES.labels("checkpoint").inc(len(records) - len(fresh))
            outputs = [self._encode(rec, msg, ctx) for rec in fresh]
            deduper.remember(fresh)
            store.set(event_key, "1")
        for rec in fresh:
            if str(getattr(rec, "code", getattr(rec, "kind", ""))) == "UNKNOWN":
                UNKNOWN.labels(ctx.partner, ctx.format).inc()
        return outputs

    def _encode(self, record: CanonicalRecord, msg: RawMessage, ctx: RawContext) -> Output:
        topic, serde = self._serdes[type(record)]
        value = record.to_avro()
        value["mapping_version"] = self.mapping_version
        hdrs = inject_headers(h.encode({
            h.CORRELATION_ID: ctx.correlation_id,
            h.EVENT_ID: ctx.event_id,
            h.MILESTONE_ID: record.milestone_id,
            h.PARTNER: ctx.partner,
        }))
        NORMALIZED.labels(_KIND[type(record)]).inc()
        return Output(topic, stream_key(record).encode(), serde.encode(value), hdrs, record)


def latency_ms(msg_timestamp_ms: int, now: float | None = None) -> float:
    """Raw append -> now, for the raw-to-canonical latency histogram."""
    return ((now or time.time()) * 1000) - msg_timestamp_ms


def utc_now() -> datetime:
    return datetime.now(UTC)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
