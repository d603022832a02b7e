"""Nothing acked is lost across a broker restart: 10,000 events, the broker stopped and started mid-way.

Runs on a PRIVATE single-node Kafka (own ports, own data dir) so the shared broker, and everyone
else's tests, never notice. Schemas go to the shared registry under this test's unique topic names.
The client behaves like a real partner: on 503 or a refused connection it retries the same event
(same event_id) after a short pause, until it gets a 202.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from confluent_kafka.admin import AdminClient

from backbone.config import repo_root
from backbone.schema_registry_ops import register_schemas
from backbone.serialization import SchemaRegistry
from backbone.stack.components import KafkaBroker
from backbone.stack.process import stop, wait_until
from backbone.topic_admin import apply_plan, plan_topics
from backbone.topics import load_topics
from services.ingest.app import create_app
from tests.conftest import StackEndpoints
from tests.integration.ingest.conftest import read_topic
from tests.unit.ingest._support import SECRETS, make_config

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.slow]

EVENTS = 10_000
CONCURRENCY = 64
OUTAGE_S = 6.0


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
        if port < 65000:
            try:
                with socket.socket() as b:
                    b.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port pair")


@dataclass
class PrivateKafka:
    broker: KafkaBroker
    pid: int = 0

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def start(self) -> None:
        self.pid = self.broker.start()
        wait_until(self.broker.ready, pid=self.pid, timeout=90, what="private kafka", log=self.broker.log)

    def restart(self, pause: float) -> float:
        """Stop, wait ``pause`` seconds, start again; returns how long the broker was unreachable."""
        down_at = time.monotonic()
        stop(self.pid, timeout=15)
        time.sleep(pause)
        self.start()
        return time.monotonic() - down_at


@pytest.fixture
def private_kafka(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateKafka]:
    monkeypatch.setenv("BACKBONE_STACK_KAFKA_PORT", str(_free_port_pair()))
    kafka = PrivateKafka(KafkaBroker(tmp_path / "private-kafka"))
    kafka.broker.prepare()
    try:
        kafka.start()
        yield kafka
    finally:
        stop(kafka.pid, timeout=15)


def _event(n: int, run: str) -> bytes:
    return json.dumps(
        {
            "event_id": f"{run}-{n:05d}",
            "kind": "shipment",
            "code": "IN_TRANSIT",
            "occurred_at": "2026-11-20T10:42:00+01:00",
            "shipment": {"carrier": "DHL", "tracking_number": f"JJD{n % 500:08d}"},
        }
    ).encode()


async def test_every_202_survives_a_broker_restart(
    private_kafka: PrivateKafka, stack_env: StackEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics_file = tmp_path / "topics.yaml"
    topics_file.write_text((repo_root() / "topics.yaml").read_text().replace(".v1\n", f"-{suffix}.v1\n"))
    catalog = load_topics(topics_file)
    admin = AdminClient({"bootstrap.servers": private_kafka.bootstrap})
    apply_plan(admin, plan_topics(admin, catalog, replication=1))
    del admin  # otherwise it logs every refused reconnect during the outage
    register_schemas(SchemaRegistry.connect(stack_env.registry), catalog)
    cfg = make_config(
        tmp_path,
        kafka_bootstrap_servers=private_kafka.bootstrap,
        schema_registry_url=stack_env.registry,
        topics_file=topics_file,
        produce_timeout_s=5.0,
        retry_after_s=1,
    )
    run_id = f"restart-{suffix}"
    acked: dict[str, int] = {}
    answers: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(EVENTS):
        queue.put_nowait(n)
    restarted = asyncio.Event()
    third_acked = asyncio.Event()

    async with TestServer(create_app(cfg), host="127.0.0.1") as server:
        url = str(server.make_url("/v1/events"))
        headers = {"Authorization": f"Bearer {SECRETS['generic-tms']}", "Content-Type": "application/json"}

        async def client(session: aiohttp.ClientSession) -> None:
            while not queue.empty():
                n = queue.get_nowait()
                while True:
                    try:
                        async with session.post(url, data=_event(n, run_id), headers=headers) as resp:
                            answers[resp.status] = answers.get(resp.status, 0) + 1
                            if resp.status == 202:
                                acked[(await resp.json())["event_id"]] = n
                                if len(acked) >= EVENTS * 0.3:
                                    third_acked.set()
                                break
                            assert resp.status == 503, await resp.text()  # the only refusal allowed
                    except aiohttp.ClientConnectionError:
                        answers[-1] = answers.get(-1, 0) + 1
                    await asyncio.sleep(0.2)

        async def chaos() -> float:
            await third_acked.wait()
            outage = await asyncio.to_thread(private_kafka.restart, OUTAGE_S)
            restarted.set()
            return outage

        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:
            chaos_task = asyncio.create_task(chaos())
            await asyncio.wait_for(asyncio.gather(*(client(session) for _ in range(CONCURRENCY))), timeout=300)
            outage = await asyncio.wait_for(chaos_task, timeout=120)

    assert restarted.is_set()
    assert len(acked) == EVENTS
    assert answers.get(503, 0) > 0, f"the outage was never seen by a client: {answers}"  # the fault really happened
    # Read until quiet: duplicates beyond EVENTS (retries of writes that timed out yet landed) count too.
    records = read_topic(
        private_kafka.bootstrap, stack_env.registry, catalog.name("raw.carrier-tracking"), timeout_s=120, quiet_s=3
    )
    stored = {r.value["event_id"] for r in records}
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert stored == set(acked)
    print(
        f"\nbroker outage {outage:.1f}s; answers {answers}; records {len(records)} for {EVENTS} events "
        f"({len(records) - EVENTS} duplicates from client retries); pid {os.getpid()}"
    )
