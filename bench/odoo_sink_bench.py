"""odoo_sink benchmark: shipment milestones applied per second by ONE sink process, against the Odoo
simulator answering in 5 ms and 50 ms (fault ``delay_ms``), with the PostgreSQL ledger, and the
same loop with an in-memory ledger to price the ledger.

The sink runs in this process (``SinkRuntime`` + ``OdooHandler``, exactly what ``app.serve``
builds); the simulator runs as its own process (``python -m simulators.odoo --delivery-state``), so
"per core" counts the sink only. Each milestone is one ``message_post`` plus one ``write``
(delivery_state), after one picking search per shipment. Scenarios:

- ``ledger_5ms`` / ``ledger_50ms``: backlog of ``--events`` milestones, as fast as they apply;
- ``memory_ledger_5ms``: the same with the ledger replaced by a dict (no PostgreSQL): the ratio of
  the two is the ledger's price;
- ``paced_5ms`` (and ``paced_5ms_half_rate``): ``--rate`` milestones/s produced while the sink runs:
  latency from the canonical append (producer send time) to Odoo recording the ``message_post``
  (same clock). Ingest and the normalizer are not in this path: the figure is canonical append ->
  Odoo call.

``python -m bench.odoo_sink_bench [--events 20000] [--concurrency 64] [--rate 500] [--paced-seconds 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import psycopg
from confluent_kafka.admin import AdminClient
from psycopg import sql
from pydantic import SecretStr

from backbone.aio import event_loop_factory
from backbone.config import load, repo_root
from backbone.kafka import AsyncProducer, producer_config
from backbone.ledger import Claim, Ledger, LedgerStatus, LedgerSubject
from backbone.schema_registry_ops import register_schemas
from backbone.serialization import AvroSerde, SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.sink import SinkRuntime
from backbone.stack.process import free_port
from backbone.telemetry import setup_tracing
from backbone.topic_admin import apply_plan, plan_topics
from backbone.topics import load_topics
from bench.harness import Measure, percentiles, write_result
from services.odoo_sink.client import make_client
from services.odoo_sink.config import OdooSinkConfig
from services.odoo_sink.connection import OdooConnectionConfig
from services.odoo_sink.handlers import OdooHandler

KEY = "bench-key"
ROLE = "canonical.shipment-milestones"
CODES = ["LABEL_CREATED", "SHIPPED", "CARRIER_PICKED_UP", "IN_TRANSIT", "IN_TRANSIT", "IN_TRANSIT",
         "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPT_FAILED", "OUT_FOR_DELIVERY", "DELIVERED"]
RANKS = {"LABEL_CREATED": 40, "SHIPPED": 50, "CARRIER_PICKED_UP": 60, "IN_TRANSIT": 70, "OUT_FOR_DELIVERY": 80,
         "DELIVERY_ATTEMPT_FAILED": 85, "DELIVERED": 90}


class MemoryLedger(Ledger):
    """The ledger's contract in a dict: what the runtime costs without PostgreSQL (bench only)."""

    def __init__(self, sink: str) -> None:  # no pool, no batchers
        self.sink = sink
        self.rows: dict[str, tuple[LedgerStatus, int]] = {}
        self.ranks: dict[str, int] = {}
        self.finished = 0

    async def claim(self, rec: LedgerSubject, *, force: bool = False) -> Claim:
        status, attempts = self.rows.get(rec.milestone_id, (None, 0))
        rank = self.ranks.get(rec.entity_key) if rec.entity_key else None
        if status in ("applied", "skipped", "skipped_stale", "dead_lettered") and not force:
            return Claim(status, attempts, None, rank, False)
        self.rows[rec.milestone_id] = ("in_flight", attempts + 1)
        return Claim(status, attempts, None, rank, True)

    async def mark_in_flight(self, rec: LedgerSubject, *, attempts: int) -> None:
        self.rows[rec.milestone_id] = ("in_flight", attempts)

    async def mark_failed(self, rec: LedgerSubject, *, attempts: int, error: str) -> None:
        self.rows[rec.milestone_id] = ("failed", attempts)

    async def finish(self, rec: LedgerSubject, *, status: LedgerStatus, attempts: int, response: Any = None,
                     error: str | None = None, rank: int | None = None) -> None:
        self.rows[rec.milestone_id] = (status, attempts)
        if rank is not None and rec.entity_key:
            self.ranks[rec.entity_key] = rank
        self.finished += 1

    async def close(self) -> None:
        pass

    async def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for status, _ in self.rows.values():
            out[status] = out.get(status, 0) + 1
        return out


