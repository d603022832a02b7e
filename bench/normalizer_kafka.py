"""Kafka plumbing of the normalizer benchmark: private topics, benchmarked processes, counting, latency."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from backbone.config import repo_root
from backbone.schema_registry_ops import register_schemas
from backbone.serialization import SchemaRegistry
from backbone.topic_admin import apply_plan, plan_topics
from backbone.topics import TopicCatalog, load_topics
from bench.harness import service_process

SHIPMENTS = "canonical.shipment-milestones"
RAW = "raw.carrier-tracking"


def make_topics(bootstrap: str, registry_url: str, workdir: Path) -> Path:
    """A private, suffixed copy of topics.yaml on the broker; raw and canonical use LogAppendTime.

    With broker append times on both sides, latency is measured on one clock (the broker's).
    """
    suffix = uuid.uuid4().hex[:8]
    path = workdir / f"topics-{suffix}.yaml"
    path.write_text((repo_root() / "topics.yaml").read_text().replace(".v1\n", f"-bench{suffix}.v1\n"))
    catalog = load_topics(path)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    apply_plan(admin, plan_topics(admin, catalog, replication=1))
    registry = SchemaRegistry.connect(registry_url)
    register_schemas(registry, catalog)
    registry.client.close()
    entry = ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)
    resources = [ConfigResource(ResourceType.TOPIC, catalog.name(role), incremental_configs=[entry])
                 for role in (RAW, SHIPMENTS)]
    for fut in admin.incremental_alter_configs(resources).values():
        fut.result(timeout=30)
    return path


@contextmanager
def process(kind: str, env: dict[str, str], log: Path, profile: Path | None) -> Iterator[subprocess.Popen[bytes]]:
    """``faust`` (the real worker, ``backbone normalizer``) or ``bare`` (bench.normalizer_bare)."""
    module = ["backbone.cli.main", "normalizer"] if kind == "faust" else ["bench.normalizer_bare"]
    if profile is not None:
        module = ["bench.normalizer_bench", "--profiled", kind, str(profile / f"{kind}.txt")]
    health = f"http://127.0.0.1:{env['BACKBONE_NORMALIZER_WEB_PORT']}/readyz" if kind == "faust" else None
    with service_process(module, env, health, log) as proc:
        yield proc


def count(consumer: Consumer, topic: str) -> int:
    """Records in ``topic`` (sum of high watermarks; the benchmark's topics are never truncated)."""
    md = consumer.list_topics(topic, timeout=10)
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
               for p in md.topics[topic].partitions)


def wait_count(consumer: Consumer, topic: str, target: int, proc: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    n = count(consumer, topic)
    while n < target and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        time.sleep(0.05)
        n = count(consumer, topic)
    if n < target:
        raise RuntimeError(f"{topic}: {n} of {target} records after {timeout}s")
    return n


def read_topic(bootstrap: str, topic: str, since_ms: int = 0) -> list[tuple[int, int, int, bytes]]:
    """(partition, offset, timestamp ms, value) of every record appended at or after ``since_ms``."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-read-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    starts = c.offsets_for_times([TopicPartition(topic, p, since_ms) for p in parts], timeout=10)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    todo = {tp.partition for tp in starts if 0 <= tp.offset < ends[tp.partition]}
    c.assign([tp for tp in starts if tp.partition in todo])
    out = []
    while todo:
        for m in c.consume(10_000, 1.0):
            if m.error():
                continue
            out.append((m.partition() or 0, m.offset() or 0, m.timestamp()[1], m.value() or b""))
            if (m.offset() or 0) + 1 >= ends[m.partition() or 0]:
                todo.discard(m.partition() or 0)
    c.close()
    return out


def latencies_ms(bootstrap: str, registry: SchemaRegistry, catalog: TopicCatalog, since_ms: int) -> list[float]:
    """Canonical append minus raw append, per canonical record whose raw event came after ``since_ms``."""
    raw = {(p, o): ts for p, o, ts, _ in read_topic(bootstrap, catalog.name(RAW), since_ms)}
    out = []
    for _, _, ts, value in read_topic(bootstrap, catalog.name(SHIPMENTS), since_ms):
        ref = registry.decode(value)["raw_ref"]
        appended = raw.get((ref["partition"], ref["offset"]))
        if appended is not None:
            out.append(float(ts - appended))
    return out
