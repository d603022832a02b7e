"""Fixtures for sink runtime tests: real Kafka, registry and PostgreSQL; a fake in-process target.

``FakeTarget`` is a real handler implementing the SinkHandler Protocol: it keeps the target's
state (effects per milestone, status per entity) and records every call, so tests can count
effects instead of trusting mocks. Its effect happens *before* its simulated latency, like a real
HTTP call whose answer is lost: a crash mid-call leaves the effect at the target and an
``in_flight`` ledger row, which ``reconcile`` must resolve.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition

from backbone import headers as h
from backbone.config import load
from backbone.kafka import AsyncProducer, producer_config
from backbone.serialization import AvroSerde, SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.sink import ApplyContext, ApplyResult, SinkConfig, SinkRecord, SinkRuntime
from tests.conftest import IsolatedTopics, StackEndpoints

SHIPMENTS = "canonical.shipment-milestones"
RANKS = {
    "LABEL_CREATED": 40,
    "IN_TRANSIT": 70,
    "OUT_FOR_DELIVERY": 80,
    "DELIVERY_ATTEMPT_FAILED": 85,
    "DELIVERED": 90,
    "RETURN_TO_SENDER": 95,
    "EXCEPTION": 0,
}

Behaviour = Callable[[SinkRecord, ApplyContext], Awaitable[None]]


@dataclass
class Call:
    milestone_id: str
    entity_key: str | None
    code: str | None
    attempt: int
    allowed: bool
    reapply: bool
    at: float
    partition: int
    offset: int


@dataclass
class FakeTarget:
    """A non-idempotent target: every successful ``apply`` adds one effect."""

    latency: float = 0.0
    behaviour: Behaviour | None = None  # raise from here to simulate failures
    calls: list[Call] = field(default_factory=list)
    effects: Counter[str] = field(default_factory=Counter)
    status: dict[str, list[str]] = field(default_factory=dict)  # entity -> status changes
    notes: list[str] = field(default_factory=list)  # stale facts recorded without status change
    reconciled: list[str] = field(default_factory=list)
    applied_at: dict[str, float] = field(default_factory=dict)
    hold: asyncio.Event | None = None  # when set: calls take effect, then wait for it (answer never comes)
    held: int = 0  # calls waiting on ``hold``

    async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
        self.calls.append(
            Call(
                record.milestone_id,
                record.entity_key,
                record.code,
                ctx.attempt,
                ctx.verdict.allowed,
                ctx.reapply,
                time.monotonic(),
                record.partition,
                record.offset,
            )
        )
        if self.behaviour is not None:
            await self.behaviour(record, ctx)
        if not ctx.verdict.allowed:
            self.notes.append(record.milestone_id)
            return ApplyResult.skipped("stale", note=True)
        self.effects[record.milestone_id] += 1
        self.status.setdefault(record.entity_key or "", []).append(record.code or "")
        self.applied_at[record.milestone_id] = time.monotonic()
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.hold is not None:
            self.held += 1
            try:
                await self.hold.wait()
            finally:
                self.held -= 1
        return ApplyResult.applied(target_id=record.milestone_id[-6:])

    async def reconcile(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult | None:
        if self.effects[record.milestone_id] > 0:
            self.reconciled.append(record.milestone_id)
            return ApplyResult.applied(found=True)
        return None

    def effect_counts(self) -> Counter[int]:
        return Counter(self.effects.values())


def milestone(key: str, code: str, *, n: int = 0, at: datetime | None = None) -> dict[str, Any]:
    carrier, tracking = key.split(":", 1)
    occurred = at or datetime.now(UTC) - timedelta(seconds=5)
    return {
        "milestone_id": f"ms-{key}-{code}-{n}-{uuid.uuid4().hex[:6]}",
        "code": code,
        "rank": RANKS[code],
        "exception_reason": None,
        "shipment_key": key,
        "carrier": carrier,
        "tracking_number": tracking,
        "source_partner": "easypost",
        "raw_status": code.lower(),
        "occurred_at": occurred,
        "received_at": occurred + timedelta(seconds=1),
        "raw_ref": {"event_id": f"e-{n}", "topic": "raw.carrier-tracking.v1", "partition": 0, "offset": n},
        "correlation_id": f"c-{key}-{n}",
    }


@dataclass
class SinkEnv:
    stack: StackEndpoints
    topics: IsolatedTopics
    unique: str
    serde: AvroSerde
    producer: AsyncProducer
    schema: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return self.topics.name(SHIPMENTS)

    @property
    def dlq_topic(self) -> str:
        return self.topics.name("dlq.odoo_sink")

    def config(self, **overrides: Any) -> SinkConfig:
        values: dict[str, Any] = {
            "sink_name": f"sink_{self.unique}",
            "target": "fake",
            "topic_roles": (SHIPMENTS,),
            "dlq_role": "dlq.odoo_sink",
            "group_id": f"sink-test-{self.unique}",
            "ledger_schema": self.schema,
            "health_port": None,
            "db_pool_max": 8,
            "retry_min_backoff": 0.05,
            "retry_max_backoff": 0.5,
            "commit_interval": 0.2,
            "consumer_overrides": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
        }
        values.update(overrides)
        return load(SinkConfig, **values)

    async def send(
        self, key: str, value: dict[str, Any] | bytes, *, partition: int | None = None, headers: h.Headers | None = None
    ) -> tuple[int, int]:
        data = value if isinstance(value, bytes) else self.serde.encode(value)
        cid = value.get("correlation_id") if isinstance(value, dict) else "c-raw"
        hdrs = headers if headers is not None else [(h.CORRELATION_ID, str(cid).encode())]
        msg = await self.producer.send(self.topic, data, key.encode(), hdrs, partition)
        return msg.partition() or 0, msg.offset() or 0

    def start(self, runtime: SinkRuntime, stop: GracefulShutdown | None = None) -> asyncio.Task[None]:
        task = asyncio.create_task(runtime.run(stop))
        self.tasks.append(task)
        return task

    def committed(self, group: str, partitions: int = 6) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.stack.kafka, "group.id": group})
        try:
            tps = consumer.committed([TopicPartition(self.topic, p) for p in range(partitions)], timeout=10)
        finally:
            consumer.close()
        return {tp.partition: tp.offset for tp in tps}

    def end_offsets(self, partitions: int = 6) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.stack.kafka, "group.id": f"probe-{self.unique}"})
        try:
            return {
                p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
                for p in range(partitions)
            }
        finally:
            consumer.close()


def assert_committed_to_end(env: SinkEnv, group: str) -> None:
    """Every partition that holds records is committed up to its end (empty ones have no commit)."""
    end = {p: o for p, o in env.end_offsets().items() if o > 0}
    committed = env.committed(group)
    assert {p: committed[p] for p in end} == end


async def eventually(predicate: Callable[[], bool], within: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


async def stop_runtime(task: asyncio.Task[None], stop: GracefulShutdown, within: float = 30.0) -> None:
    stop.request("test")
    await asyncio.wait_for(task, within)


@pytest.fixture
async def sink_env(stack_env: StackEndpoints, isolated_topics: IsolatedTopics, unique: str) -> AsyncIterator[SinkEnv]:
    registry = SchemaRegistry.connect(stack_env.registry)
    topic = isolated_topics.name(SHIPMENTS)
    serde = registry.serde_for(topic, "ShipmentMilestone")
    cfg = load(SinkConfig)
    producer = AsyncProducer(producer_config(cfg, **{"linger.ms": 1}))
    env = SinkEnv(stack_env, isolated_topics, unique, serde, producer, schema=f"sink_test_{unique}")
    try:
        yield env
    finally:
        for task in env.tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*env.tasks, return_exceptions=True)
        producer.close(5)
        registry.client.close()
        with psycopg.connect(stack_env.database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{env.schema}" CASCADE')
