"""SinkRuntime: consume canonical topics and apply each record to a target, exactly once in effect.

Consumes with its own consumer group (cooperative-sticky, manual commits), runs records through
:class:`~backbone.sink.worker.RecordWorker` with bounded concurrency across keys and strict order
per key, and commits a partition's offset only past records whose outcome is durable. Retries
pause only the affected partition (a record waiting for a missing target record pauses nothing);
an open circuit breaker or refused credentials pause them all.
On revoke it finishes (or abandons, after ``revoke_timeout``) the revoked partitions' work and
commits what is done; on shutdown it stops fetching, finishes in-flight work before the deadline,
commits and closes. Cancelling :meth:`SinkRuntime.run` is a crash: nothing more is committed.

Example::

    cfg = load(OdooSinkConfig)
    runtime = SinkRuntime(cfg, OdooHandler(client))
    stop = GracefulShutdown(cfg.shutdown_deadline)
    stop.install()
    await runtime.run(stop)          # returns after SIGTERM, once in-flight work is committed
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from confluent_kafka import KafkaError, Message

from backbone.dlq import DeadLetterChannel
from backbone.headers import Headers
from backbone.kafka import AsyncProducer, consumer_config, producer_config
from backbone.ledger import Ledger
from backbone.serialization import SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.sink.breaker import BreakerState, CircuitBreaker
from backbone.sink.concurrency import KeyedWorkers
from backbone.sink.config import SinkConfig
from backbone.sink.consumer import TP, ConsumerThread, Cycle, CycleResult
from backbone.sink.health import HealthServer
from backbone.sink.metrics import SinkMetrics
from backbone.sink.partitions import PartitionBook
from backbone.sink.records import SinkHandler
from backbone.sink.worker import Job, RecordWorker
from backbone.topics import TopicCatalog, load_topics

__all__ = ["SinkRuntime", "serve"]

log = logging.getLogger("backbone.sink")
_LAG_INTERVAL = 5.0


class SinkRuntime:
    """One sink process. Collaborators may be injected (tests); otherwise built from ``cfg``."""

    def __init__(
        self,
        cfg: SinkConfig,
        handler: SinkHandler,
        *,
        catalog: TopicCatalog | None = None,
        registry: SchemaRegistry | None = None,
        ledger: Ledger | None = None,
        producer: AsyncProducer | None = None,
    ) -> None:
        self.cfg = cfg
        self.handler = handler
        self.catalog = catalog or load_topics(cfg.topics_file)
        self.topics = [self.catalog.name(role) for role in cfg.topic_roles]
        self.metrics = SinkMetrics(cfg.sink_name, target=cfg.target)
        self.breaker = CircuitBreaker(
            cfg.target,
            failure_threshold=cfg.breaker_failure_threshold,
            cooldown=cfg.breaker_cooldown,
            on_change=self._breaker_changed,
        )
        # Refused credentials behave like a breaker that opens at once and probes every interval.
        self.auth = CircuitBreaker(
            f"{cfg.target}:auth", failure_threshold=1, cooldown=cfg.auth_retry_interval, on_change=self._auth_changed
        )
        self._registry = registry
        self._owns_registry = registry is None
        self._ledger = ledger
        self._owns_ledger = ledger is None
        self._producer = producer
        self._owns_producer = producer is None
        self.partitions = PartitionBook()
        self._aborting = False
        self._backpressure = False
        # Work keys whose running job waits out a grace period (a key runs one job at a time).
        self._awaiting_target: set[Hashable] = set()
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: ConsumerThread | None = None
        self._worker: RecordWorker | None = None
        self._health: HealthServer | None = None
        self.workers: KeyedWorkers[Job] = KeyedWorkers(self._work, concurrency=cfg.concurrency, name=cfg.sink_name)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("runtime not started")
        return self._ledger

    @property
    def health_port(self) -> int | None:
        return self._health.port if self._health else None

    async def start(self) -> None:
        cfg = self.cfg
        self._loop = asyncio.get_running_loop()
        if self._registry is None:
            cfg.require("schema_registry_url")
            self._registry = SchemaRegistry.connect(cfg.schema_registry_url)
        if self._ledger is None:
            cfg.require("database_url")
            self._ledger = await Ledger.open(
                cfg.database_url.get_secret_value(),
                sink=cfg.sink_name,
                schema=cfg.ledger_schema,
                min_size=cfg.db_pool_min,
                max_size=cfg.db_pool_max,
            )
        if self._producer is None:
            self._producer = AsyncProducer(producer_config(cfg))
        dlq = DeadLetterChannel(self._producer, topic=self.catalog.name(cfg.dlq_topic_role), consumer=cfg.sink_name)
        self._worker = RecordWorker(
            cfg,
            self.handler,
            ledger=self._ledger,
            registry=self._registry,
            dlq=dlq,
            breaker=self.breaker,
            auth=self.auth,
            metrics=self.metrics,
            hooks=self,
        )
        if cfg.health_port is not None:
            self._health = HealthServer(self.ready, host=cfg.health_host, port=cfg.health_port)
            await self._health.start()
        self._consumer = ConsumerThread(
            consumer_config(cfg, cfg.consumer_group, **cfg.consumer_overrides),
            self.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        await self._consumer.start()
        self._started = True
        log.info("sink started", extra={"sink": cfg.sink_name, "group": cfg.consumer_group, "topic": self.topics})

    async def run(self, shutdown: GracefulShutdown | None = None) -> None:
        """Consume until ``shutdown`` is requested, then drain and commit. Cancellation = crash."""
        shutdown = shutdown or GracefulShutdown(self.cfg.shutdown_deadline)
        try:
            if not self._started:
                await self.start()
            await self._fetch_loop(shutdown)
        except BaseException:  # cancellation included: behave like a crash, commit nothing more
            await asyncio.shield(self._abort())
            raise
        await self._stop(shutdown.deadline)

    async def _stop(self, deadline: float) -> None:
        """Graceful: abandon what has not started, finish what has, commit, close."""
        if not await self._finish_work(lambda job: True, deadline):
            log.warning("shutdown deadline reached; abandoning in-flight records", extra={"sink": self.cfg.sink_name})
        await self.workers.close()
        if self._consumer is not None:
            self.partitions.mark_committed(await self._consumer.commit(self.partitions.committable()))
            await self._consumer.close()  # leaves the group; revoke callbacks find nothing left to do
        await self._close_resources()
        log.info("sink stopped", extra={"sink": self.cfg.sink_name})

    async def _finish_work(self, select: Callable[[Job], bool], within: float) -> bool:
        """Drop selected records not started, let started ones finish ``within`` seconds, cancel
        the rest (records waiting on a backoff, the breaker or the auth gate go at once).
        Abandoned records are not settled, so their offsets are not committed: redelivered later."""
        self.workers.drop_queued(lambda job: select(job) and job.phase == "queued")
        finished = await self.workers.wait_until(
            lambda: not self.workers.is_running(lambda job: select(job) and job.phase == "running"), within
        )
        await self.workers.cancel_running(select)
        return finished

    async def _abort(self) -> None:
        self._aborting = True
        await self.workers.close()
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.close()
        await self._close_resources()

    async def _close_resources(self) -> None:
        if self._producer is not None and self._owns_producer:
            await asyncio.to_thread(self._producer.close, 5.0)
        if self._ledger is not None and self._owns_ledger:
            await self._ledger.close()
        if self._registry is not None and self._owns_registry:
            self._registry.client.close()
        if self._health is not None:
            await self._health.stop()
        self._started = False

    # -- fetching ------------------------------------------------------------------------------
    async def _fetch_loop(self, shutdown: GracefulShutdown) -> None:
        assert self._consumer is not None
        next_commit = next_lag = time.monotonic()
        while not shutdown.requested:
            now = time.monotonic()
            cycle = Cycle(max_messages=self.cfg.fetch_batch, timeout=0.05)
            self._update_backpressure()
            if now >= next_commit:
                cycle.commit = self.partitions.committable()
                next_commit = now + self.cfg.commit_interval
            if now >= next_lag:
                cycle.watermarks = True
                next_lag = now + _LAG_INTERVAL
            cycle.pause = self._desired_pause()
            cycle.resume = self.partitions.owned() - cycle.pause
            self.metrics.paused.set(len(cycle.pause))
            result = await self._consumer.cycle(cycle)
            self._after_cycle(result)
            for msg in result.messages:
                self._dispatch(msg)
            self.metrics.in_flight.set(len(self.workers))

    def _update_backpressure(self) -> None:
        # Hysteresis: stop fetching when full, start again at half, but keep polling either way
        # (a consumer that stops polling is thrown out of the group after max.poll.interval.ms).
        # Records waiting for a missing target record, and those queued behind them on their key,
        # do not count (up to max_awaiting_target): they may wait minutes, and a burst of them
        # must not stop everything else. Summed only when it can matter.
        size = len(self.workers)
        if self._awaiting_target and size > self.cfg.max_buffered // 2:
            aside = sum(1 + self.workers.queued(key) for key in self._awaiting_target)
            size -= min(aside, self.cfg.max_awaiting_target)
        if size >= self.cfg.max_buffered:
            self._backpressure = True
        elif size <= self.cfg.max_buffered // 2:
            self._backpressure = False

    def _desired_pause(self) -> set[TP]:
        if (
            self._backpressure
            or self.breaker.state is not BreakerState.CLOSED
            or self.auth.state is not BreakerState.CLOSED
        ):
            return self.partitions.owned()
        return self.partitions.retrying_partitions()

    def _after_cycle(self, result: CycleResult) -> None:
        self.partitions.mark_committed(result.committed)
        for (topic, partition), lag in self.partitions.lag(result.watermarks).items():
            self.metrics.lag(topic, partition, lag)

    def _dispatch(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error", extra={"code": err.name(), "reason": err.str()})
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None:
            return
        job = Job(
            topic=topic,
            partition=partition,
            offset=offset,
            key=msg.key(),
            value=msg.value(),
            headers=_headers(msg),
            timestamp_ms=msg.timestamp()[1],
            generation=self.partitions.track((topic, partition), offset),
        )
        self.workers.submit(_work_key(job), job)

    async def _work(self, job: Job) -> None:
        assert self._worker is not None
        await self._worker.process(job)

    # -- WorkerHooks ---------------------------------------------------------------------------
    def settled(self, job: Job) -> None:
        self.partitions.settled(job.tp, job.generation, job.offset)

    def retrying(self, job: Job, on: bool) -> None:
        self.partitions.retrying(job.tp, job.generation, on)

    def awaiting_target(self, job: Job, on: bool) -> None:
        if on:
            self._awaiting_target.add(_work_key(job))
        else:
            self._awaiting_target.discard(_work_key(job))
        self.metrics.awaiting_target.set(len(self._awaiting_target))

    def released_slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.workers.released_slot()

    # -- rebalancing (callbacks run on the consumer thread) ------------------------------------
    def _on_assign(self, tps: list[TP]) -> None:
        log.info("partitions assigned", extra={"sink": self.cfg.sink_name, "partitions": tps})
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._assigned, tps)

    def _assigned(self, tps: list[TP]) -> None:
        self.partitions.assign(tps)

    def _on_revoke(self, tps: list[TP]) -> Mapping[TP, int]:
        log.info("partitions revoked", extra={"sink": self.cfg.sink_name, "partitions": tps})
        return self._call_loop(self._release(set(tps), commit=True), self.cfg.revoke_timeout + 5)

    def _on_lost(self, tps: list[TP]) -> None:
        log.warning("partitions lost", extra={"sink": self.cfg.sink_name, "partitions": tps})
        self._call_loop(self._release(set(tps), commit=False), 5.0)

    def _call_loop(self, coro: Any, timeout: float) -> dict[TP, int]:
        if self._aborting or self._loop is None or self._loop.is_closed():
            coro.close()
            return {}
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            result: dict[TP, int] = future.result(timeout)
        except Exception:
            log.exception("releasing partitions failed", extra={"sink": self.cfg.sink_name})
            return {}
        return result

    async def _release(self, tps: set[TP], *, commit: bool) -> dict[TP, int]:
        """Finish (or abandon) the work of partitions we no longer own; return what to commit."""

        def mine(job: Job) -> bool:
            return job.tp in tps

        # Lost partitions belong to someone else already: abandon at once, commit nothing.
        if not await self._finish_work(mine, self.cfg.revoke_timeout if commit else 0.0) and commit:
            log.warning("revoke timeout; abandoning in-flight records", extra={"sink": self.cfg.sink_name})
        for tp in tps:
            self.metrics.forget_partition(*tp)
        offsets = self.partitions.release(tps)
        return offsets if commit else {}

    # -- state ---------------------------------------------------------------------------------
    def _breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        self.metrics.breaker(new)
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        log.log(
            level, "circuit breaker %s", new.name.lower(), extra={"sink": self.cfg.sink_name, "target": self.cfg.target}
        )

    def _auth_changed(self, old: BreakerState, new: BreakerState) -> None:
        failed = new is not BreakerState.CLOSED
        self.metrics.auth_failed(failed)
        if new is BreakerState.OPEN and old is BreakerState.CLOSED:
            log.error(
                "target refused credentials; sink paused, re-checking every %ss",
                self.cfg.auth_retry_interval,
                extra={"sink": self.cfg.sink_name, "target": self.cfg.target},
            )
        elif new is BreakerState.CLOSED:
            log.info("target accepts our credentials again; sink resumed", extra={"sink": self.cfg.sink_name})

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Readiness for /readyz: consumer connected, breaker not open, credentials accepted."""
        kafka_ok = self._started and self._consumer is not None and self._consumer.kafka_ok()
        breaker = self.breaker.state
        auth_ok = self.auth.state is BreakerState.CLOSED
        details = {
            "sink": self.cfg.sink_name,
            "kafka": "ok" if kafka_ok else "down",
            "breaker": breaker.name.lower(),
            "credentials": "ok" if auth_ok else "refused",
            "assigned": len(self.partitions),
            "in_flight": len(self.workers),
        }
        return bool(kafka_ok and breaker is not BreakerState.OPEN and auth_ok), details


async def serve(cfg: SinkConfig, handler: SinkHandler) -> None:
    """Run one sink until SIGTERM/SIGINT; what a sink service's ``app.serve`` calls.

    Example::

        async def serve(cfg: OdooSinkConfig) -> None:       # services/odoo_sink/app.py
            setup_logging("odoo_sink", cfg.log_level, cfg.log_format)
            setup_tracing("odoo_sink")
            await backbone.sink.serve(cfg, OdooHandler(OdooClient(cfg)))
    """
    stop = GracefulShutdown(cfg.shutdown_deadline)
    stop.install()
    await SinkRuntime(cfg, handler).run(stop)


def _headers(msg: Message) -> Headers:
    raw = msg.headers() or []
    items = raw.items() if isinstance(raw, dict) else raw
    return [(k, v if isinstance(v, bytes) else (v or "").encode()) for k, v in items]


def _work_key(job: Job) -> Hashable:
    """A key's records run in order; a record without a key has no order to keep."""
    return (job.topic, job.partition, job.key if job.key is not None else ("offset", job.offset))
