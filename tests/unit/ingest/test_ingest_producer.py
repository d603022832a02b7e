"""BatchingProducer without a broker (a refused 127.0.0.1 port): every write fails, none hangs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError

from backbone.config import BackboneConfig
from backbone.errors import DeliveryError
from services.ingest.producer import BatchingProducer, BatchSender, KafkaHealth, make_producer
from tests.conftest import partner_fixture


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on exit: connections are refused


@pytest.fixture
def dead_producer() -> Iterator[tuple[BatchingProducer, KafkaHealth]]:
    health = KafkaHealth()
    cfg = BackboneConfig(kafka_bootstrap_servers=f"127.0.0.1:{_closed_port()}")
    producer = make_producer(cfg, health, timeout_s=1.0, linger_ms=1)
    yield producer, health
    producer.close(timeout=0.1)


async def test_unacknowledged_writes_fail_and_the_outage_is_noticed(
    dead_producer: tuple[BatchingProducer, KafkaHealth],
) -> None:
    producer, health = dead_producer
    assert isinstance(producer, BatchSender)
    single = producer.send_nowait("raw.x.v1", b"v", b"k", [("event_id", b"1")])
    batch, _ = producer.send_many([("raw.x.v1", b"v", b"k", []) for _ in range(3)])
    with pytest.raises(DeliveryError):
        await asyncio.wait_for(single, timeout=10)
    outcomes = await asyncio.wait_for(batch, timeout=10)
    assert len(outcomes) == 3 and all(isinstance(o, DeliveryError) for o in outcomes)
    assert health.down  # librdkafka reported every broker down through error_cb
    assert not producer.healthy(timeout=0.5)


async def test_expired_batch_answers_with_what_is_known(dead_producer: tuple[BatchingProducer, KafkaHealth]) -> None:
    producer, _ = dead_producer
    future, expire = producer.send_many([("raw.x.v1", b"v", None, []) for _ in range(2)])
    expire()  # the backstop timer firing before any delivery report
    outcomes = await future
    assert [type(o) for o in outcomes] == [TimeoutError, TimeoutError]


def test_kafka_health_follows_librdkafka_errors() -> None:
    health = KafkaHealth()
    health.on_error(KafkaError(KafkaError._TRANSPORT))  # one connection lost: not an outage
    assert not health.down
    health.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN))
    assert health.down and health.fatal is None
    health.mark_up()
    assert not health.down
    health.on_error(KafkaError(KafkaError._FATAL, "producer fenced", fatal=True))
    health.mark_up()  # only a restart cures a fatal error
    assert health.down and health.fatal


async def test_fatal_producer_fails_liveness_and_every_write(client: Any, producer: Any) -> None:
    from services.ingest.state import STATE

    client.app[STATE].health.fatal = "fenced"
    assert (await client.get("/healthz")).status == 503
    assert (await client.get("/readyz")).status == 503
    event = partner_fixture("generic_milestone.json")
    resp = await client.post("/v1/events", json=event, headers={"Authorization": "Bearer gt-test-api-key-000000000001"})
    assert resp.status == 503 and producer.sent == []
