"""odoo_sink on the real stack: canonical Avro records on isolated topics, a private ledger schema,
the Odoo simulator in-process (``running_simulator``) or as a process (``python -m simulators.odoo``).

Effects are counted at the simulator (its records and call log), never through mocks.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from confluent_kafka import Consumer
from pydantic import SecretStr

from backbone.config import load
from backbone.kafka import AsyncProducer, producer_config
from backbone.ledger import Ledger
from backbone.serialization import AvroSerde, SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.sink import SinkRuntime
from services.odoo_sink.client import OdooClient, make_client
from services.odoo_sink.config import OdooSinkConfig
from services.odoo_sink.connection import OdooConnectionConfig
from services.odoo_sink.handlers import OdooHandler
from tests.conftest import IsolatedTopics, StackEndpoints
from tests.integration.pipeline_helpers import free_port, wait_http
from tests.unit.odoo_sink.records import key_of

KEY = "odoo-int-key"
ROLES = {
    "shipment": ("canonical.shipment-milestones", "ShipmentMilestone"),
    "order": ("canonical.order-milestones", "OrderMilestone"),
    "inventory": ("canonical.inventory-events", "InventoryEvent"),
}


def kind_of(value: dict[str, Any]) -> str:
    if "shipment_key" in value:
        return "shipment"
    return "inventory" if "inventory_key" in value else "order"


def seed_orders(count: int, *, prefix: str = "S5", tracking_prefix: str = "T") -> list[dict[str, Any]]:
    """Orders with one ready outgoing picking each, carrying tracking number ``<tracking_prefix><n>``."""
    return [{"order_ref": f"{prefix}{n:05d}", "lines": [{"sku": "MUG-01", "qty": 1}],
             "packages": [{"tracking_ref": f"{tracking_prefix}{n:05d}", "carrier": "ups"}]} for n in range(count)]


class SimAdmin:
    """The simulator's ``/_sim`` admin API over HTTP (works for in-process and child simulators)."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session

    async def admin(self, method: str, path: str, payload: Any = None) -> Any:
        async with self.session.request(method, f"{self.url}/_sim/{path}", json=payload) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def faults(self, **faults: Any) -> Any:
        return await self.admin("POST", "faults", faults)

    async def seed(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        created: list[dict[str, Any]] = (await self.admin("POST", "seed", orders))["created"]
        return created

    async def records(self, model: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (await self.admin("GET", f"state?model={model}"))["models"][model]
        return rows

    async def calls(self, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        calls: list[dict[str, Any]] = (await self.admin("GET", f"calls?{query}"))["calls"]
        return calls

    async def notes_by_milestone(self) -> Counter[str]:
        """How many notes carry each ``[backbone:<milestone_id>]`` marker."""
        counts: Counter[str] = Counter()
        for message in await self.records("mail.message"):
            body = str(message.get("body") or "")
            if body.startswith("[backbone:"):
                counts[body[len("[backbone:"):body.index("]")]] += 1
        return counts

    async def successful(self, method: str) -> list[dict[str, Any]]:
        return [c for c in await self.calls(method=method) if c.get("ok")]


@contextmanager
def simulator_process(log: Path, *, delivery_state: bool = True) -> Iterator[str]:
    """``python -m simulators.odoo`` on a free port (its own CPU, like a real Odoo); yields the URL."""
    port = free_port()
    args = [sys.executable, "-m", "simulators.odoo", "--port", str(port)]
    if delivery_state:
        args.append("--delivery-state")
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env={**os.environ, "BACKBONE_ODOO_API_KEY": KEY}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/_sim/state?model=res.users", proc, 30, log)
        yield url
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@dataclass
class OdooSinkEnv:
    stack: StackEndpoints
    topics: IsolatedTopics
    unique: str
    serdes: dict[str, AvroSerde]
    producer: AsyncProducer
    schema: str
    tmp: Path
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    placed: dict[str, tuple[int, int]] = field(default_factory=dict)  # milestone id -> (partition, offset)
    clients: list[OdooClient] = field(default_factory=list)

    @property
    def sink_name(self) -> str:
        return f"odoo_sink_{self.unique}"

    def topic(self, kind: str) -> str:
        return self.topics.name(ROLES[kind][0])

    @property
    def dlq_topic(self) -> str:
        return self.topics.name("dlq.odoo_sink")

    def config(self, url: str, protocol: str = "jsonrpc", **overrides: Any) -> OdooSinkConfig:
        values: dict[str, Any] = {
            "sink_name": self.sink_name,
            "dlq_role": "dlq.odoo_sink",
            "group_id": f"odoo-sink-{self.unique}",
            "ledger_schema": self.schema,
            "health_port": None,
            "retry_min_backoff": 0.05,
            "retry_max_backoff": 0.5,
            "commit_interval": 0.2,
            "stale_check_interval": 0,
            "consumer_overrides": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
            "odoo": OdooConnectionConfig(url=url, api_key=SecretStr(KEY), protocol=protocol, connect_timeout_s=2.0,
                                         read_timeout_s=5.0, total_timeout_s=8.0),
        }
        values.update(overrides)
        return load(OdooSinkConfig, **values)

    def process_env(self, url: str, protocol: str = "jsonrpc", **extra: str) -> dict[str, str]:
        """The same settings as environment variables, for ``python -m services.odoo_sink``."""
        env = {
            "BACKBONE_TOPICS_FILE": str(self.topics.path),
            "BACKBONE_ODOO_URL": url,
            "BACKBONE_ODOO_API_KEY": KEY,
            "BACKBONE_ODOO_PROTOCOL": protocol,
            "BACKBONE_ODOO_SINK_SINK_NAME": self.sink_name,
            "BACKBONE_ODOO_SINK_DLQ_ROLE": "dlq.odoo_sink",
            "BACKBONE_ODOO_SINK_GROUP_ID": f"odoo-sink-{self.unique}",
            "BACKBONE_ODOO_SINK_LEDGER_SCHEMA": self.schema,
            "BACKBONE_ODOO_SINK_COMMIT_INTERVAL": "0.2",
            "BACKBONE_ODOO_SINK_RETRY_MIN_BACKOFF": "0.05",
            "BACKBONE_ODOO_SINK_RETRY_MAX_BACKOFF": "0.5",
            "BACKBONE_LOG_LEVEL": "WARNING",
        }
        env.update(extra)
        return env

    async def send(self, value: dict[str, Any]) -> tuple[int, int]:
        kind = kind_of(value)
        data = self.serdes[kind].encode(value)
        headers = [("correlation_id", str(value["correlation_id"]).encode())]
        msg = await self.producer.send(self.topic(kind), data, key_of(value).encode(), headers, None)
        placed = (msg.partition() or 0, msg.offset() or 0)
        self.placed[str(value["milestone_id"])] = placed
        return placed

    async def send_all(self, values: list[dict[str, Any]]) -> None:
        # Keys are sent in order (per-key order is what the sink preserves), many keys at once.
        for chunk in range(0, len(values), 500):
            await asyncio.gather(*(self.send(v) for v in values[chunk:chunk + 500]))

    def runtime(self, cfg: OdooSinkConfig) -> SinkRuntime:
        """The runtime ``app.serve`` builds, in this process (the client is closed at teardown)."""
        client = make_client(cfg.connection())
        self.clients.append(client)
        return SinkRuntime(cfg, OdooHandler(client, cfg.mapping(), picking_cache_size=cfg.picking_cache_size))

    def start(self, runtime: SinkRuntime, stop: GracefulShutdown) -> asyncio.Task[None]:
        task = asyncio.create_task(runtime.run(stop))
        self.tasks.append(task)
        return task

    async def ledger(self) -> Ledger:
        return await Ledger.open(self.stack.database, sink=self.sink_name, schema=self.schema, max_size=1)

    async def ledger_counts(self) -> dict[str, int]:
        ledger = await self.ledger()
        try:
            return await ledger.counts()
        finally:
            await ledger.close()

    async def ledger_rows(self, where: str = "TRUE") -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.stack.database, autocommit=True) as conn:
            cur = await conn.execute(
                f'SELECT milestone_id, status, response, error FROM "{self.schema}".sink_ledger '
                f"WHERE sink = %s AND {where}", (self.sink_name,))
            return list(await cur.fetchall())

    def read_dlq(self, expected: int, timeout: float = 20.0) -> list[Any]:
        consumer = Consumer({"bootstrap.servers": self.stack.kafka, "group.id": f"dlq-{self.unique}-{time.time()}",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([self.dlq_topic])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < expected and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    out.append(msg)
            extra = consumer.poll(1.0)  # a duplicate dead letter would show up here
            if extra is not None and extra.error() is None:
                out.append(extra)
        finally:
            consumer.close()
        return out


async def eventually(predicate: Callable[[], Awaitable[bool]], within: float = 30.0, what: str = "condition",
                     every: float = 0.1) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)


async def settled(env: OdooSinkEnv, total: int, within: float = 60.0) -> dict[str, int]:
    """Wait until the ledger has a final row for ``total`` records; returns the counts."""
    counts: dict[str, int] = {}

    async def done() -> bool:
        nonlocal counts
        counts = await env.ledger_counts()
        return sum(v for k, v in counts.items() if k not in ("in_flight", "failed")) >= total

    await eventually(done, within, f"{total} records settled")
    return counts


@asynccontextmanager
async def admin(url: str) -> AsyncIterator[SimAdmin]:
    async with aiohttp.ClientSession() as session:
        yield SimAdmin(url, session)


@pytest.fixture
async def odoo_env(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, unique: str, tmp_path: Path
) -> AsyncIterator[OdooSinkEnv]:
    registry = SchemaRegistry.connect(stack_env.registry)
    serdes = {kind: registry.serde_for(isolated_topics.name(role), schema) for kind, (role, schema) in ROLES.items()}
    producer = AsyncProducer(producer_config(load(OdooSinkConfig, odoo=OdooConnectionConfig(
        api_key=SecretStr(KEY))), **{"linger.ms": 2}))
    env = OdooSinkEnv(stack_env, isolated_topics, unique, serdes, producer, f"odoo_test_{unique}", tmp_path)
    try:
        yield env
    finally:
        for task in env.tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*env.tasks, return_exceptions=True)
        for client in env.clients:
            await client.close()
        producer.close(5)
        registry.client.close()
        with psycopg.connect(stack_env.database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{env.schema}" CASCADE')
