"""Carrier bridge benchmark: platform calls/s per bridge process, with and without a carrier limit.

The real bridge (``services.carrier_bridge.app.serve``: sink runtime, ledger in PostgreSQL, Kafka in
and out) runs in this process against the carrier simulator in a subprocess
(``python -m simulators.carrier``), on a private copy of the topics. N PACKED order milestones
are produced first (10 % same_day), then the bridge books them all (create shipment, buy, tracker
= 3 calls each) and publishes N ``carrier.label.v1`` answers.

- ``limit_10rps``: the simulator refuses more than 10 requests in any sliding second (429); the
  bridge paces ``ups=10``. Must hold the limit exactly: no 429, never more than 10 accepted calls in
  any one-second window, and close to 10 calls/s. ``ratio_to_baseline`` = calls/s / 10 (utilisation).
- ``no_limit``: no limit on either side. ``ratio_to_baseline`` = bookings/s of the bridge over a
  bare aiohttp loop doing the same three calls at the same concurrency (no Kafka, no ledger).

``latency_ms`` is the queueing delay of each platform call in the throttle (``*_urgent`` for
same_day calls, which jump the queue). Calls/s are measured between the first and the last call
the simulator answered; CPU is this process (the bridge) over the whole run.

``python -m bench.carrier_bridge_bench [--limited 100] [--unlimited 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from backbone.config import load, read_stack_env, repo_root
from backbone.kafka import AsyncProducer, producer_config
from backbone.schema_registry_ops import register_schemas
from backbone.serialization import SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.topic_admin import apply_plan, plan_topics
from backbone.topics import load_topics
from bench.harness import Measure, free_port, percentiles, write_result
from services.carrier_bridge.app import serve
from services.carrier_bridge.config import CarrierBridgeConfig
from services.carrier_bridge.models import Lane

ORDERS = "canonical.order-milestones"
RAW = "raw.carrier-tracking"
API_KEY = "EZTK_bench_0001"
SHIP_TO = {
    "name": "Bench",
    "street": "417 Montgomery St",
    "city": "Decatur",
    "postal_code": "30030",
    "country": "US",
    "phone": None,
}


@contextmanager
def simulator(rate_limit: int | None, log: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    args = [sys.executable, "-m", "simulators.carrier", "--port", str(port)]
    if rate_limit:
        args += ["--rate-limit", str(rate_limit)]
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(Exception), urllib.request.urlopen(f"{url}/_sim/state", timeout=1):
                break
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def sim_calls(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_sim/calls", timeout=10) as resp:
        calls: list[dict[str, Any]] = json.load(resp)["calls"]
    return calls


def make_topics(bootstrap: str, registry_url: str, workdir: Path) -> Path:
    suffix = uuid.uuid4().hex[:8]
    path = workdir / f"topics-{suffix}.yaml"
    path.write_text((repo_root() / "topics.yaml").read_text().replace(".v1\n", f"-bench{suffix}.v1\n"))
    catalog = load_topics(path)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    apply_plan(admin, plan_topics(admin, catalog, replication=1))
    register_schemas(SchemaRegistry.connect(registry_url), catalog)
    return path


def raw_count(consumer: Consumer, topic: str) -> int:
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(6))


def packed(n: int, urgent: bool) -> dict[str, Any]:
    now = datetime.now().astimezone()
    ref = f"SO-B-{n}"
    return {
        "milestone_id": f"bench-{uuid.uuid4().hex}",
        "code": "PACKED",
        "rank": 50,
        "order_ref": ref,
        "source_partner": "bench",
        "raw_status": "packed",
        "occurred_at": now,
        "received_at": now,
        "carrier": "ups",
        "service_level": "same_day" if urgent else "ground",
        "ship_to": SHIP_TO,
        "package_number": 1,
        "total_packages": 1,
        "correlation_id": f"c-{ref}",
        "raw_ref": {"event_id": f"e-{n}", "topic": "raw.warehouse.v1", "partition": 0, "offset": n},
    }


async def produce(cfg: CarrierBridgeConfig, topic: str, n: int) -> None:
    registry = SchemaRegistry.connect(cfg.schema_registry_url)
    serde = registry.serde_for(topic, "OrderMilestone")
    producer = AsyncProducer(producer_config(cfg))
    try:
        await asyncio.gather(
            *(
                producer.send(topic, serde.encode(v), v["order_ref"].encode())
                for v in (packed(i, urgent=i % 10 == 0) for i in range(n))
            )
        )
    finally:
        producer.close(10)
        registry.client.close()


def window_max(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] >= window - 0.001:  # ms timestamps: 1 ms tolerance
            j += 1
        best = max(best, i - j + 1)
    return best


async def run_bridge(name: str, n: int, rate_limit: int | None, workdir: Path) -> dict[str, Any]:
    env = read_stack_env()
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "DATABASE_URL"):
        os.environ.setdefault(key, env.get(key, ""))
    topics = make_topics(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["SCHEMA_REGISTRY_URL"], workdir)
    catalog = load_topics(topics)
    unique = uuid.uuid4().hex[:8]
    schema = f"carrier_bench_{unique}"
    waits: list[tuple[Lane, float]] = []
    with simulator(rate_limit, workdir / f"sim-{name}.log") as (url, sim_pid):
        cfg = load(
            CarrierBridgeConfig,
            topics_file=topics,
            group_id=f"carrier-bench-{unique}",
            ledger_schema=schema,
            health_port=None,
            carrier_url=url,
            carrier_api_key=API_KEY,
            rate_limits=f"ups={rate_limit}" if rate_limit else "",
            commit_interval=0.5,
        )
        await produce(cfg, catalog.name(ORDERS), n)
        raw_topic = catalog.name(RAW)
        stop = GracefulShutdown(20)
        measure = Measure()
        sim_measure = Measure(pids=[sim_pid])
        probe = Consumer({"bootstrap.servers": cfg.kafka_bootstrap_servers, "group.id": f"bench-probe-{unique}"})
        with measure.run(), sim_measure.run():
            task = asyncio.create_task(serve(cfg, stop, on_wait=lambda lane, s: waits.append((lane, s))))
            # The probe blocks on the broker: off the loop, or it stalls the bridge it measures.
            while await asyncio.to_thread(raw_count, probe, raw_topic) < n:
                if task.done():
                    task.result()
                await asyncio.sleep(0.5)
            stop.request("bench")
            await task
        probe.close()
        calls = sim_calls(url)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    stamps = [datetime.fromisoformat(c["at"].replace("Z", "+00:00")).timestamp() for c in calls]
    accepted = [t for t, c in zip(stamps, calls, strict=True) if c["status"] < 400]
    span = max(stamps) - min(stamps) if stamps else 0.0
    rates = measure.rates(n)
    normal = [s * 1000 for lane, s in waits if not lane.urgent]
    urgent = [s * 1000 for lane, s in waits if lane.urgent]
    return {
        **rates,
        "events_per_s": round(n / span, 1) if span else 0.0,  # bookings per second at the platform
        "calls_per_s": round((len(calls) - 1) / span, 2) if span else 0.0,
        "calls": len(calls),
        "http_429": sum(1 for c in calls if c["status"] == 429),
        "max_calls_in_any_1s": window_max(accepted),
        "latency_ms": percentiles(normal),
        "latency_ms_urgent": percentiles(urgent),
        "latency_kind": "throttle queueing delay per platform call",
        "simulator_cpu_s": round(sim_measure.cpu, 3),
        "rate_limit_rps": rate_limit,
        "wall_s_including_startup": rates["wall_s"],
    }


async def bare_baseline(n: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """The same three calls per booking from a bare aiohttp loop: the most the platform could give."""
    with simulator(None, workdir / "sim-bare.log") as (url, _):
        body = {
            "shipment": {
                "to_address": {"street1": "1 Main", "city": "Decatur", "zip": "30030", "country": "US"},
                "from_address": {"street1": "1 Dock Rd", "city": "Memphis", "zip": "38118", "country": "US"},
                "parcel": {"weight": 16},
                "carrier": "UPS",
            }
        }
        auth = {"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        measure = Measure()

        async def worker(session: aiohttp.ClientSession) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                headers = {"Idempotency-Key": f"bare-{i}", **auth}
                async with session.post(f"{url}/v2/shipments", json=body, headers=headers) as r:
                    shipment = await r.json()
                rate = next(x for x in shipment["rates"] if x["service"] == "Ground")
                async with session.post(
                    f"{url}/v2/shipments/{shipment['id']}/buy", json={"rate": {"id": rate["id"]}}, headers=auth
                ) as r:
                    bought = await r.json()
                tracker = {"tracker": {"tracking_code": bought["tracking_code"], "carrier": "UPS"}}
                async with session.post(f"{url}/v2/trackers", json=tracker, headers=auth) as r:
                    await r.read()

        with measure.run():
            async with aiohttp.ClientSession() as session:
                await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return {
        "name": f"bare aiohttp loop, {concurrency} concurrent bookings, no Kafka/ledger/throttle",
        **measure.rates(n),
        "calls_per_s": round(3 * n / measure.wall, 1) if measure.wall else 0.0,
    }


async def main_async(limited: int, unlimited: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="carrier-bench-") as tmp:
        workdir = Path(tmp)
        concurrency = load(CarrierBridgeConfig).concurrency
        baseline = await bare_baseline(unlimited, concurrency, workdir)
        scenarios = {
            "limit_10rps": await run_bridge("limit_10rps", limited, 10, workdir),
            "no_limit": await run_bridge("no_limit", unlimited, None, workdir),
        }
    scenarios["limit_10rps"]["ratio_to_baseline"] = round(scenarios["limit_10rps"]["calls_per_s"] / 10, 3)
    scenarios["no_limit"]["ratio_to_baseline"] = (
        round(scenarios["no_limit"]["events_per_s"] / baseline["events_per_s"], 3) if baseline["events_per_s"] else None
    )
    path = write_result("carrier_bridge", {"scenarios": scenarios, "baseline": baseline, "concurrency": concurrency})
    for name, row in scenarios.items():
        print(
            f"{name:12s} {row['calls_per_s']:8.2f} calls/s  {row['events_per_s']:7.1f} bookings/s  "
            f"429s {row['http_429']}  max/1s {row['max_calls_in_any_1s']}  "
            f"queue p99 {row['latency_ms'].get('p99')} ms (urgent {row['latency_ms_urgent'].get('p99')} ms)  "
            f"CPU {row['cpu_s']} s  ratio {row['ratio_to_baseline']}"
        )
    print(f"{'bare':12s} {baseline['calls_per_s']:8.2f} calls/s  {baseline['events_per_s']:7.1f} bookings/s")
    print(f"-> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limited", type=int, default=100, help="bookings under the 10 req/s limit")
    parser.add_argument("--unlimited", type=int, default=1000, help="bookings without a limit")
    args = parser.parse_args()
    asyncio.run(main_async(args.limited, args.unlimited))


if __name__ == "__main__":
    main()
