"""Dead letter channel: one bad record never stops a stream.

A failed record is re-published byte-for-byte (original key and value) to ``dlq.<consumer>.v1``
with headers saying what failed, where, and how often. Redriving keeps counting: attempts and the
first failure time survive a redrive, so a record that keeps failing is recognisable.

Example::

    dlq = DeadLetterChannel(producer, topic=catalog.dlq("odoo_sink"), consumer="odoo_sink")
    await dlq.publish(msg_key, msg_value, msg_headers, error=exc, stage="apply",
                      origin=Origin("canonical.order-milestones.v1", 2, 1187), attempts=5)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Message
from prometheus_client import Counter, Gauge

from backbone import headers as h
from backbone.kafka import AsyncProducer

__all__ = ["DeadLetterChannel", "Origin", "dlq_headers"]

DEAD_LETTERED = Counter(
    "backbone_dead_lettered_total",
    "Records sent to a dead letter topic",
    ["consumer", "stage", "error_class"],
)

LAST_DEAD_LETTER = Gauge(
    "backbone_dead_letter_last_timestamp_seconds",
    "Unix time of the newest dead letter per consumer (alert on time() - this for DLQ age)",
    ["consumer"],
)

_DLQ_HEADER_NAMES = {
    h.ERROR_CLASS,
    h.ERROR_MESSAGE,
    h.ERROR_STAGE,
    h.ORIGINAL_TOPIC,
    h.ORIGINAL_PARTITION,
    h.ORIGINAL_OFFSET,
    h.ATTEMPTS,
    h.FIRST_FAILURE_AT,
    h.LAST_FAILURE_AT,
    h.CONSUMER,
}


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int


def dlq_headers(
    original: h.Headers | None,
    *,
    error: BaseException,
    stage: str,
    origin: Origin,
    consumer: str,
    attempts: int = 1,
    now: datetime | None = None,
) -> h.Headers:
    """Original headers (correlation id, traceparent...) plus the DLQ error headers."""
    now = now or datetime.now(UTC)
    previous = h.to_dict(original)
    first = previous.get(h.FIRST_FAILURE_AT) or now.isoformat()
    message = str(error)[:1000]
    # A redriven record that fails again keeps counting instead of starting over.
    attempts += int(previous.get(h.ATTEMPTS, "0") or 0)
    kept = [(k, v) for k, v in (original or []) if k not in _DLQ_HEADER_NAMES]
    values: dict[str, str | int | None] = {
        h.ERROR_CLASS: type(error).__name__,
        h.ERROR_MESSAGE: message,
        h.ERROR_STAGE: stage,
        h.ORIGINAL_TOPIC: origin.topic,
        h.ORIGINAL_PARTITION: origin.partition,
        h.ORIGINAL_OFFSET: origin.offset,
        h.ATTEMPTS: attempts,
        h.FIRST_FAILURE_AT: first,
        h.LAST_FAILURE_AT: now.isoformat(),
        h.CONSUMER: consumer,
    }
    return kept + h.encode(values)


class DeadLetterChannel:
    """Publishes failed records to one consumer's DLQ topic and counts them."""

    def __init__(self, producer: AsyncProducer, *, topic: str, consumer: str) -> None:
        self.producer = producer
        self.topic = topic
        self.consumer = consumer

    async def publish(
        self,
        key: bytes | None,
        value: bytes | None,
        original_headers: h.Headers | None,
        *,
        error: BaseException,
        stage: str,
        origin: Origin,
        attempts: int = 1,
    ) -> Message:
        hdrs = dlq_headers(
            original_headers, error=error, stage=stage, origin=origin, consumer=self.consumer, attempts=attempts
        )
        msg = await self.producer.send(self.topic, value, key, hdrs)
        DEAD_LETTERED.labels(self.consumer, stage, type(error).__name__).inc()
        LAST_DEAD_LETTER.labels(self.consumer).set_to_current_time()
        return msg
