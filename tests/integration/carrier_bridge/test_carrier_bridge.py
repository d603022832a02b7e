"""carrier_bridge on the real stack (Kafka, registry, PostgreSQL) with the carrier simulator in-process:
a PACKED canonical record -> exactly one label and one tracker at the platform, also on replay
(same ledger, and with the ledger lost) -> a carrier.label.v1 RawEvent that the normalizer's
parser turns into LABEL_CREATED with the tracking number."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestServer
from confluent_kafka import Consumer, TopicPartition

from backbone import headers as h
from backbone.config import load
from backbone.kafka import AsyncProducer, producer_config
from backbone.serialization import AvroSerde, SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.telemetry import setup_tracing, trace_id_of
from services.carrier_bridge.app import serve
from services.carrier_bridge.config import CarrierBridgeConfig
from services.status_normalizer.parsers.carrier_label import parse_label
from services.status_normalizer.records import RawContext, ShipmentMilestone
from simulators.carrier import CARRIER_SIM, CarrierSimConfig, create_app
from simulators.carrier.simulator import CarrierSimulator
from tests.conftest import IsolatedTopics, StackEndpoints
from tests.unit.carrier_bridge.helpers import SHIP_TO, milestone, packed

pytestmark = pytest.mark.integration

ORDERS = "canonical.order-milestones"
RAW = "raw.carrier-tracking"


@dataclass
class BridgeEnv:
    stack: StackEndpoints
    topics: IsolatedTopics
    unique: str
    sim: CarrierSimulator
    sim_url: str
    serde: AvroSerde
    registry: SchemaRegistry
    producer: AsyncProducer
    schemas: list[str] = field(default_factory=list)

    def config(self, run: str, schema: str | None = None, **overrides: Any) -> CarrierBridgeConfig:
        schema = schema or f"carrier_test_{self.unique}"
        if schema not in self.schemas:
            self.schemas.append(schema)
        values: dict[str, Any] = {
            "group_id": f"carrier-bridge-{self.unique}-{run}",
            "ledger_schema": schema,
            "health_port": None,
            "carrier_url": self.sim_url,
            "carrier_api_key": "EZTK_integration",
            "retry_min_backoff": 0.05,
            "retry_max_backoff": 0.5,
            "commit_interval": 0.2,
            "db_pool_max": 4,
            "consumer_overrides": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
            **overrides,
        }
        return load(CarrierBridgeConfig, **values)

    async def send(self, value: dict[str, Any], traceparent: str | None = None) -> None:
        topic = self.topics.name(ORDERS)
        headers = [(h.CORRELATION_ID, str(value["correlation_id"]).encode())]
        if traceparent:
            headers.append((h.TRACEPARENT, traceparent.encode()))
        await self.producer.send(topic, self.serde.encode(value), str(value["order_ref"]).encode(), headers)

    def labels(self) -> int:
        return sum(1 for s in self.sim.book.shipments.values() if s.postage_label is not None)

    def raw_events(self) -> list[tuple[bytes | None, dict[str, str], dict[str, Any]]]:
        consumer = Consumer(
            {
                "bootstrap.servers": self.stack.kafka,
                "group.id": f"probe-{self.unique}-{time.time()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        topic = self.topics.name(RAW)
        try:
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(6)}
            consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
            out: list[tuple[bytes | None, dict[str, str], dict[str, Any]]] = []
            deadline = time.monotonic() + 20
            while len(out) < sum(ends.values()) and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                value = msg.value()
                assert value is not None
                out.append((msg.key(), h.to_dict(msg.headers()), self.registry.decode(value)))
            return out
        finally:
            consumer.close()

    def committed_to_end(self, group: str) -> bool:
        topic = self.topics.name(ORDERS)
        consumer = Consumer({"bootstrap.servers": self.stack.kafka, "group.id": group})
        try:
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(6)}
            committed = consumer.committed([TopicPartition(topic, p) for p in range(6)], timeout=10)
        finally:
            consumer.close()
        return all(tp.offset == ends[tp.partition] for tp in committed if ends[tp.partition] > 0)


@pytest.fixture
async def bridge_env(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, unique: str
) -> AsyncIterator[BridgeEnv]:
    setup_tracing("carrier-bridge-tests")
    app = create_app(CarrierSimConfig(webhook_backoff_s=0.01))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    registry = SchemaRegistry.connect(stack_env.registry)
    serde = registry.serde_for(isolated_topics.name(ORDERS), "OrderMilestone")
    producer = AsyncProducer(producer_config(load(CarrierBridgeConfig), **{"linger.ms": 1}))
    env = BridgeEnv(
        stack_env,
        isolated_topics,
        unique,
        app[CARRIER_SIM],
        str(server.make_url("")).rstrip("/"),
        serde,
        registry,
        producer,
    )
    try:
        yield env
    finally:
        producer.close(5)
        registry.client.close()
        await server.close()
        with psycopg.connect(stack_env.database, autocommit=True) as conn:
            for schema in env.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def eventually(predicate: Callable[[], bool], within: float = 40.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


async def run_until(cfg: CarrierBridgeConfig, env: BridgeEnv, done: Callable[[], bool], what: str) -> None:
    stop = GracefulShutdown(10)
    task = asyncio.create_task(serve(cfg, stop))
    try:
        await eventually(lambda: done() or task.done(), what=what)
        if task.done():
            task.result()  # surface a crash
        await eventually(lambda: env.committed_to_end(cfg.consumer_group), what="offsets committed")
    finally:
        stop.request("test")
        await asyncio.wait_for(task, 30)


def normalize(raw: dict[str, Any]) -> list[ShipmentMilestone]:
    ctx = RawContext(
        partner=raw["partner"],
        format=raw["format"],
        event_id=raw["event_id"],
        received_at=datetime.now(UTC),
        correlation_id=raw["correlation_id"],
        topic="raw",
        partition=0,
        offset=0,
    )
    return [r for r in parse_label(raw["payload"], ctx) if isinstance(r, ShipmentMilestone)]


async def test_packed_to_one_label_one_tracker_and_label_created_also_on_replay(bridge_env: BridgeEnv) -> None:
    env = bridge_env
    picked = milestone("PICKED", "SO-INT-1")
    value = packed("SO-INT-1", carrier="ups", service_level="same_day", package_number=1, total_packages=1)
    await env.send(picked)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    await env.send(value, traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    await run_until(env.config("first"), env, lambda: len(env.raw_events()) == 1, "label answer")
    assert env.labels() == 1 and len(env.sim.book.trackers) == 1 and len(env.sim.book.shipments) == 1
    calls = len(env.sim.calls.calls)
    assert calls == 3  # create, buy, tracker: PICKED cost nothing

    [(key, headers, raw)] = env.raw_events()
    shipment = next(iter(env.sim.book.shipments.values()))
    assert key == f"easypost:{shipment.tracking_code}".encode()
    assert (raw["partner"], raw["channel"], raw["format"], raw["signature_scheme"]) == (
        "easypost",
        "carrier-tracking",
        "carrier.label.v1",
        "internal",
    )
    assert raw["natural_key"] == shipment.tracking_code and raw["correlation_id"] == "c-SO-INT-1"
    assert headers["event_id"] == raw["event_id"] and headers["format"] == "carrier.label.v1"
    assert headers["correlation_id"] == "c-SO-INT-1"
    assert trace_id_of(list(headers.items())) == trace_id  # the trace continues into the normalizer
    [label] = normalize(raw)
    assert (str(label.code), label.carrier, label.tracking_number) == ("LABEL_CREATED", "ups", shipment.tracking_code)
    assert (label.order_ref, label.package_number) == ("SO-INT-1", 1)

    # Replay from offset 0 with the same ledger: duplicates, the platform hears nothing.
    await run_until(env.config("replay"), env, lambda: True, "replay")
    assert len(env.sim.calls.calls) == calls and len(env.raw_events()) == 1

    # Replay with the ledger lost (fresh schema): the platform's idempotency keys find the label.
    lost = env.config("ledger-lost", schema=f"carrier_lost_{env.unique}")
    await run_until(lost, env, lambda: len(env.raw_events()) == 2, "second answer")
    assert env.labels() == 1 and len(env.sim.book.trackers) == 1 and len(env.sim.book.shipments) == 1
    buys = [c.status for c in env.sim.calls.calls if c.path.endswith("/buy")]
    assert buys == [200]
    first, second = (r for _, _, r in env.raw_events())
    assert (first["event_id"], first["payload"]) == (second["event_id"], second["payload"])


async def test_released_address_429s_and_a_lost_answer_still_buy_one_label(bridge_env: BridgeEnv) -> None:
    env = bridge_env
    released = milestone("ORDER_RELEASED", "SO-INT-2", carrier="usps", service_level="priority", ship_to=SHIP_TO)
    await env.send(released)
    await env.send(packed("SO-INT-2", carrier=None, service_level=None, ship_to=None))
    env.sim.faults.update({"throttle": 2, "retry_after_s": 1})
    cfg = env.config("faults")
    await run_until(cfg, env, lambda: len(env.raw_events()) == 1, "label answer")
    assert env.labels() == 1 and len(env.sim.book.trackers) == 1
    shipment = next(iter(env.sim.book.shipments.values()))
    assert shipment.body["to_address"]["zip"] == "30030" and shipment.selected_rate is not None
    assert shipment.selected_rate["service"] == "Priority"
    assert [c.status for c in env.sim.calls.calls].count(429) == 2
    with psycopg.connect(env.stack.database, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT status, attempts, response->>'tracking_number' FROM \"{cfg.ledger_schema}\".sink_ledger "
            "WHERE sink = %s ORDER BY source_offset",
            (cfg.sink_name,),
        ).fetchall()
        stored = conn.execute(
            f"SELECT details->'ship_to'->>'city' FROM \"{cfg.ledger_schema}\".carrier_bridge_orders "
            "WHERE sink = %s AND order_ref = 'SO-INT-2'",
            (cfg.sink_name,),
        ).fetchone()
    assert [r[0] for r in rows] == ["skipped", "applied"]
    assert rows[1][1] == 3 and rows[1][2] == shipment.tracking_code  # two 429s, then applied
    assert stored == ("Decatur",)
