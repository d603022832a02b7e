"""A local webhook endpoint that records what it receives: the ingest stand-in for tests and demos."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["Received", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes


class WebhookReceiver:
    """Records every POST; answers the next ``fail_next`` requests with ``fail_status``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refused = 0
        self.fail_next = 0
        self.fail_status = 500
        self._arrived = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_next > 0:
            self.fail_next -= 1
            self.refused += 1
            return web.Response(status=self.fail_status, text="simulated receiver failure")
        self.received.append(Received(request.path, CIMultiDictProxy(CIMultiDict(request.headers)), body))
        self._arrived.set()
        return web.Response(status=202, text="accepted")

    async def wait_for(self, count: int, within_s: float = 5.0) -> list[Received]:
        """Wait until at least ``count`` deliveries arrived; raises TimeoutError otherwise."""
        async with asyncio.timeout(within_s):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return list(self.received)
