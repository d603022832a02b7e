"""MemoryOrderDirectory: newer details win field by field, and the directory stays bounded."""

from __future__ import annotations

from services.carrier_bridge.booking import OrderDetails
from services.carrier_bridge.orders import MemoryOrderDirectory
from tests.unit.carrier_bridge.helpers import SHIP_TO


async def test_newer_details_complete_older_ones() -> None:
    orders = MemoryOrderDirectory()
    await orders.remember("SO-1", OrderDetails.from_milestone({"ship_to": SHIP_TO, "carrier": "ups"}))
    await orders.remember("SO-1", OrderDetails(service_level="next_day"))
    found = await orders.lookup("SO-1")
    assert found is not None and (found.carrier, found.service_level) == ("ups", "next_day")
    assert found.ship_to is not None and found.ship_to.zip == "30030"
    assert await orders.lookup("SO-2") is None


async def test_the_least_recently_remembered_order_goes_first() -> None:
    orders = MemoryOrderDirectory(limit=2)
    for ref in ("A", "B", "A", "C"):
        await orders.remember(ref, OrderDetails(carrier="ups"))
    assert [await orders.lookup(r) is not None for r in ("A", "B", "C")] == [True, False, True]
