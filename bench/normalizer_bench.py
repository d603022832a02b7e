"""Status normalizer benchmark: raw -> canonical events/s per worker core, latency, memory, state size.

Two processes run the same workload (bench/normalizer_workload.py: EasyPost histories re-sent in
full, generic checkpoints, 10 % redeliveries) on private copies of the topics:

- ``faust_worker``: the real worker (``backbone normalizer``), RocksDB dedupe tables + changelogs;
- ``bare_loop`` (the baseline): bench/normalizer_bare.py, confluent-kafka consume -> same Pipeline
  (RawEvent decode, parse, dedupe, Avro encode, spans) -> produce, dedupe in a plain dict, so it
  emits exactly what the worker emits without Faust or durable state.

Per process: a warm-up, a saturated phase (a backlog written as fast as the producer can; events/s
of wall time, and events per CPU-second of that process measured with psutil: "per core"), and a
paced phase at 2,000 events/s for latency from raw append to canonical append (both topics use
LogAppendTime: one clock). In the same run the broker's own acks=all latency at 2,000 msg/s is
probed, because no consumer of this broker can beat it. Afterwards the worker's RocksDB is
measured (bench/normalizer_state.py). ``ratio_to_baseline`` = worker events per CPU-s / bare loop's.

``python -m bench.normalizer_bench [--events 100000] [--paced-seconds 10] [--only faust|bare]
[--profile DIR] [--keep]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from backbone.serialization import SchemaRegistry
from backbone.topics import load_topics
from bench import normalizer_workload as workload
from bench.harness import Measure, free_port, percentiles, write_result
from bench.kafka_baseline import make_topic, paced_latency
from bench.normalizer_kafka import RAW, SHIPMENTS, count, latencies_ms, make_topics, process, wait_count
from bench.normalizer_state import state_size

RATE = 2_000


def scenario(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    bootstrap, registry_url = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["SCHEMA_REGISTRY_URL"]
    topics = make_topics(bootstrap, registry_url, workdir)
    catalog = load_topics(topics)
    registry = SchemaRegistry.connect(registry_url)
    serde = registry.serde_for(catalog.name(RAW), "RawEvent")
    datadir = workdir / f"{kind}-data"
    env = {"BACKBONE_TOPICS_FILE": str(topics), "BACKBONE_NORMALIZER_APP_ID": f"bench-{kind}-{uuid.uuid4().hex[:8]}",
           "BACKBONE_NORMALIZER_DATADIR": str(datadir), "BACKBONE_NORMALIZER_WEB_PORT": str(free_port()),
           "BACKBONE_LOG_LEVEL": "WARNING"}
    if args.sampled < 1.0:  # the chart's head sampling: unsampled events get non-recording spans
        env |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": str(args.sampled)}
    phases = {name: workload.build(n, shard) for name, n, shard in (
        ("warmup", 2_000, 1), ("saturated", args.events, 2), ("paced", RATE * args.paced_seconds, 3))}
    encoded = {name: workload.encode(serde, w.events, args.sampled) for name, w in phases.items()}
    watch = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-watch-{uuid.uuid4().hex[:6]}"})
    out_topic, raw_topic = catalog.name(SHIPMENTS), catalog.name(RAW)
    result: dict[str, Any] = {}
    with process(kind, env, workdir / f"{kind}.log", args.profile) as proc:
        expected = phases["warmup"].distinct_checkpoints
        workload.produce(bootstrap, raw_topic, encoded["warmup"])
        wait_count(watch, out_topic, expected, proc, 180)
        saturated = Measure(pids=[proc.pid])
        with saturated.run():
            expected += phases["saturated"].distinct_checkpoints
            workload.produce(bootstrap, raw_topic, encoded["saturated"])
            wait_count(watch, out_topic, expected, proc, 900)
        result["saturated"] = {**saturated.rates(args.events), "load_avg_1m": round(os.getloadavg()[0], 2),
                               "canonical_records": phases["saturated"].distinct_checkpoints}
        since = int(time.time() * 1000)
        paced = Measure(pids=[proc.pid])
        with paced.run():
            expected += phases["paced"].distinct_checkpoints
            workload.produce(bootstrap, raw_topic, encoded["paced"], rate=RATE)
            wait_count(watch, out_topic, expected, proc, 300)
        time.sleep(2)  # anything beyond the expected count would be a dedupe failure
        result["extra_records"] = count(watch, out_topic) - expected
        result["paced"] = {**paced.rates(len(encoded["paced"])), "rate": RATE,
                           "load_avg_1m": round(os.getloadavg()[0], 2),
                           "latency_ms": percentiles(latencies_ms(bootstrap, registry, catalog, since))}
    watch.close()
    registry.client.close()
    if kind == "faust":
        result["state"] = state_size(datadir)
    return result


def broker_ack_latency(bootstrap: str) -> dict[str, float]:
    """acks=all latency of a bare idempotent producer at the paced rate, on this broker, now."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5, "compression.type": "lz4"})
    return paced_latency(producer, make_topic(bootstrap), os.urandom(300), rate=RATE, seconds=5)


