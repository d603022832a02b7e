"""Graceful shutdown: on SIGTERM/SIGINT stop fetching, finish in-flight work, commit, flush, close.

Example::

    stop = GracefulShutdown()
    stop.install()               # in the running event loop
    while not stop.requested:
        ...
    await stop.wait()            # or block until a signal
"""

from __future__ import annotations

import asyncio
import logging
import signal

__all__ = ["GracefulShutdown"]

log = logging.getLogger(__name__)


class GracefulShutdown:
    def __init__(self, deadline: float = 25.0) -> None:
        self.deadline = deadline  # below Kubernetes' default 30 s terminationGracePeriodSeconds
        self._event = asyncio.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, reason: str = "requested") -> None:
        if not self._event.is_set():
            log.info("shutdown requested", extra={"reason": reason})
            self._event.set()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request, sig.name)

    async def wait(self) -> None:
        await self._event.wait()
