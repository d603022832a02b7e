"""Run the simulator inside a test: ``async with running_simulator(config) as sim: ...``.

Uses aiohttp's own ``TestServer`` on 127.0.0.1 and a random port, so tests need no fixed port and
no pytest-aiohttp. ``sim.url`` is the base URL to give a client; ``sim.state`` the live simulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from simulators.odoo.app import SIMULATOR, create_app
from simulators.odoo.config import SimulatorConfig
from simulators.odoo.dispatch import Simulator

__all__ = ["RunningSimulator", "running_simulator"]


@dataclass
class RunningSimulator:
    url: str
    state: Simulator
    session: aiohttp.ClientSession

    async def admin(self, method: str, path: str, payload: Any = None) -> Any:
        """Call the ``/_sim`` admin API; raises on a non-2xx answer."""
        async with self.session.request(method, f"{self.url}/_sim/{path}", json=payload) as response:
            response.raise_for_status()
            return await response.json()

    async def faults(self, **faults: Any) -> Any:
        return await self.admin("POST", "faults", faults)

    async def calls(self, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        result = await self.admin("GET", f"calls?{query}" if query else "calls")
        calls: list[dict[str, Any]] = result["calls"]
        return calls


@asynccontextmanager
async def running_simulator(config: SimulatorConfig | None = None) -> AsyncIterator[RunningSimulator]:
    app = create_app(config)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield RunningSimulator(str(server.make_url("")).rstrip("/"), app[SIMULATOR], session)
    finally:
        await server.close()
