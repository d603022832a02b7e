"""Baseline every other benchmark compares to: a bare confluent-kafka loop on this machine.

Produce: idempotent, acks=all, 500-byte records, lz4, linger 5 ms. Consume: one consumer reading
them back. No backbone code involved.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.harness import Measure, percentiles, write_result


def make_topic(bootstrap: str, partitions: int = 6) -> str:
    topic = f"bench.baseline-{uuid.uuid4().hex[:8]}.v1"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=30)
    return topic


def produce_baseline(bootstrap: str, n: int = 200_000, size: int = 500) -> dict[str, Any]:
    topic = make_topic(bootstrap)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    payload = os.urandom(size // 2).hex().encode()[:size]
    latencies: list[float] = []
    m = Measure()
    with m.run():
        for i in range(n):
            key = f"k{i % 1000}".encode()
            if i % 100 == 0:
                t = time.perf_counter()
                producer.produce(
                    topic,
                    payload,
                    key,
                    on_delivery=lambda err, msg, t=t: latencies.append((time.perf_counter() - t) * 1000),
                )
            else:
                producer.produce(topic, payload, key)
            if i % 10_000 == 0:
                producer.poll(0)
        remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} baseline records not delivered"
    out = m.rates(n, n * size)
    # Under saturation the ack latency is mostly queueing in the client; reported for completeness.
    out["ack_latency_saturated_ms"] = percentiles(latencies)
    out["ack_latency_at_1000_per_s_ms"] = paced_latency(producer, topic, payload, rate=1000, seconds=3)
    out["topic"] = topic
    return out


def paced_latency(producer: Producer, topic: str, payload: bytes, rate: int, seconds: float) -> dict[str, float]:
    """Ack latency (acks=all) at a steady rate well below saturation."""
    latencies: list[float] = []
    interval = 1.0 / rate
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        target = start + i * interval
        while (now := time.perf_counter()) < target:
            producer.poll(0)
            if target - now > 0.002:
                time.sleep(0.001)
        producer.produce(
            topic,
            payload,
            f"p{i % 100}".encode(),
            on_delivery=lambda err, msg, t=now: latencies.append((time.perf_counter() - t) * 1000),
        )
        producer.poll(0)
    producer.flush(30)
    return percentiles(latencies)


def consume_baseline(bootstrap: str, topic: str, n: int) -> dict[str, Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got = 0
    nbytes = 0
    m = Measure()
    deadline = time.monotonic() + 120
    with m.run():
        while got < n and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 1.0):
                if not msg.error():
                    got += 1
                    nbytes += len(msg.value() or b"")
    consumer.close()
    assert got == n, f"consumed {got} of {n}"
    return m.rates(got, nbytes)


def run(bootstrap: str, n: int = 200_000) -> dict[str, Any]:
    produced = produce_baseline(bootstrap, n)
    consumed = consume_baseline(bootstrap, produced["topic"], n)
    return {"produce": produced, "consume": consumed, "record_bytes": 500}


if __name__ == "__main__":
    from rich.console import Console

    result = run(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    path = write_result("kafka_baseline", result)
    p, c = result["produce"], result["consume"]
    Console().print(
        f"baseline produce: {p['events_per_s']:,.0f} msg/s ({p['mb_per_s']} MB/s), "
        f"{p['events_per_cpu_s']:,.0f} msg per client CPU-s; ack p50/p99 at 1,000 msg/s "
        f"{p['ack_latency_at_1000_per_s_ms'].get('p50')}/{p['ack_latency_at_1000_per_s_ms'].get('p99')} ms\n"
        f"baseline consume: {c['events_per_s']:,.0f} msg/s ({c['mb_per_s']} MB/s), "
        f"{c['events_per_cpu_s']:,.0f} msg per CPU-s\n"
        f"-> {path}"
    )
