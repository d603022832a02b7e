"""Kafka delivery reports handed from librdkafka's poll thread to the asyncio event loop, with few wake-ups.

librdkafka runs ``on_delivery`` on whichever thread calls ``poll()``/``flush()``. Waking the event
loop from there once per message (``call_soon_threadsafe``: a self-pipe write and a GIL hand-off
each) costs more than the rest of a produce at thousands of messages a second. The two ways to
wake it less live here, once:

* :class:`ReportQueue`, for independent per-message futures: delivery callbacks only queue, and
  after each ``poll()`` the loop is woken once to settle everything queued, in one pass.
* :class:`AckBatch`, for many messages awaited as one: the delivery callbacks record and count
  (each counter has a single writer thread, so no lock is needed) and the loop is woken once, when
  the last acknowledgement of a sealed batch arrives. :class:`OutcomeBatch` answers with one
  outcome per message (ingest's NDJSON batches); :class:`DeliveryBatch` with all-acknowledged or
  the first error, plus the highest acknowledged offsets (the normalizer's outputs and changelog).

:class:`backbone.kafka.AsyncProducer` builds on both; ``delivery_error`` translates librdkafka
errors into the backbone error tree for all of them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from backbone.errors import DeliveryError, PermanentError, RetryableError
from backbone.headers import Headers

__all__ = [
    "AckBatch",
    "DeliveryBatch",
    "Message4",
    "OutcomeBatch",
    "Outcomes",
    "ReportQueue",
    "delivery_error",
    "refused",
    "settle_future",
]

Message4 = tuple[str, bytes, bytes | None, Headers]  # topic, value, key, headers
Outcomes = list[BaseException | None]  # one per message; None = acknowledged
Schedule = Callable[[Callable[[], None]], Any]  # runs a callable on the event loop, from any thread

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


def refused(exc: BufferError | KafkaException, topic: str) -> DeliveryError:
    """Why ``produce()`` itself refused a message: local queue full (retry soon) or a librdkafka error."""
    if isinstance(exc, BufferError):
        return RetryableError("producer queue full", retry_after=1.0, topic=topic)
    return delivery_error(exc.args[0], topic)


class ReportQueue:
    """Calls queued from any thread, run on the event loop with one wake-up per :meth:`wake`.

    The poll thread calls :meth:`wake` after every ``poll()`` (reports are only produced inside
    it, so checking afterwards never misses one); a wake-up already scheduled and not yet run
    covers everything queued before it runs, so a busy loop is not woken again for each poll.
    """

    __slots__ = ("_calls", "_loop", "_scheduled")

    def __init__(self) -> None:
        self._calls: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False  # set by waking threads, cleared by the loop before it drains

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that queued calls run on (the loop of the futures they settle)."""
        if loop is not self._loop:
            self._loop, self._scheduled = loop, False

    def call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        """Any thread: run ``fn(*args)`` on the loop at the next wake-up."""
        self._calls.append((fn, args))

    def wake(self) -> None:
        """Any thread: have the loop run everything queued, unless a wake-up is already pending."""
        loop = self._loop
        if not self._calls or loop is None or self._scheduled:
            return
        self._scheduled = True
        try:
            loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # the loop is closed (shutdown): nobody is waiting any more
            self._scheduled = False

    def _run(self) -> None:
        self._scheduled = False  # before draining: a call queued from now on gets a new wake-up
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            fn(*args)


def settle_future(future: asyncio.Future[Message], err: KafkaError | None, msg: Message, topic: str) -> None:
    """Loop thread: resolve one message's future from its delivery report."""
    if future.done():
        return
    if err is None:
        future.set_result(msg)
    else:
        future.set_exception(delivery_error(err, topic))


