"""Monotonic guard, tracing continued from headers, metrics, and throughput at 5 ms target latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from backbone import headers as h
from backbone.ledger import Ledger
from backbone.shutdown import GracefulShutdown
from backbone.sink import SinkRuntime
from backbone.sink.metrics import APPLIED, END_TO_END, LAG
from backbone.telemetry import setup_tracing
from tests.integration.sink.conftest import FakeTarget, SinkEnv, eventually, milestone, stop_runtime

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    setup_tracing("sink-tests", exporter, simple=True)
    yield exporter
    exporter.shutdown()


async def test_monotonic_guard_blocks_a_late_lower_rank(sink_env: SinkEnv) -> None:
    key, retry_key = "ups:1ZLATE", "ups:1ZREDO"
    delivered = milestone(key, "DELIVERED", n=1)
    late = milestone(key, "IN_TRANSIT", n=2)  # arrives after DELIVERED
    returned = milestone(key, "RETURN_TO_SENDER", n=3)  # DELIVERED -> RETURN_* moves forward
    exception = milestone(key, "EXCEPTION", n=4)  # unranked: never overwrites a ranked status
    failed = milestone(retry_key, "DELIVERY_ATTEMPT_FAILED", n=1)
    next_day = milestone(retry_key, "OUT_FOR_DELIVERY", n=2)  # configured regression 85 -> 80
    for rec in (delivered, late, returned, exception, failed, next_day):
        await sink_env.send(rec["shipment_key"], rec)
    target = FakeTarget()
    cfg = sink_env.config(allow_regressions=frozenset({(85, 80)}))
    stop = GracefulShutdown()
    task = sink_env.start(SinkRuntime(cfg, target), stop)
    await eventually(lambda: len(target.calls) == 6, what="all six seen")
    await eventually(lambda: len(target.effects) + len(target.notes) == 6, what="settled")
    await stop_runtime(task, stop)

    assert target.status[key] == ["DELIVERED", "RETURN_TO_SENDER"]  # the status never went backwards
    assert target.status[retry_key] == ["DELIVERY_ATTEMPT_FAILED", "OUT_FOR_DELIVERY"]
    assert sorted(target.notes) == sorted([late["milestone_id"], exception["milestone_id"]])
    verdicts = {c.milestone_id: c.allowed for c in target.calls}
    assert verdicts[late["milestone_id"]] is False and verdicts[next_day["milestone_id"]] is True

    ledger = await Ledger.open(sink_env.stack.database, sink=cfg.sink_name, schema=sink_env.schema, migrate=False)
    try:
        late_row = await ledger.entry(late["milestone_id"])
        assert late_row is not None and late_row.status == "skipped_stale"
        assert late_row.response["guard"] == {"current_rank": 90, "rank": 70}
        assert late_row.response["note"] is True  # the handler still recorded the fact
        assert (await ledger.entry(returned["milestone_id"])).status == "applied"  # type: ignore[union-attr]
        assert await ledger.entity_rank(key) == 95
        assert await ledger.entity_rank(retry_key) == 80
        assert await ledger.counts() == {"applied": 4, "skipped_stale": 2}
    finally:
        await ledger.close()

    # With call_handler_on_stale=False the runtime records the stale fact without calling at all.
    later = milestone(key, "OUT_FOR_DELIVERY", n=5)
    await sink_env.send(key, later)
    quiet = sink_env.config(call_handler_on_stale=False)
    stop2 = GracefulShutdown()
    task2 = sink_env.start(SinkRuntime(quiet, target), stop2)
    ledger = await Ledger.open(sink_env.stack.database, sink=cfg.sink_name, schema=sink_env.schema, migrate=False)
    try:
        for _ in range(200):
            row = await ledger.entry(later["milestone_id"])
            if row is not None and row.status != "in_flight":
                break
            await asyncio.sleep(0.05)
        assert row is not None and row.status == "skipped_stale"
        assert row.attempts == 0
    finally:
        await ledger.close()
    await stop_runtime(task2, stop2)
    assert later["milestone_id"] not in {c.milestone_id for c in target.calls}


async def test_trace_continues_from_headers_and_metrics_move(sink_env: SinkEnv, spans: InMemorySpanExporter) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    rec = milestone("ups:TRACE", "IN_TRANSIT")
    hdrs = [(h.CORRELATION_ID, b"corr-trace"), (h.TRACEPARENT, f"00-{trace_id}-00f067aa0ba902b7-01".encode())]
    await sink_env.send("ups:TRACE", rec, headers=hdrs)
    for k in range(20):
        other = milestone(f"ups:M{k}", "IN_TRANSIT", n=k)
        await sink_env.send(other["shipment_key"], other)
    target = FakeTarget()
    cfg = sink_env.config()
    e2e_before = END_TO_END.labels(cfg.sink_name, "occurred_at")._sum.get()
    stop = GracefulShutdown()
    task = sink_env.start(SinkRuntime(cfg, target), stop)
    await eventually(lambda: len(target.effects) == 21, what="applied")
    await eventually(
        lambda: any(LAG.labels(cfg.sink_name, sink_env.topic, str(p))._value.get() == 0 for p in range(6)),
        within=10,
        what="lag gauge",
    )
    await stop_runtime(task, stop)
    assert APPLIED.labels(cfg.sink_name)._value.get() == 21
    assert END_TO_END.labels(cfg.sink_name, "occurred_at")._sum.get() - e2e_before >= 21 * 5  # produced 5 s "ago"

    ours = [s for s in spans.get_finished_spans() if s.context is not None and f"{s.context.trace_id:032x}" == trace_id]
    names = {s.name: s for s in ours}
    assert f"{cfg.sink_name} process" in names and "fake apply" in names
    assert names[f"{cfg.sink_name} process"].kind is SpanKind.CONSUMER
    call = names["fake apply"]
    assert call.kind is SpanKind.CLIENT
    assert call.parent is not None and call.parent.span_id == names[f"{cfg.sink_name} process"].context.span_id  # type: ignore[union-attr]


@pytest.mark.slow
async def test_throughput_at_5ms_target_latency(sink_env: SinkEnv) -> None:
    total, keys = 6000, 1500
    for n in range(total // keys):
        for k in range(keys):
            rec = milestone(f"ups:T{k:05d}", ["LABEL_CREATED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"][n], n=n)
            sink_env.producer.send_nowait(
                sink_env.topic, sink_env.serde.encode(rec), rec["shipment_key"].encode(), [(h.CORRELATION_ID, b"c")]
            )
    sink_env.producer.flush(30)
    target = FakeTarget(latency=0.005)
    cfg = sink_env.config(concurrency=64, db_pool_max=16, max_buffered=4000)
    stop = GracefulShutdown()
    task = sink_env.start(SinkRuntime(cfg, target), stop)
    await eventually(lambda: len(target.effects) >= 200, what="warm-up")
    started, done_at_start = time.monotonic(), len(target.effects)
    await eventually(lambda: len(target.effects) == total, within=120, what="all applied")
    elapsed = time.monotonic() - started
    await stop_runtime(task, stop)
    rate = (total - done_at_start) / elapsed
    print(f"\nthroughput at 5 ms target latency: {rate:.0f} records/s ({total - done_at_start} in {elapsed:.2f}s)")
    assert target.effect_counts() == {1: total}
    assert all(
        changes == ["LABEL_CREATED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]
        for changes in target.status.values()
    )
    assert rate >= 1000
