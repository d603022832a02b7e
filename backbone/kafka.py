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
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from backbone.config import BackboneConfig
from backbone.delivery import Message4, OutcomeBatch, Outcomes, ReportQueue, delivery_error, refused, settle_future
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


class AsyncProducer:
    """asyncio facade over one Producer; a daemon thread serves delivery callbacks.

    ``send`` resolves when the broker acknowledged (acks=all) and raises a DeliveryError otherwise,
    so an HTTP handler can answer 2xx only for durable writes. ``send_many`` settles a whole batch
    with one future of per-message outcomes. Delivery reports reach the event loop through a
    :class:`backbone.delivery.ReportQueue`: one wake-up per poll batch, not one per message.
    A producer serves one event loop at a time (the loop of its latest send).
    """

    def __init__(self, conf: dict[str, Any], *, thread_name: str = "kafka-producer-poll") -> None:
        self._producer = Producer(conf)
        self._reports = ReportQueue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._poll_loop, name=thread_name, daemon=True)
        self._thread.start()

    @property
    def producer(self) -> Producer:
        return self._producer

    def _poll_loop(self) -> None:
        poll, wake = self._producer.poll, self._reports.wake
        while not self._closed.is_set():
            poll(0.05)
            wake()  # reports are only queued inside poll(), so waking after it never misses one
        wake()

    def send_nowait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Message]:
        loop = asyncio.get_running_loop()
        self._reports.bind(loop)
        future: asyncio.Future[Message] = loop.create_future()
        call_soon = self._reports.call_soon

        def on_delivery(err: KafkaError | None, msg: Message) -> None:  # delivery thread: queue only
            call_soon(settle_future, future, err, msg, topic)

        kwargs: dict[str, Any] = {"on_delivery": on_delivery, "headers": headers or []}
        if partition is not None:
            kwargs["partition"] = partition
        try:
            self._producer.produce(topic, value, key, **kwargs)
        except (BufferError, KafkaException) as exc:
            raise refused(exc, topic) from exc
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

    def send_many(self, messages: list[Message4]) -> tuple[asyncio.Future[Outcomes], Callable[[], None]]:
        """Produce every message; the future resolves with one outcome each (None = acknowledged).
        The second value expires the batch (a backstop timer calls it); a message ``produce()``
        refused (queue full) gets its error as outcome and the others are still tried."""
        loop = asyncio.get_running_loop()
        self._reports.bind(loop)
        batch = OutcomeBatch(loop, len(messages), self._reports.call_soon)
        produce = self._producer.produce
        for index, (topic, value, key, headers) in enumerate(messages):

            def on_delivery(err: KafkaError | None, msg: Message, index: int = index, topic: str = topic) -> None:
                batch.report(index, None if err is None else delivery_error(err, topic))

            try:
                produce(topic, value, key, headers=cast(Any, headers), on_delivery=on_delivery)
            except (BufferError, KafkaException) as exc:
                batch.reject(index, refused(exc, topic))
            else:
                batch.add()
        return batch.seal(), batch.expire

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for outstanding deliveries; returns how many are still queued."""
        remaining = int(self._producer.flush(timeout))
        self._reports.wake()  # flush() served reports on this thread: settle them now, not after the next poll
        return remaining

    def close(self, timeout: float = 10.0) -> int:
        remaining = self.flush(timeout)
        self._closed.set()
        self._thread.join(timeout=2)
        return remaining

    def healthy(self, timeout: float = 2.0, topic: str | None = None) -> bool:
        """True when the cluster answers a metadata request through this producer's connection; with
        ``topic`` only that topic's metadata is fetched (a cluster may hold thousands) and it must exist."""
        try:
            md = self._producer.list_topics(topic, timeout=timeout)
        except KafkaException:
            return False
        if topic is not None:
            found = md.topics.get(topic)
            return found is not None and found.error is None and bool(md.brokers)
        return bool(md.brokers)
