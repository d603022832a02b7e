"""fields_get is asked once per model; optional OCA delivery_state fields are detected, not assumed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from services.odoo_sink.client import Json2Client, JsonRpcClient
from services.odoo_sink.errors import OdooUnavailableError
from services.odoo_sink.fields import DeliveryStateSupport, FieldsCache
from simulators.odoo.testing import RunningSimulator

PICKING_FIELDS = {
    "name": {"type": "char", "string": "Reference"},
    "delivery_state": {"type": "selection", "string": "Delivery State",
                       "selection": [["no_update", "No Update"], ["customer_delivered", "Delivered"]]},
    "date_delivered": {"type": "datetime", "string": "Delivered Date"},
}


class FakeOdoo:
    """In-memory OdooClient double: answers fields_get, counts calls, can fail once."""

    protocol = "fake"

    def __init__(self, fields: Mapping[str, Any], fail_first: bool = False) -> None:
        self.fields = fields
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.fail_first = fail_first

    async def authenticate(self) -> int:
        return 2

    async def call(self, model: str, method: str, args: Sequence[Any] = (),
                   kwargs: Mapping[str, Any] | None = None) -> Any:
        self.calls.append((model, method, dict(kwargs or {})))
        await asyncio.sleep(0)  # let concurrent callers pile up
        if self.fail_first:
            self.fail_first = False
            raise OdooUnavailableError("down", protocol="fake", model=model, method=method)
        return self.fields

    async def close(self) -> None:
        return None


async def test_fields_are_fetched_once_even_by_concurrent_callers() -> None:
    odoo = FakeOdoo(PICKING_FIELDS)
    cache = FieldsCache(odoo)
    results = await asyncio.gather(*(cache.fields("stock.picking") for _ in range(5)))
    assert await cache.has("stock.picking", "name", "date_delivered")
    assert not await cache.has("stock.picking", "tracking_state")
    assert len(odoo.calls) == 1
    assert odoo.calls[0][:2] == ("stock.picking", "fields_get")
    assert "type" in odoo.calls[0][2]["attributes"]
    assert all(r is results[0] for r in results)


async def test_failures_are_not_cached() -> None:
    odoo = FakeOdoo(PICKING_FIELDS, fail_first=True)
    cache = FieldsCache(odoo)
    with pytest.raises(OdooUnavailableError):
        await cache.fields("stock.picking")
    assert "name" in await cache.fields("stock.picking")
    assert len(odoo.calls) == 2


async def test_delivery_state_support_from_fields() -> None:
    support = await FieldsCache(FakeOdoo(PICKING_FIELDS)).delivery_state()
    assert support == DeliveryStateSupport(delivery_state=True, date_delivered=True,
                                           states=frozenset({"no_update", "customer_delivered"}))
    assert support.accepts("customer_delivered")
    assert not support.accepts("in_transit")
    plain = await FieldsCache(FakeOdoo({"name": {"type": "char"}})).delivery_state()
    assert not plain.installed
    assert not plain.accepts("no_update")


async def test_invalidate_asks_again() -> None:
    odoo = FakeOdoo(PICKING_FIELDS)
    cache = FieldsCache(odoo)
    await cache.fields("stock.picking")
    cache.invalidate("stock.picking")
    await cache.fields("stock.picking")
    cache.invalidate()
    await cache.fields("stock.picking")
    assert len(odoo.calls) == 3


@pytest.mark.parametrize("installed", [True, False])
async def test_detects_the_oca_module_on_a_real_wire(odoo: JsonRpcClient | Json2Client, sim: RunningSimulator,
                                                     installed: bool) -> None:
    await sim.admin("POST", "modules", {"delivery_state": installed})
    cache = FieldsCache(odoo)
    support = await cache.delivery_state()
    await cache.delivery_state()
    assert support.installed is installed
    assert support.tracking_state is installed
    assert support.date_delivered is installed
    assert support.accepts("warehouse_delivered") is installed
    assert len(await sim.calls(method="fields_get")) == 1
