"""ConsumerThread: one confluent-kafka Consumer driven from asyncio, every call on one thread.

librdkafka invokes rebalance callbacks inside ``consume()``, on the calling thread; running every
consumer call (consume, pause, resume, commit, close) on a single dedicated thread keeps those
callbacks, the pause set and the commits strictly ordered, and the event loop never blocks on
Kafka. The loop hands each :meth:`ConsumerThread.cycle` the pauses, resumes and commits it wants;
the thread applies them, then fetches the next batch.

Example::

    thread = ConsumerThread(conf, topics, on_assign=..., on_revoke=..., on_lost=...)
    await thread.start()
    batch = await thread.cycle(Cycle(commit={("t", 0): 42}, pause={("t", 1)}, max_messages=500))
    await thread.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

__all__ = ["TP", "ConsumerThread", "Cycle"]

log = logging.getLogger(__name__)

TP = tuple[str, int]
_BROKER_DOWN = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}


@dataclass
class Cycle:
    """What the loop wants done before the next fetch."""

    commit: Mapping[TP, int] = field(default_factory=dict)
    pause: set[TP] = field(default_factory=set)
    resume: set[TP] = field(default_factory=set)
    max_messages: int = 500
    timeout: float = 0.1
    watermarks: bool = False


@dataclass
class CycleResult:
    messages: list[Message]
    committed: dict[TP, int]
    watermarks: dict[TP, int]


def _tps(items: Mapping[TP, int] | set[TP]) -> list[TopicPartition]:
    if isinstance(items, Mapping):
        return [TopicPartition(t, p, o) for (t, p), o in items.items()]
    return [TopicPartition(t, p) for t, p in items]


class ConsumerThread:
    def __init__(
        self,
        conf: dict[str, Any],
        topics: list[str],
        *,
        on_assign: Callable[[list[TP]], None],
        on_revoke: Callable[[list[TP]], Mapping[TP, int]],
        on_lost: Callable[[list[TP]], None],
    ) -> None:
        self._conf = {**conf, "error_cb": self._on_error}
        self._topics = topics
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._on_lost = on_lost
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-consumer")
        self._consumer: Consumer | None = None
        self.assigned: set[TP] = set()
        self.paused: set[TP] = set()
        self.last_broker_error_at: float | None = None
        self.last_fetch_ok_at: float | None = None

    # -- called on the consumer thread ---------------------------------------------------------
    def _on_error(self, err: KafkaError) -> None:
        if err.code() in _BROKER_DOWN:
            self.last_broker_error_at = time.monotonic()
        log.warning("kafka consumer error", extra={"code": err.name(), "reason": err.str()})

    def _assign_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self._on_assign(tps)  # the loop registers trackers before any record of these arrives
        consumer.incremental_assign(partitions)
        self.assigned.update(tps)
        # librdkafka may remember a pause from an earlier ownership; start clean.
        self.paused.difference_update(tps)
        consumer.resume(partitions)

    def _revoke_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        offsets = self._on_revoke(tps)
        if offsets:
            self._commit(consumer, offsets)
        self.assigned.difference_update(tps)
        self.paused.difference_update(tps)

    def _lost_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self._on_lost(tps)  # someone else owns them already: abandon, never commit
        self.assigned.difference_update(tps)
        self.paused.difference_update(tps)

    def _commit(self, consumer: Consumer, offsets: Mapping[TP, int]) -> dict[TP, int]:
        try:
            results = consumer.commit(offsets=_tps(offsets), asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError._NO_OFFSET:
                return {}
            log.warning("offset commit failed", extra={"reason": str(exc)})
            return {}
        done: dict[TP, int] = {}
        for tp in results or []:
            if tp.error is None:
                done[(tp.topic, tp.partition)] = tp.offset
            else:
                log.warning("offset commit failed", extra={"topic": tp.topic, "reason": str(tp.error)})
        return done

    def _start(self) -> None:
        self._consumer = Consumer(self._conf)
        self._consumer.subscribe(
            self._topics, on_assign=self._assign_cb, on_revoke=self._revoke_cb, on_lost=self._lost_cb
        )

    def _cycle(self, cycle: Cycle) -> CycleResult:
        consumer = self._consumer
        if consumer is None:
            return CycleResult([], {}, {})
        committed = self._commit(consumer, {tp: o for tp, o in cycle.commit.items() if tp in self.assigned})
        pause = (cycle.pause & self.assigned) - self.paused
        if pause:
            consumer.pause(_tps(pause))
            self.paused |= pause
        resume = cycle.resume & self.paused
        if resume:
            consumer.resume(_tps(resume))
            self.paused -= resume
        messages = consumer.consume(num_messages=cycle.max_messages, timeout=cycle.timeout)
        if messages:
            self.last_fetch_ok_at = time.monotonic()
        watermarks: dict[TP, int] = {}
        if cycle.watermarks:
            for t, p in list(self.assigned):
                try:
                    _, high = consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)
                except KafkaException:
                    continue
                if high is not None and high >= 0:
                    watermarks[(t, p)] = int(high)
        return CycleResult(messages, committed, watermarks)

    def _close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()

    # -- called from the event loop ------------------------------------------------------------
    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self) -> None:
        await self._run(self._start)

    async def cycle(self, cycle: Cycle) -> CycleResult:
        result: CycleResult = await self._run(self._cycle, cycle)
        return result

    async def commit(self, offsets: Mapping[TP, int]) -> dict[TP, int]:
        consumer = self._consumer
        if consumer is None or not offsets:
            return {}
        done: dict[TP, int] = await self._run(self._commit, consumer, offsets)
        return done

    async def close(self) -> None:
        """Leave the group (revoke callbacks run) and stop the thread."""
        try:
            await self._run(self._close)
        finally:
            self._executor.shutdown(wait=False)

    def kafka_ok(self, stale_after: float = 15.0) -> bool:
        """False after a broker-down error that no successful fetch has followed."""
        if self.last_broker_error_at is None:
            return self._consumer is not None
        return (self.last_fetch_ok_at or 0) > self.last_broker_error_at or (
            time.monotonic() - self.last_broker_error_at > stale_after and self._consumer is not None
        )
