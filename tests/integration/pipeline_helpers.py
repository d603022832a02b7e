"""Helpers for integration tests that run real services as processes against the local stack."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, DeserializingConsumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer

from backbone import headers as h
from backbone.serialization import SchemaRegistry
from backbone.stack.process import child_process, free_port, wait_http

__all__ = ["free_port", "service_process", "wait_http"]


class RawFeeder:
    """Writes RawEvent records (Confluent wire format) to a raw topic, like ingest does."""

    def __init__(self, kafka: str, registry_url: str, topic: str) -> None:
        self.topic = topic
        self.serde = SchemaRegistry.connect(registry_url).serde_for(topic, "RawEvent")
        self.producer = Producer(
            {"bootstrap.servers": kafka, "acks": "all", "enable.idempotence": True, "linger.ms": 5}
        )

    def send(
        self,
        partner: str,
        fmt: str,
        payload: bytes,
        *,
        event_id: str | None = None,
        key: str | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> str:
        event_id = event_id or str(uuid.uuid4())
        record = {
            "event_id": event_id,
            "partner": partner,
            "channel": "x",
            "format": fmt,
            "received_at": datetime.now(UTC),
            "content_type": "application/json",
            "payload": payload,
            "signature_scheme": "test",
            "correlation_id": f"corr-{event_id}",
            "source_ip": None,
            "natural_key": key,
        }
        hdrs = [(h.EVENT_ID, event_id.encode()), (h.CORRELATION_ID, f"corr-{event_id}".encode()), *(headers or [])]
        self.producer.produce(
            self.topic, self.serde.encode(record), f"{partner}:{key or event_id}".encode(), headers=hdrs
        )
        self.producer.poll(0)
        return event_id

    def flush(self) -> None:
        assert self.producer.flush(30) == 0


def read_avro(
    kafka: str, registry_url: str, topic: str, *, expect: int, timeout: float = 60.0, idle: float = 3.0
) -> list[dict[str, Any]]:
    """What an analytics team would do: a plain DeserializingConsumer with the registry URL."""
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": kafka,
            "group.id": f"analytics-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "key.deserializer": StringDeserializer("utf_8"),
            "value.deserializer": AvroDeserializer(SchemaRegistryClient({"url": registry_url})),
        }
    )
    consumer.subscribe([topic])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            if len(out) >= expect and time.monotonic() - last > idle:
                break
            continue
        if msg.error():
            continue
        value = msg.value()
        value["_key"] = msg.key()
        value["_headers"] = h.to_dict(msg.headers())
        out.append(value)
        last = time.monotonic()
    consumer.close()
    return out


def count_records(kafka: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": kafka, "group.id": f"count-{uuid.uuid4().hex[:6]}"})
    md = c.list_topics(topic, timeout=10)
    total = 0
    for p in md.topics[topic].partitions:
        low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total += high - low
    c.close()
    return total


@contextmanager
def service_process(
    args: list[str], env: dict[str, str], health: str | None, log: Path, timeout: float = 90.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``backbone <args>`` as a child process; wait for ``health`` to answer 200; stop it after."""
    with child_process([sys.executable, "-m", "backbone.cli.main", *args], log, env=env, health=health,
                       timeout=timeout) as proc:
        yield proc