class AckBatch:
    """Messages awaited as one: acknowledgements are counted where they arrive, one wake-up at the end.

    The loop thread counts what it queued (:meth:`_queued`), the delivery thread counts reports
    (:meth:`_acknowledged`, after recording the report); after :meth:`seal` the report that makes
    both counts equal schedules the resolution. Subclasses record reports and pick the result.
    """

    __slots__ = ("_acked", "_future", "_schedule", "_sealed", "_sent")

    def __init__(self, loop: asyncio.AbstractEventLoop, schedule: Schedule | None = None) -> None:
        self._future: asyncio.Future[Any] = loop.create_future()
        self._schedule: Schedule = schedule or loop.call_soon_threadsafe
        self._sent = 0  # written by the event loop thread only
        self._acked = 0  # written by the delivery (poll) thread only
        self._sealed = False

    def _queued(self, count: int = 1) -> None:
        self._sent += count

    def _acknowledged(self) -> None:
        self._acked += 1
        if self._sealed and self._acked == self._sent:
            self._schedule(self._resolve)

    def _result(self) -> Any:
        return None

    def _resolve(self) -> None:
        if not self._future.done():
            self._future.set_result(self._result())

    def seal(self) -> asyncio.Future[Any]:
        """No more messages: the returned future resolves once every queued one has a report."""
        self._sealed = True
        if self._acked == self._sent:
            self._resolve()
        return self._future


_UNSETTLED = TimeoutError("kafka did not acknowledge in time")


class OutcomeBatch(AckBatch):
    """One outcome per message (None = acknowledged); ``seal()`` resolves to the list."""

    __slots__ = ("outcomes",)

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, schedule: Schedule | None = None) -> None:
        super().__init__(loop, schedule)
        self.outcomes: Outcomes = [_UNSETTLED] * size

    def report(self, index: int, outcome: BaseException | None) -> None:
        """Delivery thread: message ``index`` was acknowledged (None) or failed."""
        self.outcomes[index] = outcome
        self._acknowledged()

    def reject(self, index: int, outcome: BaseException) -> None:
        """Loop thread: ``produce()`` refused message ``index``, so no report will come for it."""
        self.outcomes[index] = outcome

    def add(self) -> None:
        """Loop thread: one more message was queued and will get a report."""
        self._queued()

    def _result(self) -> Outcomes:
        return self.outcomes

    def expire(self) -> None:
        """Backstop: answer with what is known; unreported messages stay TimeoutError."""
        if not self._future.done():
            self._future.set_result(list(self.outcomes))


class DeliveryBatch(AckBatch):
    """Produce through ``producer`` (whose poll loop runs elsewhere) and await every acknowledgement.

    ``wait()`` returns when all are acknowledged or raises the first delivery error; ``offsets``
    keeps the highest acknowledged offset per (topic, partition).
    """

    def __init__(self, producer: Producer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)  # one call_soon_threadsafe per batch: the producer's poll loop is not ours
        self._producer = producer
        self._error: DeliveryError | None = None
        self.offsets: dict[tuple[str, int], int] = {}

    def send(self, topic: str, value: bytes, key: bytes | None, headers: Headers | None,
             partition: int | None = None) -> None:
        try:
            self._producer.produce(topic, value, key, partition=-1 if partition is None else partition,
                                   headers=cast(Any, headers), on_delivery=self._on_delivery)
        except (BufferError, KafkaException) as exc:
            raise refused(exc, topic) from exc
        self._queued()

    def send_many(self, topic: str, partition: int, messages: list[dict[str, Any]]) -> None:
        """``messages`` ({"key", "value"} dicts, no headers) to one partition in one call."""
        if not messages:
            return
        try:
            queued = self._producer.produce_batch(topic, messages, partition=partition, on_delivery=self._on_delivery)
        except (BufferError, KafkaException) as exc:
            raise refused(exc, topic) from exc
        self._queued(queued)
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
        self._acknowledged()

    async def wait(self) -> None:
        """Return when every record sent so far is acknowledged; raise the first delivery error."""
        await self.seal()
        if self._error is not None:
            raise self._error
