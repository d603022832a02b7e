"""RawPublisher: how bridges put a partner's answer back on a raw topic, exactly as ingest would.

Every outside fact enters through ``raw.*`` and is normalized in one place (DESIGN.md "Flow"), so a
bridge that learns something from a partner API (an order accepted by the WMS, a label created by
the carrier, a reconciliation poll) publishes it as a :class:`RawEvent` (Confluent wire format, the
topic's registered schema) with key ``<partner>:<natural key>`` and the headers ingest writes
(event_id, correlation_id, partner, format) plus the current trace context (``traceparent``), so
the trace continues from the sink's span into the normalizer.

The write resolves only when the broker acknowledged it (acks=all); a failed write raises the
:class:`~backbone.errors.RetryableError` / ``PermanentError`` of :func:`backbone.kafka.delivery_error`.

Example::

    publisher = RawPublisher(producer, registry, load_topics(cfg.topics_file))
    await publisher.prepare("raw.warehouse")             # optional: register the schema at startup
    sent = await publisher.publish(
        "raw.warehouse", partner="shiphero", fmt="wms.order_answer.v1", payload=body,
        natural_key="SO-2026-0419", correlation_id=record.correlation_id, event_id=answer_id,
    )
    sent.topic, sent.partition, sent.offset
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from backbone import headers as h
from backbone.telemetry import inject_headers
from backbone.topics import TopicCatalog

__all__ = ["INTERNAL_SCHEME", "PublishedRaw", "RawPublisher", "RawPublishing", "RawSender", "SerdeSource"]

INTERNAL_SCHEME = "internal"  # RawEvent.signature_scheme of facts our own bridges fetched
_SCHEMA = "RawEvent"


class RawSender(Protocol):
    """What publishing needs from a producer (:class:`backbone.kafka.AsyncProducer` fits)."""

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: h.Headers | None = None,
        partition: int | None = None,
    ) -> Any: ...


class _Encoder(Protocol):
    def encode(self, record: dict[str, Any]) -> bytes: ...


class SerdeSource(Protocol):
    """Where topic serdes come from (:class:`backbone.serialization.SchemaRegistry` fits)."""

    def serde_for(self, topic: str, schema_name: str) -> _Encoder: ...


@dataclass(frozen=True, slots=True)
class PublishedRaw:
    """Where an acknowledged raw event landed."""

    topic: str
    partition: int
    offset: int
    key: str
    event_id: str


class RawPublishing(Protocol):
    """What a bridge needs from :class:`RawPublisher` (tests pass a recording double)."""

    async def publish(
        self,
        channel_role: str,
        *,
        partner: str,
        fmt: str,
        payload: bytes,
        natural_key: str | None,
        correlation_id: str | None,
        event_id: str | None = None,
    ) -> object: ...


class RawPublisher:
    """Publishes RawEvents to raw topics by role; one serde per topic, registered once."""

    def __init__(self, producer: RawSender, registry: SerdeSource, catalog: TopicCatalog) -> None:
        self._producer = producer
        self._registry = registry
        self._catalog = catalog
        self._serdes: dict[str, _Encoder] = {}
        self._lock = asyncio.Lock()

    async def prepare(self, channel_role: str) -> str:
        """Register/look up the RawEvent schema of the role's topic now (a registry round trip that
        would otherwise delay the first publish); returns the topic name."""
        topic = self._catalog.name(channel_role)
        await self._serde(topic)
        return topic

    async def _serde(self, topic: str) -> _Encoder:
        serde = self._serdes.get(topic)
        if serde is None:
            async with self._lock:
                serde = self._serdes.get(topic)
                if serde is None:
                    # Registration is blocking HTTP: once per topic, off the event loop.
                    serde = await asyncio.to_thread(self._registry.serde_for, topic, _SCHEMA)
                    self._serdes[topic] = serde
        return serde

    async def publish(
        self,
        channel_role: str,
        *,
        partner: str,
        fmt: str,
        payload: bytes,
        natural_key: str | None,
        correlation_id: str | None,
        event_id: str | None = None,
        content_type: str = "application/json",
        received_at_us: int | None = None,
    ) -> PublishedRaw:
        """Write one RawEvent and wait for the broker's acknowledgement.

        ``channel_role`` is the topics.yaml role (``raw.warehouse``); the RawEvent channel is the
        role without ``raw.``. A missing ``event_id`` / ``correlation_id`` gets a fresh UUID.
        """
        topic = self._catalog.name(channel_role)
        serde = await self._serde(topic)
        event_id = event_id or str(uuid.uuid4())
        correlation_id = correlation_id or event_id
        record = {
            "event_id": event_id,
            "partner": partner,
            "channel": channel_role.removeprefix("raw."),
            "format": fmt,
            "received_at": received_at_us if received_at_us is not None else time.time_ns() // 1000,
            "content_type": content_type,
            "payload": payload,
            "signature_scheme": INTERNAL_SCHEME,
            "correlation_id": correlation_id,
            "source_ip": None,
            "natural_key": natural_key,
        }
        key = f"{partner}:{natural_key or event_id}"
        headers = inject_headers(
            [
                (h.EVENT_ID, event_id.encode()),
                (h.CORRELATION_ID, correlation_id.encode()),
                (h.PARTNER, partner.encode()),
                (h.FORMAT, fmt.encode()),
            ]
        )
        msg = await self._producer.send(topic, serde.encode(record), key.encode(), headers)
        partition, offset = msg.partition(), msg.offset()
        return PublishedRaw(topic, int(partition or 0), int(offset if offset is not None else -1), key, event_id)
