from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simulators.odoo import SimulatorConfig
from simulators.odoo.testing import RunningSimulator, running_simulator
from tests.unit.simulators.odoo.wire import KEY

ORDERS = [
    {"order_ref": "S10001", "lines": [{"sku": "MUG-01", "qty": 2}, {"sku": "TEE-M", "qty": 1}],
     "packages": [{"tracking_ref": "1Z999AA10123456784", "carrier": "ups"}]},
    {"order_ref": "S10002", "lines": [{"sku": "MUG-01", "qty": 4, "quantity": 3}],
     "packages": [{"tracking_ref": "JD014600006281230704", "carrier": "dhl"}]},
]


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """The simulator with the OCA delivery_state module and two seeded orders (S10001 full, S10002 partial)."""
    async with running_simulator(SimulatorConfig(api_key=KEY, delivery_state=True)) as running:
        await running.admin("POST", "seed", ORDERS)
        yield running
