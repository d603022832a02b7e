"""Integration fixtures: ingest with its real producer on the shared broker, private topics per test."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from backbone.serialization import SchemaRegistry
from services.ingest.app import create_app
from services.ingest.config import IngestConfig
from tests.conftest import IsolatedTopics, StackEndpoints
from tests.unit.ingest._support import make_config


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: dict[str, Any]
    headers: dict[str, bytes]


def read_topic(
    bootstrap: str,
    registry_url: str,
    topic: str,
    *,
    expect: int | None = None,
    timeout_s: float = 30.0,
    quiet_s: float = 2.0,
) -> list[Record]:
    """Every record of ``topic`` from the beginning; stops at ``expect`` or after ``quiet_s`` of silence."""
    registry = SchemaRegistry.connect(registry_url)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ingest-it-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out: list[Record] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if expect is not None and len(out) >= expect:
                break
            if expect is None and time.monotonic() - last > quiet_s:
                break
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                last = time.monotonic()
                out.append(
                    Record(
                        msg.topic(),
                        msg.partition(),
                        msg.offset(),
                        msg.key(),
                        registry.decode(msg.value()),
                        dict(msg.headers() or []),
                    )
                )
    finally:
        consumer.close()
    return out


@pytest.fixture
def live_cfg(stack_env: StackEndpoints, isolated_topics: IsolatedTopics, tmp_path: Path) -> IngestConfig:
    return make_config(
        tmp_path,
        kafka_bootstrap_servers=stack_env.kafka,
        schema_registry_url=stack_env.registry,
        topics_file=isolated_topics.path,
        produce_timeout_s=15.0,
    )


@pytest.fixture
async def live_client(live_cfg: IngestConfig) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(live_cfg), host="127.0.0.1")) as client:
        yield client
