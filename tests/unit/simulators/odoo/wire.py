"""Raw protocol calls against the simulator, without the odoo_sink client (tests its wire shapes)."""

from __future__ import annotations

import json
from typing import Any

from simulators.odoo.testing import RunningSimulator

KEY = "test-key"
DB = "backbone"
UID = 2


async def jsonrpc(sim: RunningSimulator, service: str, method: str, *args: Any) -> tuple[int, dict[str, Any]]:
    payload = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": list(args)},
               "id": 7}
    async with sim.session.post(f"{sim.url}/jsonrpc", json=payload) as response:
        return response.status, await response.json()


async def execute_kw(sim: RunningSimulator, model: str, method: str, args: list[Any],
                     kwargs: dict[str, Any] | None = None, *, key: str = KEY) -> dict[str, Any]:
    status, body = await jsonrpc(sim, "object", "execute_kw", DB, UID, key, model, method, args, kwargs or {})
    assert status == 200  # JSON-RPC answers 200 even for errors
    return body


async def json2(sim: RunningSimulator, model: str, method: str, body: Any = None, *, key: str | None = KEY,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    sent = {"Authorization": f"bearer {key}"} if key is not None else {}
    sent.update(headers or {})
    async with sim.session.post(f"{sim.url}/json/2/{model}/{method}", json=body if body is not None else {},
                                headers=sent) as response:
        text = await response.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = text  # proxy-style HTML answers (error_rate faults)
        return response.status, body, dict(response.headers)
