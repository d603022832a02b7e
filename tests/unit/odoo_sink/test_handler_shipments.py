"""Shipment milestones against the simulated Odoo, on both protocols: picking lookup, OCA fields
only where installed and allowed by the guard, one note per milestone, reconcile before re-posting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from backbone.sink import NotYetAvailableError
from services.odoo_sink.client import Json2Client, JsonRpcClient, make_client
from services.odoo_sink.errors import OdooAuthenticationError, OdooUnavailableError
from services.odoo_sink.handlers import OdooHandler
from simulators.odoo import SimulatorConfig
from simulators.odoo.testing import RunningSimulator, running_simulator
from tests.unit.odoo_sink.conftest import KEY, ORDERS, connection
from tests.unit.odoo_sink.records import ctx, record, shipment

Client = JsonRpcClient | Json2Client
UPS = "1Z999AA10123456784"  # on picking 1 (S30001)


def picking(sim: RunningSimulator, picking_id: int) -> dict[str, Any]:
    return sim.state.store.records["stock.picking"][picking_id]


def notes(sim: RunningSimulator, picking_id: int) -> list[str]:
    return [m["body"] for m in sim.state.store.records["mail.message"].values()
            if m["model"] == "stock.picking" and m["res_id"] == picking_id and "backbone:" in m["body"]]


async def methods(sim: RunningSimulator) -> list[str]:
    return [f"{c.get('model')}.{c.get('method')}" for c in await sim.calls() if c.get("model")]


async def test_delivered_sets_oca_fields_and_posts_one_note(odoo: Client, sim: RunningSimulator) -> None:
    handler = OdooHandler(odoo)
    value = shipment(UPS, "DELIVERED", signed_by="J. Smith")
    result = await handler.apply(record(value), ctx(new=90))
    assert result.outcome == "applied"
    assert result.summary["picking_id"] == 1
    row = picking(sim, 1)
    assert row["delivery_state"] == "customer_delivered"
    assert row["date_delivered"] == "2026-11-20 10:30:00"
    assert row["tracking_state"] == "Delivered: Delivered (Leipzig, 04109, DE)"
    [body] = notes(sim, 1)
    assert body.startswith(f"[backbone:{value['milestone_id']}] Delivered")
    assert "Signed by: J. Smith" in body
    message = next(m for m in sim.state.store.records["mail.message"].values() if m["body"] == body)
    assert message["subtype_id"] == 2  # mail.mt_note: internal, never mailed to the customer


async def test_found_by_order_ref_gets_the_tracking_number(odoo: Client, sim: RunningSimulator) -> None:
    await sim.admin("POST", "seed", [{"order_ref": "S30003", "lines": [{"sku": "CAP-BLK", "qty": 1}]}])
    handler = OdooHandler(odoo)
    await handler.apply(record(shipment("TRK-NEW", "IN_TRANSIT", order_ref="S30003")), ctx(new=70))
    row = picking(sim, 3)
    assert (row["carrier_tracking_ref"], row["delivery_state"]) == ("TRK-NEW", "in_transit")
    # A second package of the same order is added, not overwritten.
    await handler.apply(record(shipment("TRK-TWO", "LABEL_CREATED", order_ref="S30003")), ctx(new=40))
    assert picking(sim, 3)["carrier_tracking_ref"] == "TRK-NEW,TRK-TWO"
    assert len(notes(sim, 3)) == 2


async def test_later_milestones_reuse_the_picking_without_searching(odoo: Client, sim: RunningSimulator) -> None:
    handler = OdooHandler(odoo)
    for n, code in enumerate(["LABEL_CREATED", "IN_TRANSIT", "OUT_FOR_DELIVERY"]):
        await handler.apply(record(shipment(UPS, code, n=n)), ctx(current=None if n == 0 else 40, new=70))
    called = await methods(sim)
    assert called.count("stock.picking.search_read") == 1
    assert called.count("stock.picking.fields_get") == 1
    assert called.count("stock.picking.message_post") == 3


async def test_a_late_in_transit_after_delivered_only_adds_a_note(odoo: Client, sim: RunningSimulator) -> None:
    handler = OdooHandler(odoo)
    await handler.apply(record(shipment(UPS, "DELIVERED")), ctx(new=90))
    before = dict(picking(sim, 1))
    late = shipment(UPS, "IN_TRANSIT", n=-60)
    result = await handler.apply(record(late), ctx(current=90, new=70))
    assert (result.outcome, result.reason) == ("skipped", "stale")
    assert picking(sim, 1) == before  # delivery_state, tracking_state, date_delivered untouched
    assert picking(sim, 1)["delivery_state"] == "customer_delivered"
    assert "Late fact" in notes(sim, 1)[-1] and late["milestone_id"] in notes(sim, 1)[-1]


async def test_without_the_oca_module_only_the_note_and_reference_are_written() -> None:
    async with running_simulator(SimulatorConfig(api_key=KEY, delivery_state=False)) as sim:
        await sim.admin("POST", "seed", ORDERS)
        async with make_client(connection(sim.url, "jsonrpc")) as odoo:
            handler = OdooHandler(odoo)
            for code in ("IN_TRANSIT", "DELIVERED"):
                await handler.apply(record(shipment(UPS, code)), ctx(new=90))
            writes = [c for c in await sim.calls() if c.get("method") == "write"]
            assert writes == []  # tracking ref already there, no delivery_state fields to write
            assert len(notes(sim, 1)) == 2
            assert [c["method"] for c in await sim.calls()].count("fields_get") == 1


async def test_missing_picking_is_not_yet_available(odoo: Client) -> None:
    with pytest.raises(NotYetAvailableError):
        await OdooHandler(odoo).apply(record(shipment("NOPE-1", "IN_TRANSIT", order_ref="S99999")), ctx(new=70))


async def test_reconcile_finds_a_note_posted_before_a_lost_answer(odoo: Client, sim: RunningSimulator) -> None:
    handler = OdooHandler(odoo)
    value = shipment(UPS, "OUT_FOR_DELIVERY")
    rec = record(value)
    assert await handler.reconcile(rec, ctx(new=80)) is None  # nothing there yet: go ahead and apply
    await handler.apply(rec, ctx(new=80))
    again = OdooHandler(odoo)  # a restarted process: empty caches
    found = await again.reconcile(rec, ctx(new=80, previous_status="in_flight"))
    assert found is not None and found.outcome == "applied" and found.summary["picking_id"] == 1
    assert len(notes(sim, 1)) == 1


class LosesAnswers:
    """Wraps a client: the chosen method reaches Odoo, then its answer is lost (a read timeout)."""

    def __init__(self, inner: Client, method: str) -> None:
        self.inner, self.method, self.lost = inner, method, 0
        self.protocol = inner.protocol

    async def authenticate(self) -> int:
        return await self.inner.authenticate()

    async def call(self, model: str, method: str, args: Sequence[Any] = (),
                   kwargs: Mapping[str, Any] | None = None) -> Any:
        answer = await self.inner.call(model, method, args, kwargs)
        if method == self.method and not self.lost:
            self.lost += 1
            raise OdooUnavailableError("Odoo did not answer within the configured timeouts")
        return answer

    async def close(self) -> None:
        await self.inner.close()


async def test_a_lost_message_post_answer_is_reconciled_not_doubled(odoo: Client, sim: RunningSimulator) -> None:
    handler = OdooHandler(LosesAnswers(odoo, "message_post"))
    value = shipment(UPS, "IN_TRANSIT")
    with pytest.raises(OdooUnavailableError):
        await handler.apply(record(value), ctx(new=70))
    found = await handler.reconcile(record(value), ctx(new=70, previous_error=OdooUnavailableError("lost")))
    assert found is not None and found.summary["message_id"]
    assert sum(value["milestone_id"] in b for b in notes(sim, 1)) == 1


async def test_api_key_is_sent_only_as_configured(sim: RunningSimulator) -> None:
    bad = make_client(connection(sim.url, "jsonrpc", api_key=SecretStr("wrong")))
    with pytest.raises(OdooAuthenticationError):
        await OdooHandler(bad).apply(record(shipment(UPS, "IN_TRANSIT")), ctx(new=70))
    await bad.close()
