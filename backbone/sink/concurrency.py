"""KeyedWorkers: bounded concurrency across keys, strict order within a key.

Each key gets a FIFO queue and at most one running item; at most ``concurrency`` items run at
once over all keys. A slow call for one shipment therefore delays only that shipment's later
records, never everything. A worker that must wait (retry backoff) gives its slot back with
:meth:`KeyedWorkers.released_slot` while keeping its key blocked, so waiting costs no concurrency.

Example::

    async def work(item: Job) -> None: ...

    workers = KeyedWorkers(work, concurrency=32)
    workers.submit(("canonical.shipment-milestones.v1", 3, b"ups:1Z..."), job)
    await workers.wait_for_room(limit=1000)         # back-pressure for the fetch loop
    await workers.join()
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["KeyedWorkers"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Slot:
    held: bool = False


_slot: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("keyed_workers_slot", default=None)


class KeyedWorkers(Generic[T]):
    """Runs ``work(item)`` for submitted items; ``work`` handles its own errors (exceptions are logged)."""

    def __init__(self, work: Callable[[T], Awaitable[None]], *, concurrency: int, name: str = "workers") -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.name = name
        self._work = work
        self._slots = asyncio.Semaphore(concurrency)
        self._queues: dict[Hashable, deque[T]] = {}
        self._runners: dict[Hashable, asyncio.Task[None]] = {}
        self._current: dict[Hashable, T] = {}
        self._count = 0
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        """Items queued or running."""
        return self._count

    def queued(self, key: Hashable) -> int:
        """Items of ``key`` waiting behind the one running."""
        queue = self._queues.get(key)
        return 0 if queue is None else len(queue)

    @property
    def running(self) -> list[T]:
        return list(self._current.values())

    def submit(self, key: Hashable, item: T) -> None:
        self._queues.setdefault(key, deque()).append(item)
        self._count += 1
        if key not in self._runners:
            self._runners[key] = asyncio.get_running_loop().create_task(self._run(key), name=f"{self.name}:{key!r}")

    async def _run(self, key: Hashable) -> None:
        queue = self._queues[key]
        slot = _Slot()
        _slot.set(slot)
        try:
            while queue:
                await self._slots.acquire()
                slot.held = True
                item = queue.popleft()
                self._current[key] = item
                try:
                    await self._work(item)
                except Exception:
                    log.exception("worker failed", extra={"consumer": self.name})
                finally:
                    del self._current[key]
                    self._done_one()
                    if slot.held:
                        slot.held = False
                        self._slots.release()
        finally:
            if slot.held:
                self._slots.release()
            self._runners.pop(key, None)
            if not queue:
                self._queues.pop(key, None)

    def _done_one(self, n: int = 1) -> None:
        self._count -= n
        self._changed.set()
        self._changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def released_slot(self) -> AsyncIterator[None]:
        """Inside a running item: give the concurrency slot back while waiting (key stays blocked)."""
        slot = _slot.get()
        if slot is None or not slot.held:
            yield
            return
        slot.held = False
        self._slots.release()
        try:
            yield
        finally:
            # If cancelled while re-acquiring, held stays False and nothing is released twice.
            await self._slots.acquire()
            slot.held = True

    async def wait_for_room(self, limit: int) -> None:
        """Block while ``limit`` or more items are queued or running."""
        while self._count >= limit:
            await self._changed.wait()

    async def join(self, within: float | None = None) -> bool:
        """Wait until nothing is queued or running; False when ``within`` seconds pass first."""
        return await self.wait_until(lambda: self._count == 0, within)

    async def wait_until(self, predicate: Callable[[], bool], within: float | None = None) -> bool:
        """Wait, re-checking whenever an item finishes, until ``predicate()``; False after ``within`` s."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            # Wake on every finished item, and re-check now and then for state the items change
            # themselves (a running item that starts waiting).
            poll = 0.05 if remaining is None else min(remaining, 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), poll)
        return True

    def drop_queued(self, select: Callable[[T], bool]) -> list[T]:
        """Remove items not yet started that match ``select`` (revoked partitions, shutdown)."""
        dropped: list[T] = []
        for queue in self._queues.values():
            keep = [item for item in queue if not select(item)]
            if len(keep) != len(queue):
                dropped.extend(item for item in queue if select(item))
                queue.clear()
                queue.extend(keep)
        if dropped:
            self._done_one(len(dropped))
        return dropped

    def is_running(self, select: Callable[[T], bool]) -> bool:
        return any(select(item) for item in self._current.values())

    async def cancel_running(self, select: Callable[[T], bool]) -> list[T]:
        """Cancel the running items matching ``select`` (and wait until they have unwound)."""
        victims = [(key, item) for key, item in self._current.items() if select(item)]
        tasks = [self._runners[key] for key, _ in victims if key in self._runners]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # Later items of a cancelled key that were not dropped still deserve a runner.
        loop = asyncio.get_running_loop()
        for key, queue in self._queues.items():
            if queue and key not in self._runners:
                self._runners[key] = loop.create_task(self._run(key), name=f"{self.name}:{key!r}")
        return [item for _, item in victims]

    async def close(self) -> None:
        """Cancel everything (queued items are dropped)."""
        self.drop_queued(lambda _: True)
        tasks = list(self._runners.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
