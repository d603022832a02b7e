"""Thin factories around confluent-kafka: safe defaults, SASL/SSL passthrough, errors translated once.

Producers are idempotent with acks=all (nothing acked is lost). Consumers never auto-commit:
callers commit after their work is durable. :class:`AsyncProducer` gives asyncio code an awaitable
``send`` that resolves only when the broker acknowledged the write.

Example::

    producer = AsyncProducer(producer_config(cfg))
    msg = await producer.send("raw.erp.v1", value=b"...", key=b"odoo:SO1", headers=[...])
    print(msg.partition(), msg.offset())
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from backbone.config import BackboneConfig
from backbone.errors import DeliveryError, PermanentError, RetryableError
from backbone.headers import Headers

__all__ = [
    "AsyncProducer",
    "admin_client",
    "consumer_config",
    "delivery_error",
    "producer_config",
]


def _base(cfg: BackboneConfig) -> dict[str, Any]:
    cfg.require("kafka_bootstrap_servers")
    return {"bootstrap.servers": cfg.kafka_bootstrap_servers, **cfg.kafka.librdkafka()}


def producer_config(cfg: BackboneConfig, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all producer; ``delivery.timeout.ms`` bounds how long a send may wait."""
    conf: dict[str, Any] = {
        **_base(cfg),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "delivery.timeout.ms": 30_000,
        "request.timeout.ms": 10_000,
        "message.timeout.ms": 30_000,
        "socket.keepalive.enable": True,
    }
    conf.update(overrides)
    return conf


def consumer_config(cfg: BackboneConfig, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Manual-commit consumer with cooperative-sticky rebalancing (no stop-the-world on scale-out)."""
    conf: dict[str, Any] = {
        **_base(cfg),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 10_000,
        "max.poll.interval.ms": 300_000,
        "isolation.level": "read_committed",
    }
    conf.update(overrides)
    return conf


def admin_client(cfg: BackboneConfig, **overrides: Any) -> AdminClient:
    return AdminClient({**_base(cfg), **overrides})


_RETRIABLE_CODES = {
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._QUEUE_FULL,
    KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
}


def delivery_error(err: KafkaError, topic: str | None = None) -> DeliveryError:
    """Translate a librdkafka error once: retriable/timeouts -> RetryableError, else PermanentError."""
    if err.retriable() or err.code() in _RETRIABLE_CODES:
        return RetryableError(f"kafka write not acknowledged: {err.str()}", retry_after=1.0, topic=topic)
    return PermanentError(f"kafka refused the write: {err.str()}", topic=topic, code=err.name())


class AsyncProducer:
    """asyncio facade over one Producer; a daemon thread serves delivery callbacks.

    ``send`` resolves when the broker acknowledged (acks=all) and raises a DeliveryError otherwise,
    so an HTTP handler can answer 2xx only for durable writes.
    """

    def __init__(self, conf: dict[str, Any]) -> None:
        self._producer = Producer(conf)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._poll_loop, name="kafka-producer-poll", daemon=True)
        self._thread.start()

    @property
    def producer(self) -> Producer:
        return self._producer

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def send_nowait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Message]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                loop.call_soon_threadsafe(_set_exception, future, delivery_error(err, topic))
            else:
                loop.call_soon_threadsafe(_set_result, future, msg)

        kwargs: dict[str, Any] = {"on_delivery": on_delivery, "headers": headers or []}
        if partition is not None:
            kwargs["partition"] = partition
        try:
            self._producer.produce(topic, value, key, **kwargs)
        except BufferError as exc:
            raise RetryableError("producer queue full", retry_after=1.0, topic=topic) from exc
        except KafkaException as exc:
            raise delivery_error(exc.args[0], topic) from exc
        return future

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Message:
        return await self.send_nowait(topic, value, key, headers, partition)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for outstanding deliveries; returns how many are still queued."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> int:
        remaining = self.flush(timeout)
        self._closed.set()
        self._thread.join(timeout=2)
        return remaining

    def healthy(self, timeout: float = 2.0) -> bool:
        """True when the cluster answers a metadata request through this producer's connection."""
        try:
            md = self._producer.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return bool(md.brokers)


def _set_result(future: asyncio.Future[Message], msg: Message) -> None:
    if not future.done():
        future.set_result(msg)


def _set_exception(future: asyncio.Future[Message], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
