"""A small aiohttp server for probes and scraping: ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz`` answers 200 while the event loop runs (liveness). ``/readyz`` answers 200 only when
the check says ready (for a sink: consumer connected, breaker not open, credentials accepted) and
503 with the reasons otherwise. ``/metrics`` is the Prometheus text format of the default registry.

Example::

    server = HealthServer(lambda: (True, {"kafka": "ok"}), host="0.0.0.0", port=8080)
    port = await server.start()        # port=0 binds any free port and returns it
    ...
    await server.stop()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

__all__ = ["HealthServer", "ReadyCheck"]

ReadyCheck = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer:
    def __init__(self, ready: ReadyCheck, *, host: str = "0.0.0.0", port: int = 8080) -> None:
        self._ready = ready
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        ready, details = self._ready()
        return web.json_response({"status": "ready" if ready else "not ready", **details}, status=200 if ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> int:
        """Serve in the running loop; returns the bound port."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