def profiled(kind: str, out: str) -> None:
    """Run one benchmarked process under pyinstrument (the main thread, event loop included)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    try:
        if kind == "faust":
            from services.status_normalizer.app import run

            run()
        else:
            from bench.normalizer_bare import main as bare

            bare()
    finally:
        profiler.stop()
        Path(out).write_text(profiler.output_text(unicode=False, color=False, show_all=False))


def _row(run: dict[str, Any], ratio: float | None) -> dict[str, Any]:
    sat, paced = run["saturated"], run["paced"]
    return {"events_per_s": sat["events_per_s"], "events_per_cpu_s": sat["events_per_cpu_s"],
            "latency_ms": paced["latency_ms"], "ratio_to_baseline": ratio,
            "rss_mb": max(sat["rss_mb"], paced["rss_mb"]), "saturated": sat, "paced": paced,
            "extra_records": run["extra_records"], **({"state": run["state"]} if "state" in run else {})}


def report(runs: dict[str, dict[str, Any]], broker: dict[str, float], args: argparse.Namespace) -> None:
    bare, faust = runs.get("bare"), runs.get("faust")
    scenarios: dict[str, Any] = {}
    if faust is not None:
        ratio = None
        if bare is not None:
            ratio = round(faust["saturated"]["events_per_cpu_s"] / bare["saturated"]["events_per_cpu_s"], 3)
        scenarios["faust_worker"] = _row(faust, ratio)
    if bare is not None:
        scenarios["bare_loop"] = _row(bare, 1.0)
    baseline = {"name": "bare_loop: confluent-kafka consume -> same Pipeline (dict dedupe) -> produce",
                **(scenarios.get("bare_loop") or {})}
    path = write_result("normalizer" if args.sampled >= 1.0 else "normalizer_sampled", {
        "tracing": "every span recorded" if args.sampled >= 1.0 else f"parentbased_traceidratio {args.sampled}",
        "scenarios": scenarios, "baseline": baseline, f"broker_ack_latency_at_{RATE}_per_s_ms": broker,
        "workload": {"saturated_events": args.events, "paced_events": RATE * args.paced_seconds,
                     "mix": "60% EasyPost webhooks re-sending histories of 1-5 checkpoints, 30% generic, "
                            "10% redeliveries (half same event id, half new)"}})
    for name, row in scenarios.items():
        lat = row["latency_ms"]
        print(f"{name:>13}: {row['events_per_s']:>7,.0f} events/s {row['events_per_cpu_s']:>7,.0f} per CPU-s "
              f"ratio {row['ratio_to_baseline']}  p50/p99 at {RATE:,}/s {lat.get('p50')}/{lat.get('p99')} ms  "
              f"RSS {row['rss_mb']} MB")
    print(f"  broker acks=all p50/p99 at {RATE:,}/s (same run): {broker.get('p50')}/{broker.get('p99')} ms")
    state = scenarios.get("faust_worker", {}).get("state")
    if state:
        print(f"  dedupe state: {state['keys']:,} keys -> {state['bytes_per_million_keys_compacted'] / 1e6:,.1f} MB "
              f"per million keys compacted ({state['bytes_per_million_keys'] / 1e6:,.1f} MB as written)")
    print(f"-> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="raw events in the saturated phase")
    parser.add_argument("--paced-seconds", type=int, default=10)
    parser.add_argument("--only", choices=("faust", "bare"))
    parser.add_argument("--sampled", type=float, default=1.0,
                        help="share of sampled traces (0.1: the chart default), in normalizer_sampled.json")
    parser.add_argument("--profile", type=Path, help="run the processes under pyinstrument, reports in this directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (process logs, RocksDB)")
    parser.add_argument("--profiled", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profiled:
        profiled(*args.profiled)
        return
    tmp = Path(tempfile.mkdtemp(prefix="normalizer-bench-"))
    try:
        runs = {kind: scenario(kind, args, tmp) for kind in ("bare", "faust") if args.only in (None, kind)}
        broker = broker_ack_latency(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    except Exception:
        print(f"failed; logs kept in {tmp}", file=sys.stderr)
        raise
    if args.keep:
        print(f"work directory kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    report(runs, broker, args)


if __name__ == "__main__":
    main()
