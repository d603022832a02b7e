"""Ingest under load: requests/s and events/s per core, latency, RSS, next to a bare producer baseline.

Run by ``make bench`` (``python -m bench.ingest_bench``) with the local stack's env sourced. The
ingest service runs as its own process (``python -m services.ingest``) pinned to one core when the
machine has several; the load generator (``wrk`` when installed, else a Python aiohttp client) runs
in separate processes on the other cores. Every scenario uses acks=all, the idempotent producer and
real signature verification (EasyPost HMAC for webhooks, an API key for NDJSON batches).

Scenarios:
  webhook_single       closed loop, 64 connections, one EasyPost webhook (2.6 KB) per request
  ndjson_batch_100     closed loop, 16 connections, 100 generic events per request
  paced_1000_rps       open loop at 1,000 webhooks/s (latency measured from the scheduled send)
  webhook_single_lean  as webhook_single with 10 % trace sampling and the access log off
Per core = events per CPU-second of the ingest process (all its threads, librdkafka included).
Baseline = bare confluent-kafka produce of records of the same size, same run, same broker.

``--private-broker`` runs everything (service and baseline) against a fresh single-node Kafka on
its own ports instead of the shared stack broker. The shared broker of a busy test machine holds
thousands of test topics and serves other benchmarks; a fresh one gives repeatable figures.
``--profile`` runs the service under pyinstrument for the webhook scenario and writes
bench/results/ingest_profile.txt (the figures of a profiled run are not comparable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka.admin import AdminClient

from backbone.config import repo_root
from backbone.schema_registry_ops import register_schemas
from backbone.serialization import SchemaRegistry
from backbone.signatures import sign_easypost
from backbone.topic_admin import apply_plan, plan_topics
from backbone.topics import load_topics
from bench.harness import RESULTS, percentiles, write_result
from bench.kafka_baseline import produce_baseline

EASYPOST_SECRET = "bench-easypost-secret"
API_KEY = "bench-generic-api-key-0001"
GOALS = {"webhook_req_per_core": 5000, "batch_events_per_core": 50000, "p99_ms_at_1000_rps": 25, "rss_mb": 150}
PARTNERS = """
defaults:
  rate_limit: {per_second: 1000000, burst: 1000000}
  max_body_bytes: 4194304
partners:
  easypost: {channel: carrier-tracking, format: easypost.event.v2, signature: easypost-hmac}
  generic-tms: {channel: carrier-tracking, format: generic.milestone.v1, signature: api-key}
