"""WMS bridge under load: WMS calls/s per bridge process with no rate limit, and queueing delay.

Run by ``make bench`` (``python -m bench.wms_bridge_bench``) with the local stack's env sourced.
The bridge runs in this process exactly as ``backbone wms-bridge`` wires it (``serve``: sink
runtime, PostgreSQL ledger, raw answers published with acks=all), on private topics and a private
ledger schema; the WMS simulator runs as its own process (``python -m simulators.wms``).

Scenarios (each with its own topics, consumer group and ledger schema; reconciliation polling off):
  no_limit_saturated   N releases already on the topic, no rate limit: calls/s = N over the span of
                       the calls at the WMS; per core = N per CPU-second of the bridge process
  no_limit_paced       open loop at about half the saturated rate: queueing delay p50/p99
  limited_100_per_s    BACKBONE_WMS_BRIDGE_RATE_LIMIT=100, open loop at 80/s: delay with the throttler
Queueing delay = from the release being produced to the WMS receiving the create call (the
simulator's call log), so it covers Kafka, the sink's queues, the ledger claim and the throttler.
Baseline = bare ``WmsClient.create_order`` calls, same concurrency, same simulator, no Kafka/ledger.

The simulator's stock allocation scans every open order on each create, so bench orders use a SKU
it does not know and it answers ``201 rejected`` (``--reject-unknown-sku``): the bridge's work is
the same (POST with Idempotency-Key, tracking row, answer published to raw.warehouse).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient

from backbone.config import load, repo_root
from backbone.kafka import AsyncProducer, producer_config
from backbone.schema_registry_ops import register_schemas
from backbone.serialization import SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.sink.metrics import APPLIED
from backbone.topic_admin import apply_plan, plan_topics
from backbone.topics import load_topics
from bench.harness import Measure, free_port, percentiles, write_result
from services.wms_bridge.app import serve
from services.wms_bridge.client import WmsClient
from services.wms_bridge.config import WmsBridgeConfig
from services.wms_bridge.models import Address, OrderLine, OrderRequest

ORDERS = "canonical.order-milestones"
CONCURRENCY = 32


class Sim:
    """The WMS simulator as a child process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulators.wms", "--port", str(self.port), "--reject-unknown-sku"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/_sim/state")
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("WMS simulator did not start") from None
                time.sleep(0.2)

    def _call(self, method: str, path: str) -> Any:
        req = urllib.request.Request(self.url + path, method=method, data=b"{}" if method == "POST" else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        self._call("POST", "/_sim/reset")

    def calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self._call("GET", "/_sim/calls")["calls"]
        return [c for c in calls if c["method"] == "POST" and c["path"] == "/v1/orders"]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def release(ref: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "milestone_id": str(uuid.uuid4()), "code": "ORDER_RELEASED", "rank": 10, "order_ref": ref,
        "partner_order_id": None, "warehouse": None, "source_partner": "odoo", "raw_status": "released",
        "reason": None, "occurred_at": now, "occurred_at_offset_minutes": None, "tz_inferred": False,
        "received_at": now, "package_number": None, "total_packages": None, "fully_shipped": None,
        "carrier": "fedex", "tracking_number": None, "service_level": "ground",
        "lines": [{"sku": "BENCH-SKU-1", "quantity": 2.0, "lot": None}, {"sku": "BENCH-SKU-2", "quantity": 1.0,
                                                                           "lot": None}],
        "ship_to": {"name": "Bench Example", "street": "1 Main St", "city": "Reno", "postal_code": "89501",
                    "country": "US", "phone": None},
        "out_of_order": False, "mapping_version": "1",
        "raw_ref": {"event_id": "bench", "topic": "raw.erp.v1", "partition": 0, "offset": 0},
        "correlation_id": f"bench-{ref}",
    }


@dataclass
class Scenario:
    name: str
    preload: int = 0  # releases on the topic before the bridge starts
    rate: float = 0.0  # open-loop releases per second while it runs
    seconds: float = 0.0
    rate_limit: float | None = None


class Bench:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.workdir = Path(tempfile.mkdtemp(prefix="wms-bridge-bench-"))
        self.base = load(WmsBridgeConfig)
        self.base.require("kafka_bootstrap_servers", "schema_registry_url", "database_url")
        self.registry = SchemaRegistry.connect(self.base.schema_registry_url)
        self.topic_files: list[Path] = []
        self.schemas: list[str] = []

    def topics(self, tag: str) -> Path:
        path = self.workdir / f"topics-{tag}.yaml"
        path.write_text((repo_root() / "topics.yaml").read_text().replace(".v1\n", f"-bench{tag}.v1\n"))
        catalog = load_topics(path)
        admin = AdminClient({"bootstrap.servers": self.base.kafka_bootstrap_servers})
        apply_plan(admin, plan_topics(admin, catalog, replication=1))
        register_schemas(self.registry, catalog)
        self.topic_files.append(path)
        return path

    async def run(self, sc: Scenario) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:8]
        topics = self.topics(tag)
        topic = load_topics(topics).name(ORDERS)
        serde = self.registry.serde_for(topic, "OrderMilestone")
        sink = f"wms_bench_{tag}"
        cfg = load(WmsBridgeConfig, topics_file=topics, sink_name=sink, group_id=sink, dlq_role="dlq.wms_bridge",
                   ledger_schema=sink, health_port=None, wms_url=self.sim.url, reconcile_interval=0,
                   rate_limit=sc.rate_limit, concurrency=CONCURRENCY)
        self.schemas.append(sink)
        self.sim.reset()
        producer = AsyncProducer(producer_config(cfg, **{"linger.ms": 2}))
        produced: dict[str, float] = {}

        def send(n: int) -> None:
            value = release(f"SO-{tag}-{n}")
            produced[f"release-{value['milestone_id']}"] = time.time()
            producer.send_nowait(topic, serde.encode(value), value["order_ref"].encode())

        for n in range(sc.preload):
            send(n)
        await asyncio.to_thread(producer.flush, 60)
        expected = sc.preload
        stop = GracefulShutdown()
        bridge, wms = Measure(), Measure(pids=[self.sim.proc.pid])
        task = asyncio.create_task(serve(cfg, stop=stop))
        if sc.rate:
            send(10_000_000)  # warm-up: group joined and first call made before the clock starts
            expected += 1
            await self._applied(sink, expected, task)
        with bridge.run(), wms.run():
            if sc.rate:
                start, count = time.monotonic(), int(sc.rate * sc.seconds)
                for n in range(count):
                    delay = start + n / sc.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    send(sc.preload + n)
                expected += count
            await self._applied(sink, expected, task)
        stop.request("bench done")
        await task
        producer.close(10)
        return self._figures(sc, bridge, wms, produced, warmup=bool(sc.rate))

    @staticmethod
    async def _applied(sink: str, expected: int, task: asyncio.Task[None]) -> None:
        while APPLIED.labels(sink)._value.get() < expected:
            if task.done():
                task.result()
                raise RuntimeError("bridge stopped early")
            await asyncio.sleep(0.02)

    def _figures(self, sc: Scenario, bridge: Measure, wms: Measure, produced: dict[str, float],
                 warmup: bool) -> dict[str, Any]:
        calls = [c for c in self.sim.calls() if c["idempotency_key"] in produced]
        calls.sort(key=lambda c: c["at"])
        if warmup:
            calls = calls[1:]
        starts = [datetime.fromisoformat(c["at"]).timestamp() for c in calls]
        ends = [s + c["duration_ms"] / 1000 for s, c in zip(starts, calls, strict=True)]
        delays = [(s - produced[c["idempotency_key"]]) * 1000 for s, c in zip(starts, calls, strict=True)]
        span = max(ends) - min(starts)
        n = len(calls)
        return {
            "events_per_s": round(n / span, 1) if sc.preload else round(n / bridge.wall, 1),
            "events_per_cpu_s": round(n / bridge.cpu, 1) if bridge.cpu else 0.0,
            "latency_ms": percentiles(delays, (50, 99)),
            "ratio_to_baseline": None,
            "rss_mb": bridge.rss_mb,
            "calls": n,
            "non_2xx": sum(1 for c in calls if not 200 <= c["status"] < 300),
            "rate": sc.rate or None,
            "rate_limit": sc.rate_limit,
            "concurrency": CONCURRENCY,
            "wall_s": round(bridge.wall, 3),
            "bridge_cpu_s": round(bridge.cpu, 3),
            "wms_sim_cpu_s": round(wms.cpu, 3),
        }

    async def baseline(self, n: int) -> dict[str, Any]:
        """Bare client calls: what the WMS and the HTTP client alone allow."""
        self.sim.reset()
        order = OrderRequest("x", (OrderLine("BENCH-SKU-1", 2), OrderLine("BENCH-SKU-2", 1)),
                             Address("Bench Example", "1 Main St", "Reno", "89501", "US"), "fedex", "ground")
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)
        m = Measure()
        async with WmsClient(self.sim.url) as client:

            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    ref = f"BASE-{i}"
                    await client.create_order(f"base-{i}", OrderRequest(ref, order.lines, order.ship_to,
                                                                        order.requested_carrier,
                                                                        order.requested_service))

            with m.run():
                await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return {"name": f"bare WmsClient.create_order, {CONCURRENCY} concurrent, same simulator",
                **m.rates(n)}

    def cleanup(self) -> None:
        names = [spec.name for path in self.topic_files for spec in load_topics(path).specs]
        admin = AdminClient({"bootstrap.servers": self.base.kafka_bootstrap_servers})
        for future in admin.delete_topics(names).values() if names else []:
            try:
                future.result(timeout=30)
            except Exception as exc:  # a leftover private topic is harmless
                print(f"could not delete a bench topic: {exc}", file=sys.stderr)
        with psycopg.connect(self.base.database_url.get_secret_value(), autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.registry.client.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def main_async(preload: int) -> dict[str, Any]:
    sim = Sim()
    bench = Bench(sim)
    try:
        baseline = await bench.baseline(preload)
        scenarios: dict[str, Any] = {}
        saturated = await bench.run(Scenario("no_limit_saturated", preload=preload))
        scenarios["no_limit_saturated"] = saturated
        paced_rate = round(min(400.0, max(20.0, saturated["events_per_s"] / 2)))
        scenarios["no_limit_paced"] = await bench.run(Scenario("no_limit_paced", rate=paced_rate, seconds=10))
        scenarios["limited_100_per_s"] = await bench.run(
            Scenario("limited_100_per_s", rate=80, seconds=10, rate_limit=100.0))
        if baseline["events_per_s"]:  # paced scenarios run at their input rate: no ratio to compare
            saturated["ratio_to_baseline"] = round(saturated["events_per_s"] / baseline["events_per_s"], 3)
        return {"scenarios": scenarios, "baseline": baseline}
    finally:
        bench.cleanup()
        sim.close()


def main() -> None:
    preload = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    data = asyncio.run(main_async(preload))
    data["notes"] = [
        "events = WMS create calls; delay = release produced -> call received by the WMS simulator",
        "bridge and producer share this process; the WMS simulator is a separate process on the same cores",
        "shared 2-core machine (other services and tests running): compare ratios more than absolutes",
    ]
    path = write_result("wms_bridge", data)
    for name, row in [*data["scenarios"].items(), ("baseline", data["baseline"])]:
        print(f"{name:22} {row['events_per_s']:>8} calls/s  {row['events_per_cpu_s']:>8} per core"
              + (f"  delay p50 {row['latency_ms'].get('p50')} ms p99 {row['latency_ms'].get('p99')} ms"
                 if row.get("latency_ms") else "")
              + (f"  ratio {row['ratio_to_baseline']}" if row.get("ratio_to_baseline") else ""))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
