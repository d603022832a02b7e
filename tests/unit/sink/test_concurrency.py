from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest

from backbone.sink.concurrency import KeyedWorkers


@dataclass
class Item:
    key: str
    seq: int
    delay: float = 0.0


class Recorder:
    def __init__(self) -> None:
        self.order: dict[str, list[int]] = {}
        self.running = 0
        self.peak = 0

    async def work(self, item: Item) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(item.delay)
            self.order.setdefault(item.key, []).append(item.seq)
        finally:
            self.running -= 1


async def test_keeps_per_key_order_with_bounded_concurrency() -> None:
    rng = random.Random(42)
    rec = Recorder()
    workers: KeyedWorkers[Item] = KeyedWorkers(rec.work, concurrency=8)
    expected: dict[str, list[int]] = {}
    for seq in range(400):
        key = f"k{rng.randrange(40)}"
        expected.setdefault(key, []).append(seq)
        workers.submit(key, Item(key, seq, rng.uniform(0, 0.004)))
    assert len(workers) == 400
    assert await workers.join(within=10)
    assert rec.order == expected
    assert rec.peak == 8  # concurrency was used and never exceeded
    assert len(workers) == 0


async def test_slow_key_does_not_block_other_keys() -> None:
    rec = Recorder()
    workers: KeyedWorkers[Item] = KeyedWorkers(rec.work, concurrency=4)
    workers.submit("slow", Item("slow", 0, 0.5))
    workers.submit("slow", Item("slow", 1, 0.0))
    for i in range(50):
        workers.submit(f"fast{i}", Item(f"fast{i}", i, 0.001))
    await asyncio.sleep(0.2)
    assert sum(len(v) for k, v in rec.order.items() if k.startswith("fast")) == 50
    assert "slow" not in rec.order
    assert await workers.join(within=2)
    assert rec.order["slow"] == [0, 1]


async def test_released_slot_lets_others_run_while_key_stays_blocked() -> None:
    done: list[str] = []
    gate = asyncio.Event()
    workers: KeyedWorkers[Item] = KeyedWorkers(lambda item: work(item), concurrency=1)

    async def work(item: Item) -> None:
        if item.key == "a" and item.seq == 0:
            async with workers.released_slot():
                await gate.wait()
        done.append(f"{item.key}{item.seq}")

    workers.submit("a", Item("a", 0))
    workers.submit("a", Item("a", 1))
    workers.submit("b", Item("b", 0))
    await asyncio.sleep(0.05)
    assert done == ["b0"]  # b ran on the slot a gave back; a1 still waits behind a0
    gate.set()
    assert await workers.join(within=1)
    assert done == ["b0", "a0", "a1"]


async def test_back_pressure_and_drop_and_cancel() -> None:
    started = asyncio.Event()
    cancelled: list[int] = []

    async def work(item: Item) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(item.seq)
            raise

    workers: KeyedWorkers[Item] = KeyedWorkers(work, concurrency=2)
    for seq in range(6):
        workers.submit(f"k{seq % 3}", Item(f"k{seq % 3}", seq))
    await started.wait()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(workers.wait_for_room(limit=6), 0.05)
    dropped = workers.drop_queued(lambda item: item.key == "k2")
    assert [i.seq for i in dropped] == [2, 5]
    assert len(workers) == 4
    await asyncio.wait_for(workers.wait_for_room(limit=5), 0.1)
    victims = await workers.cancel_running(lambda item: item.key == "k0")
    assert [v.seq for v in victims] == [0]
    assert cancelled == [0]
    await asyncio.sleep(0.01)
    assert {i.seq for i in workers.running} == {1, 3}  # k0's next item got a runner and a slot
    await workers.close()
    assert len(workers) == 0
    assert not await workers.wait_until(lambda: False, within=0.01)


async def test_failing_work_is_logged_and_does_not_stop_the_key(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    async def work(item: Item) -> None:
        seen.append(item.seq)
        if item.seq == 0:
            raise RuntimeError("boom")

    workers: KeyedWorkers[Item] = KeyedWorkers(work, concurrency=1)
    workers.submit("k", Item("k", 0))
    workers.submit("k", Item("k", 1))
    assert await workers.join(within=1)
    assert seen == [0, 1]
    assert "worker failed" in caplog.text


def test_invalid_concurrency() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        KeyedWorkers(Recorder().work, concurrency=0)
