"""The Kafka side of ingest: the producer port, a batching asyncio producer, and Kafka health.

``BatchingProducer`` is :class:`backbone.kafka.AsyncProducer`, which matters at thousands of
requests a second: its poll thread only queues delivery reports and wakes the event loop once per
poll batch (backbone.delivery), instead of one cross-thread wake-up (self-pipe write, GIL
hand-off) per message; ``send_many`` settles a whole NDJSON batch with one future.

``KafkaHealth`` learns from librdkafka's error callback that every broker is down (so requests
fail fast with 503 instead of waiting out the delivery timeout) or that the producer hit a fatal
error (readiness and liveness then fail so the orchestrator replaces the process). A successful
delivery or metadata probe marks Kafka up again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from confluent_kafka import KafkaError

from backbone.config import BackboneConfig
from backbone.delivery import Message4, Outcomes
from backbone.headers import Headers
from backbone.kafka import AsyncProducer, producer_config

__all__ = ["BatchSender", "BatchingProducer", "KafkaHealth", "Message4", "Outcomes", "RawProducer", "make_producer"]

log = logging.getLogger(__name__)


class RawProducer(Protocol):
    """What ingest needs from a producer (:class:`BatchingProducer`; ``AsyncProducer`` fits too)."""

    def send_nowait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]: ...

    def healthy(self, timeout: float = 2.0, topic: str | None = None) -> bool: ...

    def flush(self, timeout: float = 10.0) -> int: ...

    def close(self, timeout: float = 10.0) -> int: ...


class KafkaHealth:
    """Broker reachability as last reported by librdkafka (its callbacks run on the poll thread)."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.fatal: str | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None or self.fatal is not None

    def on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = err.str()
            log.critical(
                "kafka producer fatal error; ingest refuses writes until restarted", extra={"code": err.name()}
            )
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.error("all kafka brokers are down; answering 503 until one is back")
        else:
            log.warning("kafka client error", extra={"code": err.name(), "reason": err.str()})

    def mark_up(self) -> None:
        if self.down_since is not None:
            log.info("kafka reachable again", extra={"code": "up"})
            self.down_since = None


@runtime_checkable
class BatchSender(Protocol):
    """A producer that can settle a whole NDJSON batch with one future (BatchingProducer)."""

    def send_many(self, messages: list[Message4]) -> tuple[asyncio.Future[Outcomes], Callable[[], None]]: ...


class BatchingProducer(AsyncProducer):
    """:class:`backbone.kafka.AsyncProducer` (batched wake-ups, ``send_many``) on ingest's poll thread."""

    def __init__(self, conf: dict[str, Any]) -> None:
        super().__init__(conf, thread_name="ingest-kafka-poll")


def make_producer(cfg: BackboneConfig, health: KafkaHealth, *, timeout_s: float, linger_ms: int) -> BatchingProducer:
    """Idempotent acks=all producer whose deliveries fail (503) after ``timeout_s`` instead of 30 s."""
    timeout_ms = int(timeout_s * 1000)
    return BatchingProducer(
        producer_config(
            cfg,
            **{
                "linger.ms": linger_ms,
                "delivery.timeout.ms": timeout_ms,
                "message.timeout.ms": timeout_ms,
                "request.timeout.ms": min(10_000, timeout_ms),
                "error_cb": health.on_error,
                "client.id": "ingest",
                "logger": logging.getLogger("services.ingest.librdkafka"),
            },
        )
    )