"""


# --- environment -------------------------------------------------------------------------------


@dataclass
class Setup:
    workdir: Path
    topics_file: Path
    topic: str
    webhook: bytes
    batch: bytes
    env: dict[str, str] = field(default_factory=dict)


def prepare(bootstrap: str, registry_url: str) -> Setup:
    """Private topics (never the shared raw.*), schemas, a partners file and secrets in a temp dir."""
    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    suffix = uuid.uuid4().hex[:8]
    topics_file = workdir / "topics.yaml"
    topics_file.write_text((repo_root() / "topics.yaml").read_text().replace(".v1\n", f"-bench{suffix}.v1\n"))
    catalog = load_topics(topics_file)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    apply_plan(admin, plan_topics(admin, catalog, replication=1))
    register_schemas(SchemaRegistry.connect(registry_url), catalog)
    (workdir / "partners.yaml").write_text(PARTNERS)
    secrets = workdir / "secrets"
    secrets.mkdir()
    (secrets / "easypost").write_text(EASYPOST_SECRET)
    (secrets / "generic-tms").write_text(API_KEY)
    fixtures = repo_root() / "tests" / "fixtures" / "partners"
    generic = json.loads((fixtures / "generic_milestone.json").read_text())
    batch = "\n".join(json.dumps(generic | {"event_id": f"bench-{i}"}) for i in range(100)).encode()
    env = {
        "BACKBONE_TOPICS_FILE": str(topics_file),
        "BACKBONE_INGEST_PARTNERS_FILE": str(workdir / "partners.yaml"),
        "BACKBONE_PARTNER_SECRETS_DIR": str(secrets),
        "BACKBONE_LOG_LEVEL": "INFO",
    }
    return Setup(
        workdir,
        topics_file,
        catalog.name("raw.carrier-tracking"),
        (fixtures / "easypost_tracker_updated.json").read_bytes(),
        batch,
        env,
    )


def cleanup(bootstrap: str, setup: Setup) -> None:
    """Drop the private topics and the temp dir (registry subjects stay: they are tiny)."""
    names = [spec.name for spec in load_topics(setup.topics_file).specs]
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held: a collected client cancels its futures
    for future in admin.delete_topics(names).values():
        try:
            future.result(timeout=30)
        except Exception as exc:  # a leftover topic is harmless; say so and go on
            print(f"could not delete a bench topic: {exc}", file=sys.stderr)
    shutil.rmtree(setup.workdir, ignore_errors=True)


def cores() -> tuple[str | None, str | None]:
    """(server cores, load generator cores) for taskset, or Nones on a single core."""
    count = os.cpu_count() or 1
    if count < 2 or not shutil.which("taskset"):
        return None, None
    return "0", f"1-{count - 1}"


class Server:
    """``python -m services.ingest`` as a child process; CPU and RSS sampled while it runs."""

    def __init__(self, setup: Setup, port: int, extra_env: dict[str, str], profile: Path | None = None) -> None:
        server_cores, _ = cores()
        cmd = [sys.executable]
        if profile is not None:
            cmd += ["-m", "pyinstrument", "-r", "text", "-o", str(profile)]
        cmd += ["-m", "services.ingest", "--host", "127.0.0.1", "--port", str(port)]
        if server_cores:
            cmd = ["taskset", "-c", server_cores, *cmd]
        self.url = f"http://127.0.0.1:{port}"
        self.log = setup.workdir / f"server-{port}.log"
        env = {**os.environ, **setup.env, **extra_env}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=repo_root())
        self.ps = psutil.Process(self.proc.pid)
        self._rss_peak = 0
        self._sampling = False
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ingest exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError("ingest not ready in time")

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 1e6

    def sample_rss(self) -> threading.Thread:
        self._rss_peak, self._sampling = 0, True

        def loop() -> None:
            while self._sampling:
                self._rss_peak = max(self._rss_peak, self.ps.memory_info().rss)
                time.sleep(0.2)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def stop_sampling(self) -> float:
        self._sampling = False
        return round(self._rss_peak / 1e6, 1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT if "pyinstrument" in " ".join(self.ps.cmdline()) else signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- load generators ---------------------------------------------------------------------------


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    _, load_cores = cores()
    threads = max(1, min(connections, (os.cpu_count() or 2) - 1))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    if load_cores:
        cmd = ["taskset", "-c", load_cores, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    latency = {}
    for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE):
        latency[f"p{pct}"] = round(float(value) * _UNITS[unit], 3)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
        "latency_ms": latency,
        "tool": "wrk",
    }


async def _closed_loop(
    url: str, body: bytes, headers: dict[str, str], seconds: float, connections: int
) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return {"latencies": latencies, "statuses": statuses}


def _closed_loop_proc(args: tuple[str, bytes, dict[str, str], float, int], queue: Any) -> None:
    queue.put(asyncio.run(_closed_loop(*args)))


def run_python_load(url: str, body: bytes, headers: dict[str, str], connections: int, seconds: int) -> dict[str, Any]:
    """Fallback without wrk: closed-loop aiohttp clients in separate processes."""
    procs = max(1, (os.cpu_count() or 2) - 1)
    queue: Any = mp.get_context("spawn").Queue()
    per_proc = max(1, connections // procs)
    workers = [
        mp.get_context("spawn").Process(target=_closed_loop_proc, args=((url, body, headers, seconds, per_proc), queue))
        for _ in range(procs)
    ]
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    latencies = [x for r in results for x in r["latencies"]]
    statuses: dict[int, int] = {}
    for r in results:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "requests": len(latencies),
        "non_2xx": sum(n for s, n in statuses.items() if not 200 <= s < 300),
        "latency_ms": percentiles(latencies, (50, 90, 99)),
        "tool": "python-aiohttp",
    }


async def _paced(url: str, body: bytes, headers: dict[str, str], rate: int, seconds: float) -> dict[str, Any]:
    """Open loop: request i is due at start + i/rate; latency counts from that due time."""
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=500)) as session:

        async def one(due: float) -> None:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append((time.perf_counter() - due) * 1000)

        tasks = []
        start = time.perf_counter() + 0.2
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    return {"latencies": latencies, "statuses": statuses}


def _paced_proc(args: tuple[str, bytes, dict[str, str], int, float], queue: Any) -> None:
    queue.put(asyncio.run(_paced(*args)))


def run_paced(url: str, body: bytes, headers: dict[str, str], rate: int, seconds: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    proc = ctx.Process(target=_paced_proc, args=((url, body, headers, rate, seconds), queue))
    proc.start()
    result = queue.get()
    proc.join()
    lat = result["latencies"]
    return {
        "requests": len(lat),
        "non_2xx": sum(n for s, n in result["statuses"].items() if not 200 <= s < 300),
        "latency_ms": percentiles(lat, (50, 90, 99, 99.9)),
        "tool": "python-aiohttp (open loop)",
    }


# --- scenarios ---------------------------------------------------------------------------------


def closed_loop(
    server: Server,
    path: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    seconds: int,
    events_per_request: int,
    script: Path,
) -> dict[str, Any]:
    url = f"{server.url}{path}"
    cpu0, t0 = server.cpu(), time.perf_counter()
    server.sample_rss()
    if shutil.which("wrk"):
        load = run_wrk(url, _wrk_script(script, body, headers), connections, seconds)
    else:
        load = run_python_load(url, body, headers, connections, seconds)
    wall, cpu = time.perf_counter() - t0, server.cpu() - cpu0
    rss = server.stop_sampling()
    requests = load["requests"]
    return {
        "requests": requests,
        "events": requests * events_per_request,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "requests_per_s": round(requests / wall, 1),
        "requests_per_cpu_s": round(requests / cpu, 1) if cpu else 0.0,
        "events_per_s": round(requests * events_per_request / wall, 1),
        "events_per_cpu_s": round(requests * events_per_request / cpu, 1) if cpu else 0.0,
        "latency_ms": load["latency_ms"],
        "non_2xx": load["non_2xx"],
        "connections": connections,
        "load_tool": load["tool"],
        "rss_mb": rss,
    }


def paced(server: Server, body: bytes, headers: dict[str, str], rate: int, seconds: int) -> dict[str, Any]:
    cpu0 = server.cpu()
    server.sample_rss()
    load = run_paced(f"{server.url}/v1/webhooks/easypost", body, headers, rate, seconds)
    cpu = server.cpu() - cpu0
    return {
        "requests": load["requests"],
        "events": load["requests"],
        "target_rate": rate,
        "events_per_s": round(load["requests"] / seconds, 1),
        "cpu_s": round(cpu, 2),
        "server_cpu_share": round(cpu / seconds, 3),
        "latency_ms": load["latency_ms"],
        "non_2xx": load["non_2xx"],
        "load_tool": load["tool"],
        "rss_mb": server.stop_sampling(),
    }


@contextlib.contextmanager
def private_broker() -> Iterator[str]:
    """A fresh single-node Kafka on free ports (data in a temp dir), stopped afterwards."""
    from backbone.stack.components import KafkaBroker
    from backbone.stack.process import free_port, stop, wait_until

    port = free_port()
    os.environ["BACKBONE_STACK_KAFKA_PORT"] = str(port)  # read by KafkaBroker (controller on port + 1)
    state = Path(tempfile.mkdtemp(prefix="ingest-bench-kafka-"))
    broker = KafkaBroker(state)
    broker.prepare()
    pid = broker.start()
    try:
        wait_until(broker.ready, pid=pid, timeout=120, what="bench kafka", log=broker.log)
        yield broker.bootstrap
    finally:
        stop(pid, timeout=20)
        shutil.rmtree(state, ignore_errors=True)


def run(seconds: int, profile: bool, bootstrap: str | None = None) -> dict[str, Any]:
    bootstrap = bootstrap or os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    registry = os.environ["SCHEMA_REGISTRY_URL"]
    setup = prepare(bootstrap, registry)
    setup.env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    record_size = 2_950  # a RawEvent of the EasyPost fixture (payload + envelope), Avro-encoded
    baseline = produce_baseline(bootstrap, n=100_000, size=record_size)
    signature = sign_easypost(setup.webhook, EASYPOST_SECRET)
    webhook_headers = {"Content-Type": "application/json", "X-Hmac-Signature": signature}
    batch_headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {API_KEY}"}
    scenarios: dict[str, Any] = {}
    server = Server(setup, 18_990, {})
    try:
        scenarios["webhook_single"] = closed_loop(
            server,
            "/v1/webhooks/easypost",
            setup.webhook,
            webhook_headers,
            64,
            seconds,
            1,
            setup.workdir / "webhook.lua",
        )
        scenarios["ndjson_batch_100"] = closed_loop(
            server, "/v1/events", setup.batch, batch_headers, 16, seconds, 100, setup.workdir / "batch.lua"
        )
        scenarios["paced_1000_rps"] = paced(server, setup.webhook, webhook_headers, 1000, seconds)
        idle_rss = round(server.rss_mb(), 1)
    finally:
        server.stop()
    lean = Server(
        setup,
        18_991,
        {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
            "BACKBONE_INGEST_ACCESS_LOG": "false",
        },
    )
    try:
        scenarios["webhook_single_lean"] = closed_loop(
            lean, "/v1/webhooks/easypost", setup.webhook, webhook_headers, 64, seconds, 1, setup.workdir / "webhook.lua"
        )
    finally:
        lean.stop()
    if profile:
        profiled = Server(setup, 18_992, {}, profile=RESULTS / "ingest_profile.txt")
        try:
            closed_loop(
                profiled,
                "/v1/webhooks/easypost",
                setup.webhook,
                webhook_headers,
                64,
                seconds,
                1,
                setup.workdir / "webhook.lua",
            )
        finally:
            profiled.stop()
    base_per_cpu = baseline["events_per_cpu_s"]
    for row in scenarios.values():
        if "events_per_cpu_s" in row and base_per_cpu:
            row["ratio_to_baseline"] = round(row["events_per_cpu_s"] / base_per_cpu, 3)
    rss_peak = max(row["rss_mb"] for row in scenarios.values())
    goals = {
        "webhook_req_per_core": {
            "goal": GOALS["webhook_req_per_core"],
            "measured": scenarios["webhook_single"]["requests_per_cpu_s"],
        },
        "batch_events_per_core": {
            "goal": GOALS["batch_events_per_core"],
            "measured": scenarios["ndjson_batch_100"]["events_per_cpu_s"],
        },
        "p99_ms_at_1000_rps": {
            "goal": GOALS["p99_ms_at_1000_rps"],
            "measured": scenarios["paced_1000_rps"]["latency_ms"].get("p99"),
        },
        "rss_mb_under_load": {"goal": GOALS["rss_mb"], "measured": rss_peak},
    }
    for name, goal in goals.items():
        better_low = name.startswith(("p99", "rss"))
        measured = goal["measured"] or 0
        goal["met"] = measured <= goal["goal"] if better_low else measured >= goal["goal"]
    cleanup(bootstrap, setup)
    return {
        "scenarios": scenarios,
        "baseline": {
            k: baseline[k]
            for k in ("events", "events_per_s", "events_per_cpu_s", "wall_s", "cpu_s", "ack_latency_at_1000_per_s_ms")
        }
        | {"record_bytes": record_size},
        "goals": goals,
        "idle_rss_mb": idle_rss,
        "settings": {
            "acks": "all",
            "idempotent": True,
            "signature_verification": True,
            "linger_ms": 5,
            "broker": "shared stack" if bootstrap == os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else "private",
            "seconds_per_scenario": seconds,
            "server_cores": cores()[0] or "all",
            "note": "per core = events per CPU-second of the ingest process (all threads)",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15, help="duration of each scenario")
    parser.add_argument("--profile", action="store_true", help="also profile the webhook scenario (pyinstrument)")
    parser.add_argument("--private-broker", action="store_true", help="measure against a fresh private Kafka")
    args = parser.parse_args()
    if args.private_broker:
        with private_broker() as bootstrap:
            result = run(args.seconds, args.profile, bootstrap)
    else:
        result = run(args.seconds, args.profile)
    path = write_result("ingest", result)
    from rich.console import Console

    console = Console()
    for name, row in result["scenarios"].items():
        lat = row["latency_ms"]
        console.print(
            f"{name:22s} {row.get('requests_per_s', row['events_per_s']):>9,.0f} req/s  "
            f"{row['events_per_s']:>9,.0f} events/s  {row.get('events_per_cpu_s', 0):>9,.0f} events/CPU-s  "
            f"p50 {lat.get('p50')} ms  p99 {lat.get('p99')} ms  RSS {row['rss_mb']} MB  non-2xx {row['non_2xx']}"
        )
    b = result["baseline"]
    console.print(f"{'baseline produce':22s} {b['events_per_s']:>9,.0f} msg/s ({b['events_per_cpu_s']:,.0f} per CPU-s)")
    for name, goal in result["goals"].items():
        console.print(f"goal {name}: {goal['measured']} vs {goal['goal']} -> {'met' if goal['met'] else 'NOT met'}")
    console.print(f"-> {path}")


if __name__ == "__main__":
    main()
