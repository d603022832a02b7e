from __future__ import annotations

from typing import Any

import aiohttp

import backbone.sink.metrics  # noqa: F401 - registers the sink metrics
from backbone.sink.health import HealthServer


async def test_endpoints_reflect_readiness() -> None:
    state: dict[str, Any] = {"ready": False}
    server = HealthServer(lambda: (bool(state["ready"]), {"breaker": "open"}), host="127.0.0.1", port=0)
    port = await server.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/healthz") as r:
                assert r.status == 200
            async with http.get("/readyz") as r:
                assert r.status == 503
                assert (await r.json())["breaker"] == "open"
            state["ready"] = True
            async with http.get("/readyz") as r:
                assert r.status == 200
            async with http.get("/metrics") as r:
                assert r.status == 200
                assert "backbone_sink_applied_total" in await r.text()
    finally:
        await server.stop()
