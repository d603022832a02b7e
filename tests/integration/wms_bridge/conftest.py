"""The WMS bridge on the real stack (isolated topics, a private PostgreSQL schema) against the WMS
simulator served in-process; helpers to feed canonical order milestones and read raw answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestServer
from confluent_kafka import Consumer

from backbone import headers as h
from backbone.config import load
from backbone.kafka import AsyncProducer, producer_config
from backbone.serialization import AvroSerde, SchemaRegistry
from backbone.shutdown import GracefulShutdown
from services.wms_bridge.app import serve
from services.wms_bridge.config import WmsBridgeConfig
from simulators.common.receiver import WebhookReceiver
from simulators.wms import WMS_SIM, WmsSimConfig, create_app
from simulators.wms.simulator import WmsSimulator
from tests.conftest import IsolatedTopics, StackEndpoints

ORDERS = "canonical.order-milestones"
RAW = "raw.warehouse"


@dataclass(frozen=True)
class RawAnswer:
    key: str
    headers: dict[str, str]
    event: dict[str, Any]
    partition: int
    offset: int


@dataclass
class BridgeEnv:
    stack: StackEndpoints
    topics: IsolatedTopics
    unique: str
    registry: SchemaRegistry
    serde: AvroSerde
    producer: AsyncProducer
    sim: WmsSimulator
    wms_url: str
    hook: WebhookReceiver
    schemas: list[str] = field(default_factory=list)
    running: list[tuple[asyncio.Task[None], GracefulShutdown]] = field(default_factory=list)

    def config(self, **overrides: Any) -> WmsBridgeConfig:
        values: dict[str, Any] = {
            "sink_name": f"wms_{self.unique}",
            "group_id": f"wms-test-{self.unique}",
            "dlq_role": "dlq.wms_bridge",
            "ledger_schema": f"wms_test_{self.unique}",
            "health_port": None,
            "wms_url": self.wms_url,
            "wms_timeout": 2.0,
            "retry_min_backoff": 0.05,
            "retry_max_backoff": 0.5,
            "commit_interval": 0.2,
            "reconcile_interval": 0.5,
            "consumer_overrides": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
        }
        values.update(overrides)
        cfg = load(WmsBridgeConfig, **values)
        self.schemas.append(cfg.ledger_schema)
        return cfg

    def start(self, cfg: WmsBridgeConfig) -> GracefulShutdown:
        stop = GracefulShutdown(cfg.shutdown_deadline)
        self.running.append((asyncio.create_task(serve(cfg, stop=stop)), stop))
        return stop

    async def stop_all(self) -> None:
        for task, stop in self.running:
            stop.request("test")
            await asyncio.wait_for(task, 40)
        self.running.clear()

    async def send(self, value: dict[str, Any], headers: h.Headers | None = None) -> None:
        hdrs = [(h.CORRELATION_ID, str(value["correlation_id"]).encode()), *(headers or [])]
        await self.producer.send(self.topics.name(ORDERS), self.serde.encode(value), value["order_ref"].encode(), hdrs)

    def orders(self, ref: str) -> list[dict[str, Any]]:
        return [o.as_dict() for o in self.sim.book.orders.values() if o.order_ref == ref]

    def sql(self, schema: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.stack.database, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            return conn.execute(query, params).fetchall()


class RawReader:
    """Reads the isolated raw.warehouse topic from the start, decoding RawEvents with the registry."""

    def __init__(self, env: BridgeEnv) -> None:
        self.env = env
        self.seen: list[RawAnswer] = []
        self.consumer = Consumer({"bootstrap.servers": env.stack.kafka, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([env.topics.name(RAW)])

    def _poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            value = msg.value()
            key = msg.key()
            assert value is not None and key is not None
            self.seen.append(RawAnswer(key.decode(), h.to_dict(msg.headers()), self.env.registry.decode(value),
                                       msg.partition() or 0, msg.offset() or 0))

    async def until(self, predicate: Callable[[list[RawAnswer]], bool], within: float = 40.0) -> list[RawAnswer]:
        deadline = time.monotonic() + within
        while not predicate(self.seen):
            for task, _ in self.env.running:
                if task.done():
                    task.result()  # a bridge that died says why, instead of a silent timeout
                    raise AssertionError("the bridge stopped")
            if time.monotonic() > deadline:
                raise AssertionError(f"raw answers not as expected after {within}s: {self.seen}")
            await asyncio.to_thread(self._poll, 0.5)  # never block the bridge running on this loop
        return self.seen

    def close(self) -> None:
        self.consumer.close()


async def eventually(predicate: Callable[[], bool], within: float = 40.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def bridge_env(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, unique: str
) -> AsyncIterator[BridgeEnv]:
    hook = WebhookReceiver()
    hook_server = TestServer(hook.app(), host="127.0.0.1")
    await hook_server.start_server()
    app = create_app(WmsSimConfig(webhook_url=str(hook_server.make_url("/webhooks/shiphero")),
                                  webhook_backoff_s=0.01))
    wms_server = TestServer(app, host="127.0.0.1")
    await wms_server.start_server()
    registry = SchemaRegistry.connect(stack_env.registry)
    serde = registry.serde_for(isolated_topics.name(ORDERS), "OrderMilestone")
    producer = AsyncProducer(producer_config(load(WmsBridgeConfig), **{"linger.ms": 1}))
    env = BridgeEnv(stack_env, isolated_topics, unique, registry, serde, producer, app[WMS_SIM],
                    str(wms_server.make_url("")).rstrip("/"), hook)
    try:
        yield env
    finally:
        for task, stop in env.running:
            stop.request("teardown")
            if not task.done():
                task.cancel()
        await asyncio.gather(*(task for task, _ in env.running), return_exceptions=True)
        producer.close(5)
        registry.client.close()
        await wms_server.close()
        await hook_server.close()
        with psycopg.connect(stack_env.database, autocommit=True) as conn:
            for schema in set(env.schemas):
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def raw_reader(bridge_env: BridgeEnv) -> Any:
    reader = RawReader(bridge_env)
    yield reader
    reader.close()