def make_topics(stack: OdooSinkConfig, workdir: Path) -> Path:
    suffix = uuid.uuid4().hex[:8]
    path = workdir / f"topics-{suffix}.yaml"
    path.write_text((repo_root() / "topics.yaml").read_text().replace(".v1\n", f"-obench{suffix}.v1\n"))
    catalog = load_topics(path)
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    apply_plan(admin, plan_topics(admin, catalog, replication=1))
    register_schemas(SchemaRegistry.connect(stack.schema_registry_url), catalog)
    return path


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus`` (threads started later inherit their creator's mask)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


def affinity_plan(enabled: bool) -> tuple[set[int], set[int]] | None:
    """(sink cpus, simulator cpus): the simulator stands in for a remote Odoo, so on a small machine
    it gets a core of its own instead of taking turns with the sink. None when off or one core."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}


@contextmanager
def simulator(log: Path, cpus: set[int] | None = None) -> Iterator[tuple[str, int]]:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "simulators.odoo", "--port", str(port), "--delivery-state"],
                                env={**os.environ, "BACKBONE_ODOO_API_KEY": KEY}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    if cpus is not None:
        os.sched_setaffinity(proc.pid, cpus)  # before it starts threads: they inherit the mask
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_sim/faults", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"simulator did not start; see {log}") from None
            time.sleep(0.2)
    try:
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def sim_admin(url: str, method: str, path: str, payload: Any = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{url}/_sim/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def reset_simulator(url: str, shipments: int, delay_ms: int) -> None:
    sim_admin(url, "POST", "reset")
    orders = [{"order_ref": f"B{n:06d}", "lines": [{"sku": "MUG-01", "qty": 1}],
               "packages": [{"tracking_ref": f"BT{n:06d}", "carrier": "ups"}]} for n in range(shipments)]
    for start in range(0, len(orders), 1000):
        sim_admin(url, "POST", "seed", orders[start:start + 1000])
    sim_admin(url, "POST", "faults", {"delay_ms": delay_ms})


def milestones(shipments: int, per: int, tag: str) -> list[dict[str, Any]]:
    out = []
    base = time.time() - 3600
    for n in range(per):
        code = CODES[n % len(CODES)]
        for k in range(shipments):
            occurred = base + n * 60
            out.append({
                "milestone_id": f"{tag}-{k}-{n}", "code": code, "rank": RANKS[code], "exception_reason": None,
                "shipment_key": f"ups:BT{k:06d}", "carrier": "ups", "tracking_number": f"BT{k:06d}",
                "order_ref": f"B{k:06d}", "source_partner": "easypost", "raw_status": code.lower(),
                "raw_status_text": code.replace("_", " ").lower(),
                "occurred_at": int(occurred * 1e6), "received_at": int((occurred + 1) * 1e6),
                "location": {"city": "Leipzig", "state": None, "postal_code": "04109", "country": "DE",
                             "description": None},
                "raw_ref": {"event_id": f"e-{k}-{n}", "topic": "raw", "partition": 0, "offset": n},
                "correlation_id": f"c-{tag}-{k}-{n}",
            })
    return out


async def produce(producer: AsyncProducer, serde: AvroSerde, topic: str, values: list[dict[str, Any]],
                  rate: float | None = None, sent_at: dict[str, float] | None = None) -> None:
    start = time.perf_counter()
    pending: list[Any] = []
    for i, value in enumerate(values):
        if rate:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.gather(*pending)
                pending.clear()
                await asyncio.sleep(delay)
        if sent_at is not None:
            sent_at[value["milestone_id"]] = time.time()
        pending.append(producer.send(topic, serde.encode(value), value["shipment_key"].encode(), [], None))
        if len(pending) >= 1000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


def sink_config(base: OdooSinkConfig, topics: Path, url: str, sink: str, concurrency: int,
                schema: str) -> OdooSinkConfig:
    return load(OdooSinkConfig, topics_file=topics, sink_name=sink, group_id=sink, dlq_role="dlq.odoo_sink",
                ledger_schema=schema, health_port=None, concurrency=concurrency,
                max_buffered=max(2000, concurrency * 8),
                stale_check_interval=0, call_timeout=30,
                odoo=OdooConnectionConfig(url=url, api_key=SecretStr(KEY), read_timeout_s=30, total_timeout_s=60))


async def run_scenario(base: OdooSinkConfig, workdir: Path, url: str, sim_pid: int, *, delay_ms: int,
                       shipments: int, per: int, concurrency: int, schema: str, memory: bool,
                       rate: float | None = None) -> dict[str, Any]:
    tag = f"s{uuid.uuid4().hex[:6]}"
    reset_simulator(url, shipments, delay_ms)
    topics = make_topics(base, workdir)  # a private topic per scenario: each starts from an empty log
    topic = load_topics(topics).name(ROLE)
    registry = SchemaRegistry.connect(base.schema_registry_url)
    serde = registry.serde_for(topic, "ShipmentMilestone")
    producer = AsyncProducer(producer_config(base, **{"linger.ms": 5}))
    cfg = sink_config(base, topics, url, f"obench_{tag}", concurrency, schema)
    values = milestones(shipments, per, tag)
    sent_at: dict[str, float] = {}
    if rate is None:
        await produce(producer, serde, topic, values)  # a backlog, applied as fast as the sink can
    client = make_client(cfg.connection())
    ledger: Ledger | None = MemoryLedger(cfg.sink_name) if memory else None
    runtime = SinkRuntime(cfg, OdooHandler(client, cfg.mapping()), ledger=ledger)
    stop = GracefulShutdown()
    task = asyncio.create_task(runtime.run(stop))
    await wait_assigned(runtime)
    sink_cpu, sim_cpu = Measure(), Measure(pids=[sim_pid])
    t0 = time.perf_counter()
    with sink_cpu.run(), sim_cpu.run():
        feeder = asyncio.create_task(produce(producer, serde, topic, values, rate, sent_at)) if rate else None
        await wait_settled(runtime, len(values), memory)
        if feeder is not None:
            await feeder
    wall = time.perf_counter() - t0
    stop.request("bench")
    await asyncio.wait_for(task, 60)
    await client.close()
    producer.close(5)
    registry.client.close()
    n = len(values)
    out: dict[str, Any] = {
        "events": n, "shipments": shipments, "delay_ms": delay_ms, "concurrency": concurrency,
        "ledger": "memory" if memory else "postgresql", "wall_s": round(wall, 3),
        "events_per_s": round(n / wall, 1),
        "events_per_cpu_s": round(n / sink_cpu.cpu, 1) if sink_cpu.cpu else 0.0,
        "sink_cpu_s": round(sink_cpu.cpu, 2), "simulator_cpu_s": round(sim_cpu.cpu, 2),
        "rss_mb": round(psutil.Process().memory_info().rss / 1e6, 1),
    }
    all_calls = sim_admin(url, "GET", "calls")["calls"]
    out["odoo_calls_per_milestone"] = round(len(all_calls) / n, 2)
    if rate:
        latencies = []
        for call in all_calls:
            if call.get("method") != "message_post":
                continue
            body = str(call.get("kwargs", {}).get("body", ""))
            mid = body[len("[backbone:"):body.find("]")] if body.startswith("[backbone:") else ""
            if mid in sent_at:
                latencies.append((call["ts"] - sent_at[mid]) * 1000)
        out["rate"] = rate
        out["latency_ms"] = percentiles(latencies)
        out["latency_samples"] = len(latencies)
        out["latency_path"] = "canonical append (producer send) -> Odoo message_post recorded"
    return out


async def wait_assigned(runtime: SinkRuntime, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while len(runtime.partitions) < 6:
        if time.monotonic() > deadline:
            raise RuntimeError("sink got no partitions")
        await asyncio.sleep(0.1)


async def wait_settled(runtime: SinkRuntime, total: int, memory: bool, within: float = 900.0) -> None:
    deadline = time.monotonic() + within
    while True:
        if memory:
            assert isinstance(runtime.ledger, MemoryLedger)
            done = runtime.ledger.finished
        else:
            counts = await runtime.ledger.counts()
            done = sum(v for k, v in counts.items() if k not in ("in_flight", "failed"))
        if done >= total:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {total} settled")
        await asyncio.sleep(0.05)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    base = load(OdooSinkConfig, odoo=OdooConnectionConfig(api_key=SecretStr(KEY)))
    base.require("kafka_bootstrap_servers", "schema_registry_url", "database_url")
    workdir = Path(tempfile.mkdtemp(prefix="odoo-bench-"))
    schema = f"obench_{uuid.uuid4().hex[:8]}"
    shipments = max(1, args.events // len(CODES))
    scenarios: dict[str, Any] = {}
    plan_cpus = affinity_plan(args.pin)
    if plan_cpus is not None:
        pin(os.getpid(), plan_cpus[0])
    if args.tracing:
        setup_tracing("odoo_sink")  # what `backbone odoo-sink` does: SDK spans, exported only with OTLP set
    settings = {"affinity": {"sink": sorted(plan_cpus[0]), "simulator": sorted(plan_cpus[1])} if plan_cpus else None,
                "tracing": "sdk" if args.tracing else "off (no TracerProvider: no-op spans)"}
    with simulator(workdir / "odoo-sim.log", plan_cpus[1] if plan_cpus else None) as (url, sim_pid):
        plan = [
            ("ledger_5ms", {"delay_ms": 5, "memory": False}),
            ("memory_ledger_5ms", {"delay_ms": 5, "memory": True}),
            ("ledger_5ms_c256", {"delay_ms": 5, "memory": False, "concurrency": 256}),
            ("ledger_50ms", {"delay_ms": 50, "memory": False}),
            ("ledger_50ms_c256", {"delay_ms": 50, "memory": False, "concurrency": 256}),
        ]
        for name, opts in plan:
            if args.only and name not in args.only:
                continue
            kwargs = {"concurrency": args.concurrency, **opts}
            scenarios[name] = await run_scenario(base, workdir, url, sim_pid, shipments=shipments, per=len(CODES),
                                                 schema=schema, **kwargs)
            scenarios[name].update(settings)
            print(f"{name}: {scenarios[name]['events_per_s']}/s, {scenarios[name]['events_per_cpu_s']}/cpu-s")
        # At the asked rate, and at half of it (latency without queueing, when the rate is near capacity).
        for name, rate in (("paced_5ms", args.rate), ("paced_5ms_half_rate", args.rate / 2)):
            if args.only and name not in args.only:
                continue
            paced_shipments = max(1, int(rate * args.paced_seconds) // len(CODES))
            scenarios[name] = await run_scenario(base, workdir, url, sim_pid, delay_ms=5, shipments=paced_shipments,
                                                 per=len(CODES), concurrency=args.concurrency, schema=schema,
                                                 memory=False, rate=rate)
            scenarios[name].update(settings)
            print(f"{name}: {scenarios[name]['latency_ms']}")
    async with await psycopg.AsyncConnection.connect(base.database_url.get_secret_value(), autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    return scenarios


def summarize(scenarios: dict[str, Any]) -> dict[str, Any]:
    baseline_file = Path(__file__).parent / "results" / "kafka_baseline.json"
    baseline = json.loads(baseline_file.read_text()).get("consume", {}) if baseline_file.exists() else {}
    for data in scenarios.values():
        rate = baseline.get("events_per_s")
        data["ratio_to_baseline"] = round(data["events_per_s"] / rate, 4) if rate else None
        data.setdefault("latency_ms", {})
    if "ledger_5ms" in scenarios and "memory_ledger_5ms" in scenarios:
        on, off = scenarios["ledger_5ms"], scenarios["memory_ledger_5ms"]
        scenarios["ledger_5ms"]["ledger_overhead"] = {
            "throughput_ratio_ledger_vs_memory": round(on["events_per_s"] / off["events_per_s"], 3),
            "cpu_per_event_ratio": round(off["events_per_cpu_s"] / on["events_per_cpu_s"], 3)
            if on["events_per_cpu_s"] else None,
        }
    return {"baseline": {"kafka_consume_events_per_s": baseline.get("events_per_s")}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                        help="simulator on the last core, the sink on the others (default on)")
    parser.add_argument("--tracing", action="store_true", help="install the SDK TracerProvider as the service does")
    arguments = parser.parse_args()
    # The event loop the service runs on (uvloop when installed), so the figures are the service's.
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        results = runner.run(main(arguments))
    extra = summarize(results)
    path = write_result("odoo_sink", {"scenarios": results, **extra,
                                      "workload": {"events": arguments.events, "codes": CODES}})
    print(f"written {path}")
