"""Many produce calls acknowledged as one awaitable.

``AsyncProducer.send_nowait`` makes a future per record and wakes the event loop from the
delivery thread once per record (a self-pipe write and a loop iteration each). A batch of a
thousand canonical records needs one answer: all acknowledged, or the first error. Here the
delivery callbacks only count (each counter has a single writer thread, so no lock is needed)
and the loop is woken once, when the last acknowledgement of a sealed batch arrives.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from backbone.errors import DeliveryError, RetryableError
from backbone.headers import Headers
from backbone.kafka import delivery_error

__all__ = ["DeliveryBatch"]


class DeliveryBatch:
    """Produce through ``producer`` (whose poll loop runs elsewhere) and await every acknowledgement."""

    def __init__(self, producer: Producer, loop: asyncio.AbstractEventLoop) -> None:
        self._producer = producer
        self._loop = loop
        self._future: asyncio.Future[None] = loop.create_future()
        self._sent = 0  # written by the event loop thread only
        self._acked = 0  # written by the delivery (poll) thread only
        self._sealed = False
        self._error: DeliveryError | None = None
        self.offsets: dict[tuple[str, int], int] = {}  # highest acknowledged offset per (topic, partition)

    def send(self, topic: str, value: bytes, key: bytes | None, headers: Headers | None,
             partition: int | None = None) -> None:
        try:
            self._producer.produce(topic, value, key, partition=-1 if partition is None else partition,
                                   headers=cast(Any, headers), on_delivery=self._on_delivery)
        except BufferError as exc:
            raise RetryableError("producer queue full", retry_after=1.0, topic=topic) from exc
        except KafkaException as exc:
            raise delivery_error(exc.args[0], topic) from exc
        self._sent += 1

    def send_many(self, topic: str, partition: int, messages: list[dict[str, Any]]) -> None:
        """``messages`` ({"key", "value"} dicts, no headers) to one partition in one call."""
        if not messages:
            return
        try:
            queued = self._producer.produce_batch(topic, messages, partition=partition, on_delivery=self._on_delivery)
        except BufferError as exc:
            raise RetryableError("producer queue full", retry_after=1.0, topic=topic) from exc
        except KafkaException as exc:
            raise delivery_error(exc.args[0], topic) from exc
        self._sent += queued
        if queued < len(messages):
            error = next((m["_error"] for m in messages if m.get("_error") is not None), None)
            if isinstance(error, KafkaError):
                raise delivery_error(error, topic)
            raise RetryableError(f"{len(messages) - queued} records not queued: {error}", topic=topic)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            if self._error is None:
                self._error = delivery_error(err, msg.topic())
        else:
            tp = (str(msg.topic()), int(msg.partition() or 0))
            offset = msg.offset() or 0
            if offset > self.offsets.get(tp, -1):
                self.offsets[tp] = offset
        self._acked += 1
        if self._sealed and self._acked == self._sent:
            self._loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        """Return when every record sent so far is acknowledged; raise the first delivery error."""
        self._sealed = True
        if self._acked == self._sent:
            self._resolve()
        await self._future
        if self._error is not None:
            raise self._error
