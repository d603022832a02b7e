"""What the handlers share: partners, auth, limits, topics, the producer, metrics; and publishing.

``publish`` is the durability rule in code: it returns only when every record was acknowledged
by Kafka (acks=all) or failed, never earlier, and it fails fast while Kafka is known to be down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from backbone.errors import RetryableError
from backbone.headers import Headers
from services.ingest.auth import Authenticator
from services.ingest.config import IngestConfig
from services.ingest.metrics import IngestMetrics
from services.ingest.partners import PartnerDirectory
from services.ingest.producer import BatchSender, KafkaHealth, RawProducer
from services.ingest.ratelimit import RateLimiter
from services.ingest.records import Encoder, RawRecord

__all__ = ["STATE", "IngestState"]


@dataclass
class IngestState:
    cfg: IngestConfig
    directory: PartnerDirectory
    auth: Authenticator
    limiter: RateLimiter
    topics: Mapping[str, str]  # topic role (raw.<channel>) -> topic name
    metrics: IngestMetrics
    health: KafkaHealth = field(default_factory=KafkaHealth)
    producer: RawProducer | None = None
    encode: Encoder | None = None
    owns_producer: bool = False
    draining: bool = False
    _probe_at: float = 0.0
    _probe_ok: bool = False

    def encoder(self) -> Encoder:
        if self.encode is None:
            raise RetryableError("ingest is starting: schemas not registered yet", retry_after=1.0)
        return self.encode

    async def publish_one(self, record: RawRecord, trace: Headers) -> None:
        """One record (every webhook): acknowledged, or raises the reason it was not."""
        producer = self.producer
        if producer is None or self.health.down:
            raise RetryableError("kafka is unavailable", retry_after=float(self.cfg.retry_after_s))
        record.headers.extend(trace)
        future = producer.send_nowait(record.topic, record.value, record.key, record.headers)
        started = time.perf_counter()
        timer = asyncio.get_running_loop().call_later(self.cfg.produce_timeout_s + 1.0, _expire, [future])
        try:
            await future
        finally:
            timer.cancel()
            self.metrics.produce_latency.observe(time.perf_counter() - started)
        if self.health.down_since is not None:  # a success proves Kafka is back
            self.health.mark_up()

    async def publish(self, records: Sequence[RawRecord], trace: Headers) -> list[BaseException | None]:
        """Write records; one outcome per record (None = acknowledged). Raises when nothing can be tried."""
        producer = self.producer
        if producer is None or self.health.down:
            raise RetryableError("kafka is unavailable", retry_after=float(self.cfg.retry_after_s))
        if isinstance(producer, BatchSender):
            return await self._publish_batch(producer, records, trace)
        items: list[asyncio.Future[Any] | BaseException] = []
        for record in records:
            try:
                items.append(producer.send_nowait(record.topic, record.value, record.key, record.headers + trace))
            except RetryableError as exc:  # local queue full: this record only
                items.append(exc)
        pending = [item for item in items if isinstance(item, asyncio.Future)]
        started = time.perf_counter()
        if pending:
            # librdkafka fails a message itself after message.timeout.ms; this timer is only a
            # backstop against a stuck client, and cheaper per request than asyncio.wait_for.
            timer = asyncio.get_running_loop().call_later(self.cfg.produce_timeout_s + 1.0, _expire, pending)
            try:
                if len(pending) == 1:
                    with contextlib.suppress(Exception):
                        await pending[0]
                else:
                    await asyncio.gather(*pending, return_exceptions=True)
            finally:
                timer.cancel()
        self.metrics.produce_latency.observe(time.perf_counter() - started)
        outcomes = [item if isinstance(item, BaseException) else item.exception() for item in items]
        if any(o is None for o in outcomes):
            self.health.mark_up()
        return outcomes

    async def _publish_batch(
        self, producer: BatchSender, records: Sequence[RawRecord], trace: Headers
    ) -> list[BaseException | None]:
        started = time.perf_counter()
        future, expire = producer.send_many([(r.topic, r.value, r.key, r.headers + trace) for r in records])
        timer = asyncio.get_running_loop().call_later(self.cfg.produce_timeout_s + 1.0, expire)
        try:
            outcomes = await future
        finally:
            timer.cancel()
            self.metrics.produce_latency.observe(time.perf_counter() - started)
        if self.health.down_since is not None and any(o is None for o in outcomes):
            self.health.mark_up()
        return outcomes

    async def kafka_ready(self) -> bool:
        """Metadata round trip through the producer's own connection, cached briefly."""
        if self.health.fatal is not None or self.producer is None or self.encode is None:
            return False
        now = time.monotonic()
        if now - self._probe_at < self.cfg.readiness_cache_s:
            return self._probe_ok
        producer, topic = self.producer, next(iter(self.topics.values()), None)
        ok = await asyncio.get_running_loop().run_in_executor(None, producer.healthy, 2.0, topic)
        self._probe_at, self._probe_ok = time.monotonic(), ok
        if ok:
            self.health.mark_up()
        self.metrics.kafka_up.set(1 if ok and not self.health.down else 0)
        return ok


def _expire(futures: list[asyncio.Future[Any]]) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(TimeoutError("kafka did not acknowledge in time"))


STATE = web.AppKey("ingest_state", IngestState)
