"""The Kafka side of ingest: the producer port, a batching asyncio producer, and Kafka health.

``BatchingProducer`` is :class:`backbone.kafka.AsyncProducer` with one change that matters at
thousands of requests a second: its poll thread only queues delivery reports and wakes the event
loop once per poll batch, instead of one cross-thread wake-up (self-pipe write, GIL hand-off) per
message; the event loop then settles every waiting request in one pass.

``KafkaHealth`` learns from librdkafka's error callback that every broker is down (so requests
fail fast with 503 instead of waiting out the delivery timeout) or that the producer hit a fatal
error (readiness and liveness then fail so the orchestrator replaces the process). A successful
delivery or metadata probe marks Kafka up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, cast, runtime_checkable

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from backbone.config import BackboneConfig
from backbone.errors import RetryableError
from backbone.headers import Headers
from backbone.kafka import delivery_error, producer_config

__all__ = ["BatchSender", "BatchingProducer", "KafkaHealth", "RawProducer", "make_producer"]

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


Message4 = tuple[str, bytes, bytes, Headers]  # topic, value, key, headers
Outcomes = list[BaseException | None]


@runtime_checkable
class BatchSender(Protocol):
    """A producer that can settle a whole NDJSON batch with one future (BatchingProducer)."""

    def send_many(self, messages: list[Message4]) -> tuple[asyncio.Future[Outcomes], Callable[[], None]]: ...


_UNSETTLED = TimeoutError("kafka did not acknowledge in time")


class _Batch:
    """Outcomes of one batch; the future resolves when every message has a delivery report."""

    __slots__ = ("future", "outcomes", "pending")

    def __init__(self, future: asyncio.Future[Outcomes], size: int) -> None:
        self.future = future
        self.outcomes: Outcomes = [_UNSETTLED] * size
        self.pending = size

    def settle(self, index: int, outcome: BaseException | None) -> None:
        self.outcomes[index] = outcome
        self.pending -= 1
        if self.pending == 0 and not self.future.done():
            self.future.set_result(self.outcomes)

    def expire(self) -> None:
        """Backstop: answer with what is known; unreported messages stay TimeoutError."""
        if not self.future.done():
            self.future.set_result(list(self.outcomes))


class BatchingProducer:
    """asyncio facade over one confluent-kafka Producer; futures resolve on broker acknowledgement."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self._producer = Producer(conf)
        self._reports: deque[tuple[Any, int, KafkaError | None, Message]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._poll_loop, name="ingest-kafka-poll", daemon=True)
        self._thread.start()

    def send_nowait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        reports = self._reports

        def on_delivery(err: KafkaError | None, msg: Message) -> None:  # poll thread: queue only
            reports.append((future, -1, err, msg))

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

    def send_many(self, messages: list[Message4]) -> tuple[asyncio.Future[Outcomes], Callable[[], None]]:
        """Produce every message; the future resolves with one outcome each (None = acknowledged).
        The second value expires the batch (a backstop timer calls it)."""
        loop = self._loop = asyncio.get_running_loop()
        batch = _Batch(loop.create_future(), len(messages))
        reports, produce = self._reports, self._producer.produce
        for index, (topic, value, key, headers) in enumerate(messages):

            def on_delivery(err: KafkaError | None, msg: Message, index: int = index) -> None:
                reports.append((batch, index, err, msg))

            try:
                produce(topic, value, key, headers=cast(Any, headers), on_delivery=on_delivery)
            except BufferError:
                batch.settle(index, RetryableError("producer queue full", retry_after=1.0, topic=topic))
            except KafkaException as exc:
                batch.settle(index, delivery_error(exc.args[0], topic))
        return batch.future, batch.expire

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)
            # Reports are only queued inside poll(), so checking after it never misses a wake-up.
            loop = self._loop
            if self._reports and loop is not None:
                with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                    loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        reports = self._reports
        while reports:
            target, index, err, msg = reports.popleft()
            if index >= 0:
                target.settle(index, None if err is None else delivery_error(err, msg.topic()))
            elif target.done():
                continue
            elif err is None:
                target.set_result(msg)
            else:
                target.set_exception(delivery_error(err, msg.topic()))

    def flush(self, timeout: float = 10.0) -> int:
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> int:
        remaining = self.flush(timeout)
        self._closed.set()
        self._thread.join(timeout=2)
        return remaining

    def healthy(self, timeout: float = 2.0, topic: str | None = None) -> bool:
        """Metadata round trip; with ``topic`` only that topic's metadata is fetched (a cluster may
        hold thousands of topics) and the topic must exist."""
        try:
            md = self._producer.list_topics(topic, timeout=timeout)
        except KafkaException:
            return False
        if topic is not None:
            found = md.topics.get(topic)
            return found is not None and found.error is None and bool(md.brokers)
        return bool(md.brokers)


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
