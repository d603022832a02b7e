"""CommitPipeline, InFlightWrites and PendingStore: order, back-pressure, failure, read-through."""

from __future__ import annotations

import asyncio

import pytest

from services.status_normalizer.commit_pipeline import CommitPipeline, InFlightWrites, PendingStore


class _Table:
    def __init__(self, data: dict[int, dict[str, str]]) -> None:
        self.data = data
        self.partition = 0

    def route(self, partition: int) -> None:
        self.partition = partition

    def get(self, key: str) -> str | None:
        return self.data.get(self.partition, {}).get(key)

    def set(self, key: str, value: str) -> None:
        raise AssertionError("never written through")


def test_pending_store_reads_in_flight_writes_of_its_partition_before_the_table() -> None:
    in_flight = InFlightWrites()
    store = PendingStore(in_flight, _Table({0: {"a": "table"}, 1: {"b": "table-1"}}))
    in_flight.add(1, 0, {"a": "batch-1", "c": "batch-1"})
    store.route(0)
    assert (store.get("a"), store.get("c"), store.get("b")) == ("batch-1", "batch-1", None)
    store.route(1)
    assert (store.get("a"), store.get("b")) == (None, "table-1")


def test_release_keeps_a_key_a_later_batch_rewrote() -> None:
    in_flight = InFlightWrites()
    in_flight.add(1, 0, {"a": "1", "b": "1"})
    in_flight.add(2, 0, {"b": "2"})
    in_flight.release(1, 0, {"a": "1", "b": "1"})
    assert (in_flight.get(0, "a"), in_flight.get(0, "b"), len(in_flight)) == (None, "2", 1)
    in_flight.release(2, 0, {"b": "2"})
    assert len(in_flight) == 0


def test_pending_store_refuses_direct_writes() -> None:
    with pytest.raises(TypeError):
        PendingStore(InFlightWrites(), _Table({})).set("a", "1")


async def _never(exc: BaseException) -> None:
    raise AssertionError(f"unexpected failure {exc!r}")


async def test_completions_run_one_at_a_time_in_submission_order() -> None:
    ran: list[int] = []
    running = 0
    pipeline = CommitPipeline(depth=3, on_error=_never)

    def completion(n: int, delay: float) -> object:
        async def complete() -> None:
            nonlocal running
            running += 1
            assert running == 1
            await asyncio.sleep(delay)
            ran.append(n)
            running -= 1

        return complete

    for n, delay in enumerate([0.03, 0.0, 0.02, 0.0, 0.01]):
        await pipeline.submit(completion(n, delay))  # type: ignore[arg-type]
    assert await pipeline.drain()
    assert ran == [0, 1, 2, 3, 4]
    await pipeline.close()


async def test_submit_waits_while_depth_completions_are_outstanding() -> None:
    release = asyncio.Event()

    async def blocked() -> None:
        await release.wait()

    pipeline = CommitPipeline(depth=2, on_error=_never)
    await pipeline.submit(blocked)  # taken by the runner
    await asyncio.sleep(0)
    await pipeline.submit(blocked)
    await pipeline.submit(blocked)  # queue full now
    fourth = asyncio.ensure_future(pipeline.submit(blocked))
    await asyncio.sleep(0.02)
    assert not fourth.done()
    release.set()
    await asyncio.wait_for(fourth, 1)
    assert await pipeline.drain()
    await pipeline.close()


async def test_a_failed_completion_stops_later_ones_and_is_raised_to_the_next_submit() -> None:
    failures: list[BaseException] = []
    ran: list[str] = []

    async def on_error(exc: BaseException) -> None:
        failures.append(exc)

    async def ok() -> None:
        ran.append("ok")

    async def broken() -> None:
        raise RuntimeError("delivery failed")

    pipeline = CommitPipeline(depth=4, on_error=on_error)
    await pipeline.submit(ok)
    await pipeline.submit(broken)
    await pipeline.submit(ok)  # must never run: its raw events stay unacked
    await asyncio.sleep(0.05)
    assert ran == ["ok"]
    assert [str(f) for f in failures] == ["delivery failed"]
    assert not await pipeline.drain()
    with pytest.raises(RuntimeError, match="delivery failed"):
        await pipeline.submit(ok)
    await pipeline.close()
