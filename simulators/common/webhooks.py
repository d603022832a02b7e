"""Outbound webhook delivery with retries, as partner platforms do it.

Deliveries go out one at a time in the order they were produced (a single worker), each retried
with exponential backoff until a 2xx or ``attempts`` run out. A signer is called per attempt so
schemes with a timestamp (Standard Webhooks) sign each attempt afresh, keeping the message id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from simulators.common.faults import Faults
from simulators.common.http import hex_id, iso, utcnow

__all__ = ["Delivery", "Signer", "WebhookSender"]

Signer = Callable[[bytes], Mapping[str, str]]


@dataclass
class Delivery:
    kind: str
    body: bytes
    sign: Signer
    id: str = field(default_factory=lambda: hex_id("dlv"))
    status: str = "pending"  # pending | delivered | failed | dropped | no_url
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    created_at: str = field(default_factory=lambda: iso(utcnow()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "status": self.status, "attempts": self.attempts,
            "last_status": self.last_status, "last_error": self.last_error, "created_at": self.created_at,
            "body": self.body.decode(errors="replace"),
        }


class WebhookSender:
    def __init__(self, url: str | None, faults: Callable[[], Faults], *, user_agent: str,
                 attempts: int = 5, backoff_s: float = 0.5, timeout_s: float = 5.0) -> None:
        self.url = url
        self.deliveries: deque[Delivery] = deque(maxlen=10_000)  # bounded log for /_sim/state
        self._faults = faults
        self._user_agent = user_agent
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._worker = asyncio.create_task(self._run(), name="webhook-sender")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._session is not None:
            await self._session.close()

    def send(self, kind: str, body: bytes, sign: Signer) -> Delivery:
        """Queue one webhook; it is lost on purpose when a ``drop_webhooks`` fault is pending."""
        delivery = Delivery(kind=kind, body=body, sign=sign)
        self.deliveries.append(delivery)
        if self.url is None:
            delivery.status = "no_url"
        elif self._faults().take_drop():
            delivery.status = "dropped"
        else:
            self._queue.put_nowait(delivery)
        return delivery

    async def drain(self, within_s: float = 10.0) -> None:
        """Wait until every queued delivery was delivered or gave up (tests and demos)."""
        await asyncio.wait_for(self._queue.join(), within_s)

    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._deliver(delivery)
            finally:
                self._queue.task_done()

    async def _deliver(self, delivery: Delivery) -> None:
        assert self._session is not None
        for attempt in range(1, self._attempts + 1):
            delivery.attempts = attempt
            url = self.url
            if url is None:
                delivery.status = "no_url"
                return
            headers = {"Content-Type": "application/json", "User-Agent": self._user_agent,
                       **delivery.sign(delivery.body)}
            try:
                async with self._session.post(url, data=delivery.body, headers=headers) as response:
                    delivery.last_status = response.status
                    delivery.last_error = None
                    if 200 <= response.status < 300:
                        delivery.status = "delivered"
                        return
            except (aiohttp.ClientError, TimeoutError) as exc:
                delivery.last_error = type(exc).__name__
            if attempt < self._attempts:
                await asyncio.sleep(min(self._backoff_s * 2 ** (attempt - 1), 60.0))
        delivery.status = "failed"
