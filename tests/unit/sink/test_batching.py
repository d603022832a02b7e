from __future__ import annotations

import asyncio

import pytest

from backbone.batching import MicroBatcher


class Store:
    def __init__(self, delay: float = 0.01) -> None:
        self.batches: list[list[tuple[str, int]]] = []
        self.delay = delay
        self.fail_next = False

    async def run(self, items: list[tuple[str, int]]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("db down")
        return [value * 10 for _, value in items]


async def test_concurrent_submits_share_batches_and_get_their_own_result() -> None:
    store = Store()
    batcher = MicroBatcher(store.run, max_batch=50, parallel=2, conflict_keys=lambda item: (item[0],))
    results = await asyncio.gather(*(batcher.submit((f"k{i}", i)) for i in range(200)))
    assert results == [i * 10 for i in range(200)]
    assert len(store.batches) < 20  # natural batching under load
    assert max(len(b) for b in store.batches) <= 50
    await batcher.close()


async def test_same_key_never_shares_or_overlaps_a_batch_and_keeps_order() -> None:
    store = Store()
    running: set[str] = set()
    overlaps: list[str] = []

    async def run(items: list[tuple[str, int]]) -> list[int]:
        keys = {k for k, _ in items}
        overlaps.extend(keys & running)
        running.update(keys)
        try:
            return await store.run(items)
        finally:
            running.difference_update(keys)

    batcher = MicroBatcher(run, max_batch=100, parallel=3, conflict_keys=lambda item: (item[0],))
    await asyncio.gather(
        *(batcher.submit(("same", i)) for i in range(5)), *(batcher.submit((f"o{i}", i)) for i in range(20))
    )
    assert overlaps == []
    for batch in store.batches:
        assert [k for k, _ in batch].count("same") <= 1
    same_order = [v for b in store.batches for k, v in b if k == "same"]
    assert same_order == [0, 1, 2, 3, 4]
    await batcher.close()


async def test_a_failed_batch_fails_each_caller_and_the_next_batch_works() -> None:
    store = Store()
    batcher = MicroBatcher(store.run, max_batch=10, parallel=1)
    store.fail_next = True
    outcomes = await asyncio.gather(*(batcher.submit(("k", i)) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert await batcher.submit(("k", 4)) == 40
    await batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.submit(("k", 5))


async def test_cancelled_caller_is_skipped() -> None:
    store = Store(delay=0.05)
    batcher = MicroBatcher(store.run, max_batch=10, parallel=1)
    first = asyncio.create_task(batcher.submit(("a", 1)))
    await asyncio.sleep(0.01)  # first batch is running
    doomed = asyncio.create_task(batcher.submit(("b", 2)))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await batcher.submit(("c", 3)) == 30
    assert await first == 10
    assert [k for b in store.batches for k, _ in b] == ["a", "c"]
    await batcher.close()


def test_invalid() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MicroBatcher(Store().run, max_batch=0)
