"""A simulated Odoo on 127.0.0.1 and a client for each protocol (tests run once per protocol)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from services.odoo_sink.client import Json2Client, JsonRpcClient, make_client
from services.odoo_sink.connection import OdooConnectionConfig
from simulators.odoo import SimulatorConfig
from simulators.odoo.testing import RunningSimulator, running_simulator

KEY = "sink-test-key"
ORDERS = [
    {"order_ref": "S30001", "lines": [{"sku": "MUG-01", "qty": 2}, {"sku": "TEE-M", "qty": 1}],
     "packages": [{"tracking_ref": "1Z999AA10123456784", "carrier": "ups"}]},
    {"order_ref": "S30002", "lines": [{"sku": "MUG-01", "qty": 4, "quantity": 3}],
     "packages": [{"tracking_ref": "JD014600006281230704", "carrier": "dhl"}]},
]


def connection(url: str, protocol: str, **overrides: Any) -> OdooConnectionConfig:
    settings: dict[str, Any] = {"url": url, "api_key": SecretStr(KEY), "protocol": protocol,
                                "connect_timeout_s": 1.0, "read_timeout_s": 1.0, "total_timeout_s": 2.0}
    return OdooConnectionConfig(**{**settings, **overrides})


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """Odoo with the OCA delivery_state module; picking 1 (S30001) is full, picking 2 (S30002) partial."""
    async with running_simulator(SimulatorConfig(api_key=KEY, delivery_state=True)) as running:
        await running.admin("POST", "seed", ORDERS)
        yield running


@pytest.fixture(params=["jsonrpc", "json2"])
async def odoo(request: pytest.FixtureRequest, sim: RunningSimulator) -> AsyncIterator[JsonRpcClient | Json2Client]:
    client = make_client(connection(sim.url, request.param))
    yield client
    await client.close()
