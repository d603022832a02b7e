"""Deterministic time for asyncio tests of throttlers and pacers (no real sleeping)."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VirtualTime:
    """Deterministic time for asyncio code: sleeps park until ``run`` advances the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + delay, next(self._seq), future))
        await future

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def run(self, tasks: list[asyncio.Task[None]]) -> None:
        await self.settle()
        while not all(t.done() for t in tasks):
            assert self._sleepers, "deadlock: tasks wait but nobody sleeps"
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)
            await self.settle()
