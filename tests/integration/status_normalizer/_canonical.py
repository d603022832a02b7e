"""Reading a canonical topic the way an analytics consumer would, while a worker writes to it."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from backbone.serialization import SchemaRegistry
from bench import normalizer_workload as workload

# Lineage differs between two publications of one checkpoint (a redelivery with a new event id);
# everything else is the fact itself and must be identical.
LINEAGE = ("raw_ref", "correlation_id", "received_at")


class CanonicalReader:
    """Consumes ``topic`` from the beginning; keeps every record (decoded) and its raw bytes."""

    def __init__(self, kafka: str, registry_url: str, topic: str) -> None:
        self.topic = topic
        self.registry = SchemaRegistry.connect(registry_url)
        self.consumer = Consumer({"bootstrap.servers": kafka, "group.id": f"analytics-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.records: list[dict[str, Any]] = []
        self.values: list[bytes] = []

    def poll(self, seconds: float) -> int:
        got = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(5000, 0.2):
                if msg.error():
                    continue
                value = msg.value() or b""
                self.values.append(value)
                self.records.append(self.registry.decode(value))
                got += 1
        return got

    def wait_for(self, done: Callable[[CanonicalReader], bool], timeout: float,
                 proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic}: condition not met after {timeout}s ({len(self.records)} records)")
            if proc is not None and proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
                raise AssertionError(f"normalizer exited with {proc.returncode}:\n{tail}")
            self.poll(0.5)

    def drain(self, idle: float = 3.0) -> None:
        """Read until nothing new arrived for ``idle`` seconds."""
        while self.poll(idle):
            pass

    def ids(self) -> set[str]:
        return {r["milestone_id"] for r in self.records}

    def close(self) -> None:
        self.consumer.close()
        self.registry.client.close()


def duplicate_groups(reader: CanonicalReader) -> dict[str, list[int]]:
    """milestone id -> indexes of its records, for ids published more than once."""
    where: defaultdict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(reader.records):
        where[record["milestone_id"]].append(i)
    return {mid: idx for mid, idx in where.items() if len(idx) > 1}


def fact(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in LINEAGE}


def feed(kafka: str, registry_url: str, topic: str, specs: list[workload.RawSpec]) -> None:
    """Write ``specs`` as ingest would (RawEvent, Confluent framing) and wait for the acks."""
    registry = SchemaRegistry.connect(registry_url)
    try:
        serde = registry.serde_for(topic, "RawEvent")
    finally:
        registry.client.close()
    workload.produce(kafka, topic, workload.encode(serde, specs))
