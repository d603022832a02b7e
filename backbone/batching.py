"""MicroBatcher: many concurrent single-item awaits, executed as a few multi-item round trips.

Callers ``await batcher.submit(item)`` as if each item had its own round trip. ``parallel``
flusher tasks each take whatever is pending (up to ``max_batch``) and run it as one batch, so
batches grow with load and an idle system still answers in one round trip (natural batching, no
timer). Items sharing any of their ``conflict_keys`` never run in the same or in concurrent
batches (a multi-row upsert may not touch one row twice); the later one waits for the next batch,
keeping submission order per key.

Example::

    async def write(rows: list[Row]) -> list[int]:      # one multi-row INSERT ... SELECT
        ...

    batcher = MicroBatcher(write, max_batch=500, parallel=3, conflict_keys=lambda r: (r.id,))
    row_id = await batcher.submit(row)
    await batcher.close()
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

__all__ = ["MicroBatcher"]

I = TypeVar("I")  # noqa: E741 - item
O = TypeVar("O")  # noqa: E741 - result


class MicroBatcher(Generic[I, O]):
    def __init__(
        self,
        run: Callable[[list[I]], Awaitable[Sequence[O]]],
        *,
        max_batch: int = 500,
        parallel: int = 2,
        conflict_keys: Callable[[I], Iterable[Hashable]] | None = None,
        name: str = "batcher",
    ) -> None:
        if max_batch < 1 or parallel < 1:
            raise ValueError("max_batch and parallel must be at least 1")
        self._run = run
        self.max_batch = max_batch
        self.parallel = parallel
        self._conflict_keys = conflict_keys
        self.name = name
        self._pending: deque[tuple[I, asyncio.Future[O]]] = deque()
        self._busy_keys: set[Hashable] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.batches = 0  # statistics for tests and tuning
        self.items = 0

    async def submit(self, item: I) -> O:
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[O] = loop.create_future()
        self._pending.append((item, future))
        if not self._tasks:
            self._tasks = [loop.create_task(self._flusher(), name=f"{self.name}-{i}") for i in range(self.parallel)]
        self._wake.set()
        return await future

    def _take(self) -> list[tuple[I, asyncio.Future[O]]]:
        batch: list[tuple[I, asyncio.Future[O]]] = []
        keys: set[Hashable] = set()
        deferred: list[tuple[I, asyncio.Future[O]]] = []
        while self._pending and len(batch) < self.max_batch:
            item, future = self._pending.popleft()
            if future.done():  # the caller was cancelled before we got to it
                continue
            if self._conflict_keys is not None:
                mine = set(self._conflict_keys(item))
                if mine & keys or mine & self._busy_keys:
                    deferred.append((item, future))
                    continue
                keys |= mine
            batch.append((item, future))
        self._pending.extendleft(reversed(deferred))
        self._busy_keys |= keys
        return batch

    async def _flusher(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            items = [item for item, _ in batch]
            try:
                results = await self._run(items)
                if len(results) != len(items):
                    raise RuntimeError(f"{self.name}: batch returned {len(results)} results for {len(items)} items")
            except asyncio.CancelledError:
                for _, future in batch:
                    if not future.done():
                        future.cancel()
                raise
            except Exception as exc:  # every caller of the batch sees the failure and decides
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
            finally:
                if self._conflict_keys is not None:
                    for item in items:
                        self._busy_keys.difference_update(self._conflict_keys(item))
                self.batches += 1
                self.items += len(items)
                if self._pending:
                    self._wake.set()  # deferred items may be runnable now

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.cancel()
