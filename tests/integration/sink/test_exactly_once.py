"""Exactly-once effects over at-least-once delivery: replay, crash, rebalance, graceful shutdown."""

from __future__ import annotations

import asyncio

import pytest

from backbone.shutdown import GracefulShutdown
from backbone.sink import SinkRuntime
from backbone.sink.metrics import SKIPPED
from tests.integration.sink.conftest import (
    FakeTarget,
    SinkEnv,
    assert_committed_to_end,
    eventually,
    milestone,
    stop_runtime,
)

pytestmark = pytest.mark.integration

CODES = ["LABEL_CREATED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]


async def produce(env: SinkEnv, keys: int, per_key: int = 4) -> list[str]:
    ids: list[str] = []
    for n in range(per_key):
        for k in range(keys):
            rec = milestone(f"ups:1Z{k:04d}", CODES[n % len(CODES)], n=n)
            ids.append(rec["milestone_id"])
            await env.send(rec["shipment_key"], rec)
    return ids


def skipped(sink: str, reason: str) -> float:
    return SKIPPED.labels(sink, reason)._value.get()


async def test_replay_from_offset_zero_skips_everything_applied(sink_env: SinkEnv) -> None:
    ids = await produce(sink_env, keys=30)
    target = FakeTarget()
    cfg = sink_env.config()
    stop = GracefulShutdown()
    task = sink_env.start(SinkRuntime(cfg, target), stop)
    await eventually(lambda: len(target.effects) == len(ids), what="first pass applied")
    await stop_runtime(task, stop)
    assert target.effect_counts() == {1: 120}
    # Per-key order reached the target: every shipment went LABEL_CREATED -> ... -> DELIVERED.
    assert all(changes == CODES for changes in target.status.values())
    assert_committed_to_end(sink_env, cfg.consumer_group)

    # A new consumer group replays from offset 0 against the same ledger: nothing reaches the target.
    before = skipped(cfg.sink_name, "duplicate")
    replay_cfg = sink_env.config(group_id=f"replay-{sink_env.unique}")
    stop2 = GracefulShutdown()
    task2 = sink_env.start(SinkRuntime(replay_cfg, target), stop2)
    await eventually(lambda: skipped(cfg.sink_name, "duplicate") - before == 120, what="replay skipped")
    await stop_runtime(task2, stop2)
    assert len(target.calls) == 120
    assert target.effect_counts() == {1: 120}

    # --force-reapply re-sends: the guard keeps the target at DELIVERED, earlier facts become notes.
    force_cfg = sink_env.config(group_id=f"force-{sink_env.unique}", force_reapply=True)
    stop3 = GracefulShutdown()
    runtime3 = SinkRuntime(force_cfg, target)
    task3 = sink_env.start(runtime3, stop3)
    await eventually(lambda: len(target.calls) == 240, what="force re-apply")
    await eventually(lambda: len(runtime3.workers) == 0, what="force re-apply settled")
    await stop_runtime(task3, stop3)
    assert all(call.reapply for call in target.calls[120:])
    assert len(target.notes) == 90  # 3 of 4 codes per shipment are behind DELIVERED
    assert target.effect_counts() == {1: 90, 2: 30}  # DELIVERED re-sent once per shipment


async def test_crash_without_commit_then_restart_gives_one_effect_per_record(sink_env: SinkEnv) -> None:
    ids = await produce(sink_env, keys=50)
    target = FakeTarget(latency=0.02)
    cfg = sink_env.config(concurrency=8, commit_interval=3600)  # nothing committed before the crash
    stop = GracefulShutdown()
    task = sink_env.start(SinkRuntime(cfg, target), stop)
    await eventually(lambda: len(target.effects) >= 80, what="some progress")
    # Calls from now on take effect and never answer, so the crash surely cuts one mid-way: its
    # ledger row stays in flight and the restart must reconcile it (a 20 ms call finishing in the
    # same loop turn as the crash made this depend on timer order).
    target.hold = asyncio.Event()
    await eventually(lambda: target.held > 0, what="a call that took effect and did not answer")
    task.cancel()  # crash: in-flight calls die mid-way, no commit
    with pytest.raises(asyncio.CancelledError):
        await task
    crashed_with = len(target.effects)
    assert crashed_with < len(ids)
    assert sink_env.committed(cfg.consumer_group) == dict.fromkeys(range(6), -1001)  # OFFSET_INVALID

    target.hold = None
    before = skipped(cfg.sink_name, "duplicate")
    stop2 = GracefulShutdown()
    task2 = sink_env.start(SinkRuntime(cfg, target), stop2)
    await eventually(lambda: len(target.effects) == len(ids), what="all applied after restart")
    await stop_runtime(task2, stop2)
    assert target.effect_counts() == {1: len(ids)}  # none lost, none doubled
    assert set(target.effects) == set(ids)
    # Redelivered records the ledger had settled were skipped; calls cut mid-way were reconciled.
    assert skipped(cfg.sink_name, "duplicate") - before >= crashed_with - cfg.concurrency
    assert target.reconciled, "an in-flight call at crash time must be reconciled, not re-applied"
    assert_committed_to_end(sink_env, cfg.consumer_group)


async def test_rebalance_mid_stream_loses_and_doubles_nothing(sink_env: SinkEnv) -> None:
    ids = await produce(sink_env, keys=60, per_key=4)
    target_a = FakeTarget(latency=0.05)
    # Same target state, separate call logs: proves both members did work.
    target_b = FakeTarget(
        latency=0.05, effects=target_a.effects, status=target_a.status, reconciled=target_a.reconciled
    )
    cfg = sink_env.config(concurrency=2, revoke_timeout=5)
    stop_a, stop_b = GracefulShutdown(), GracefulShutdown()
    task_a = sink_env.start(SinkRuntime(cfg, target_a), stop_a)
    await eventually(lambda: len(target_a.effects) >= 10, what="A makes progress")
    runtime_b = SinkRuntime(cfg, target_b)
    task_b = sink_env.start(runtime_b, stop_b)
    await eventually(lambda: len(runtime_b.partitions) > 0, what="B gets partitions")
    assert len(target_a.effects) < len(ids)
    await stop_runtime(task_a, stop_a)  # A leaves: its partitions move to B
    await eventually(lambda: len(target_a.effects) == len(ids), within=60, what="all applied")
    await stop_runtime(task_b, stop_b)
    assert target_a.effect_counts() == {1: len(ids)}
    assert target_a.calls and target_b.calls
    assert_committed_to_end(sink_env, cfg.consumer_group)


async def test_graceful_shutdown_finishes_in_flight_and_commits_it(sink_env: SinkEnv) -> None:
    ids = await produce(sink_env, keys=40, per_key=2)
    target = FakeTarget(latency=0.2)
    cfg = sink_env.config(concurrency=4, commit_interval=3600)
    stop = GracefulShutdown(deadline=10)
    runtime = SinkRuntime(cfg, target)
    task = sink_env.start(runtime, stop)
    await eventually(lambda: len(target.calls) >= 6, what="calls in flight")
    stop.request("test")
    await asyncio.wait_for(task, 15)
    assert not target.reconciled
    counts = await _ledger_counts(sink_env, cfg.sink_name)
    # Every call that had started finished and was recorded; nothing is left in flight.
    assert counts == {"applied": len(target.calls)}
    assert len(target.calls) >= 6
    # The commit covers only settled records: each partition's committed offset is a done prefix.
    committed = sink_env.committed(cfg.consumer_group)
    applied_offsets: dict[int, set[int]] = {}
    for call in target.calls:
        applied_offsets.setdefault(call.partition, set()).add(call.offset)
    assert any(o > 0 for o in committed.values())
    for partition, offset in committed.items():
        assert set(range(max(offset, 0))) <= applied_offsets.get(partition, set())

    stop2 = GracefulShutdown()
    task2 = sink_env.start(SinkRuntime(sink_env.config(concurrency=16), target), stop2)
    await eventually(lambda: len(target.effects) == len(ids), what="rest applied after restart")
    await stop_runtime(task2, stop2)
    assert target.effect_counts() == {1: len(ids)}


async def _ledger_counts(env: SinkEnv, sink: str) -> dict[str, int]:
    from backbone.ledger import Ledger

    ledger = await Ledger.open(env.stack.database, sink=sink, schema=env.schema, max_size=1, migrate=False)
    try:
        return await ledger.counts()
    finally:
        await ledger.close()
