"""Business behaviour of the simulated Odoo: picking validation and backorders, inventory, chatter."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.odoo.testing import RunningSimulator
from tests.unit.simulators.odoo.wire import json2


async def _call(sim: RunningSimulator, model: str, method: str, body: dict[str, Any]) -> Any:
    status, result, _ = await json2(sim, model, method, body)
    assert status == 200, result
    return result


def _pickings(sim: RunningSimulator) -> dict[int, dict[str, Any]]:
    return sim.state.store.records["stock.picking"]


def _moves(sim: RunningSimulator, picking_id: int) -> list[dict[str, Any]]:
    return [m for m in sim.state.store.records["stock.move"].values() if m["picking_id"] == picking_id]


async def test_full_picking_validates_and_consumes_stock(sim: RunningSimulator) -> None:
    assert await _call(sim, "stock.picking", "button_validate", {"ids": [1]}) is True
    assert _pickings(sim)[1]["state"] == "done"
    assert _pickings(sim)[1]["date_done"]
    assert {m["state"] for m in _moves(sim, 1)} == {"done"}
    quants = sim.state.store.records["stock.quant"]
    assert (quants[1]["quantity"], quants[2]["quantity"]) == (98.0, 99.0)


async def test_partial_picking_without_context_returns_the_backorder_wizard(sim: RunningSimulator) -> None:
    action = await _call(sim, "stock.picking", "button_validate", {"ids": [2], "context": {"lang": "en_US"}})
    assert action["type"] == "ir.actions.act_window"
    assert action["res_model"] == "stock.backorder.confirmation"
    assert action["target"] == "new"
    assert action["context"]["default_pick_ids"] == [[4, 2]]
    assert action["context"]["button_validate_picking_ids"] == [2]
    assert action["context"]["lang"] == "en_US"
    assert _pickings(sim)[2]["state"] == "assigned"  # nothing happened yet


async def test_no_backorder_context_validates_and_cancels_the_remainder(sim: RunningSimulator) -> None:
    context = {"skip_backorder": True, "picking_ids_not_to_backorder": [2]}
    assert await _call(sim, "stock.picking", "button_validate", {"ids": [2], "context": context}) is True
    assert _pickings(sim)[2]["state"] == "done"
    assert sorted((m["state"], m["product_uom_qty"]) for m in _moves(sim, 2)) == [("cancel", 1.0), ("done", 3.0)]
    assert not [p for p in _pickings(sim).values() if p.get("backorder_id")]


async def test_skip_backorder_alone_validates_and_creates_a_backorder(sim: RunningSimulator) -> None:
    assert await _call(sim, "stock.picking", "button_validate", {"ids": [2], "context": {"skip_backorder": True}})
    backorders = [p for p in _pickings(sim).values() if p.get("backorder_id") == 2]
    assert len(backorders) == 1
    assert backorders[0]["origin"] == "S10002"
    assert backorders[0]["state"] == "assigned"
    assert [m["product_uom_qty"] for m in _moves(sim, backorders[0]["id"])] == [1.0]
    notes = [m["body"] for m in sim.state.store.records["mail.message"].values() if m["res_id"] == 2]
    assert notes == [f"The backorder {backorders[0]['name']} has been created."]


async def test_draft_picking_is_confirmed_then_validated(sim: RunningSimulator) -> None:
    created = await sim.admin("POST", "seed", [{"order_ref": "S10003", "state": "draft",
                                                "lines": [{"sku": "CAP", "qty": 2}]}])
    picking_id = created["created"][0]["picking_id"]
    assert await _call(sim, "stock.picking", "button_validate", {"ids": [picking_id]}) is True
    assert _pickings(sim)[picking_id]["state"] == "done"


@pytest.mark.parametrize(("prepare", "expected"), [
    ("action_cancel", "odoo.exceptions.UserError"),
    (None, "odoo.exceptions.UserError"),
])
async def test_pickings_that_cannot_be_validated(sim: RunningSimulator, prepare: str | None, expected: str) -> None:
    created = await sim.admin("POST", "seed", [{"order_ref": "S10004", "state": "confirmed",
                                                "lines": [{"sku": "CAP", "qty": 2}]}])
    picking_id = created["created"][0]["picking_id"]  # confirmed, nothing reserved
    if prepare:
        await _call(sim, "stock.picking", prepare, {"ids": [picking_id]})
    status, body, _ = await json2(sim, "stock.picking", "button_validate", {"ids": [picking_id]})
    assert (status, body["name"]) == (422, expected)


async def test_done_picking_cannot_be_cancelled(sim: RunningSimulator) -> None:
    await _call(sim, "stock.picking", "button_validate", {"ids": [1]})
    status, body, _ = await json2(sim, "stock.picking", "action_cancel", {"ids": [1]})
    assert (status, body["name"]) == (422, "odoo.exceptions.UserError")


async def test_quant_inventory_apply_sets_the_counted_quantity(sim: RunningSimulator) -> None:
    quant_ids = await _call(sim, "stock.quant", "create", {
        "vals_list": [{"product_id": 1, "location_id": 1, "inventory_quantity": 42}],
        "context": {"inventory_mode": True}})
    assert quant_ids == [1]
    quant = sim.state.store.records["stock.quant"][1]
    assert (quant["inventory_quantity_set"], quant["inventory_diff_quantity"]) == (True, -58.0)
    assert await _call(sim, "stock.quant", "action_apply_inventory", {"ids": [1]}) is None
    assert (quant["quantity"], quant["inventory_quantity_set"]) == (42.0, False)
    adjustment = [m for m in sim.state.store.records["stock.move"].values() if m["name"] == "Product Quantity Updated"]
    assert [(m["product_uom_qty"], m["state"]) for m in adjustment] == [(58.0, "done")]


async def test_quant_edits_are_restricted_outside_inventory_mode(sim: RunningSimulator) -> None:
    create_status, create_body, _ = await json2(sim, "stock.quant", "create",
                                                {"vals_list": {"product_id": 1, "location_id": 1}})
    apply_status, _, _ = await json2(sim, "stock.quant", "action_apply_inventory", {"ids": [2]})
    assert (create_status, create_body["name"]) == (422, "odoo.exceptions.UserError")
    assert apply_status == 200
    assert sim.state.store.records["stock.quant"][2]["quantity"] == 100.0  # no count set: nothing applied


async def test_message_post_logs_an_escaped_note(sim: RunningSimulator) -> None:
    message_id = await _call(sim, "stock.picking", "message_post", {
        "ids": [1], "body": "Delivered <b>to</b> door\nsigned", "message_type": "comment",
        "subtype_xmlid": "mail.mt_note"})
    message = sim.state.store.records["mail.message"][message_id]
    assert message["body"] == "Delivered &lt;b&gt;to&lt;/b&gt; door<br>signed"
    assert (message["model"], message["res_id"], message["message_type"], message["subtype_id"]) == (
        "stock.picking", 1, "comment", 2)


@pytest.mark.parametrize(("model", "body", "status", "name"), [
    ("stock.picking", {"ids": [1], "body": "x", "subtype_xmlid": "mail.mt_nope"}, 500, "builtins.ValueError"),
    ("stock.picking", {"ids": [1, 2], "body": "x"}, 500, "builtins.ValueError"),
    ("stock.picking", {"ids": [1], "body": "x", "message_type": "fax"}, 500, "builtins.ValueError"),
    ("sale.order", {"ids": [1], "body": "x"}, 403, "odoo.exceptions.AccessError"),
    ("stock.quant", {"ids": [1], "body": "x"}, 404, "werkzeug.exceptions.NotFound"),
])
async def test_message_post_refusals(sim: RunningSimulator, model: str, body: dict[str, Any], status: int,
                                     name: str) -> None:
    got_status, got, _ = await json2(sim, model, "message_post", body)
    assert (got_status, got["name"]) == (status, name)


async def test_delivery_state_fields_follow_the_installed_module(sim: RunningSimulator) -> None:
    fields_on = await _call(sim, "stock.picking", "fields_get", {"attributes": ["type", "selection"]})
    await sim.admin("POST", "modules", {"delivery_state": False})
    fields_off = await _call(sim, "stock.picking", "fields_get", {"attributes": ["type"]})
    status, body, _ = await json2(sim, "stock.picking", "write", {"ids": [1], "vals": {"delivery_state": "in_transit"}})
    assert fields_on["delivery_state"]["type"] == "selection"
    assert ["customer_delivered", "Delivered"] in fields_on["delivery_state"]["selection"]
    assert {"delivery_state", "tracking_state", "date_delivered", "date_shipped"}.isdisjoint(fields_off)
    assert (status, body["name"]) == (500, "builtins.ValueError")


async def test_write_checks_selection_and_datetime_formats(sim: RunningSimulator) -> None:
    good = await json2(sim, "stock.picking", "write", {"ids": [1], "vals": {
        "delivery_state": "customer_delivered", "date_delivered": "2026-11-20 10:30:00"}})
    bad_state = await json2(sim, "stock.picking", "write", {"ids": [1], "vals": {"delivery_state": "lost"}})
    iso_t = await json2(sim, "stock.picking", "write", {"ids": [1], "vals": {"date_delivered": "2026-11-20T10:30:00"}})
    assert good[0] == 200
    assert _pickings(sim)[1]["date_delivered"] == "2026-11-20 10:30:00"
    assert (bad_state[0], iso_t[0]) == (500, 500)
    assert iso_t[1]["name"] == "builtins.ValueError"
