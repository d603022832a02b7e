"""Both Odoo clients end to end against the simulator: same calls, same answers, on either protocol."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from backbone.errors import ConfigError
from services.odoo_sink.client import Json2Client, JsonRpcClient, OdooClient, make_client
from simulators.odoo.testing import RunningSimulator
from tests.unit.odoo_sink.conftest import connection

Client = JsonRpcClient | Json2Client


async def test_authenticate_returns_the_integration_user(odoo: Client, sim: RunningSimulator) -> None:
    assert await odoo.authenticate() == 2
    assert odoo.uid == 2
    method = "authenticate" if odoo.protocol == "jsonrpc" else "context_get"
    assert [c["method"] for c in await sim.calls()] == [method]


async def test_search_read_pickings_by_tracking_ref_and_origin(odoo: Client) -> None:
    fields = ["name", "origin", "state", "carrier_id", "sale_id", "picking_type_code"]
    by_ref = await odoo.call("stock.picking", "search_read",
                             [[("carrier_tracking_ref", "=", "JD014600006281230704")]], {"fields": fields})
    by_origin = await odoo.call("stock.picking", "search_read", [],
                                {"domain": [("origin", "=", "S30002"), ("picking_type_code", "=", "outgoing")],
                                 "fields": fields, "limit": 1})
    assert by_ref == by_origin == [{"id": 2, "name": "WH/OUT/00002", "origin": "S30002", "state": "assigned",
                                    "carrier_id": [1, "DHL Express"], "sale_id": [2, "S30002"],
                                    "picking_type_code": "outgoing"}]


async def test_write_then_read_back(odoo: Client) -> None:
    vals = {"delivery_state": "customer_delivered", "date_delivered": "2026-11-20 10:30:00",
            "tracking_state": "Delivered, front door"}
    assert await odoo.call("stock.picking", "write", [[1], vals]) is True
    [row] = await odoo.call("stock.picking", "read", [[1], list(vals)])
    assert row == {"id": 1, **vals}


async def test_message_post_logs_a_note(odoo: Client, sim: RunningSimulator) -> None:
    message_id = await odoo.call("stock.picking", "message_post", [[1]], {
        "body": "Out for delivery (DHL, Leipzig hub)", "message_type": "comment", "subtype_xmlid": "mail.mt_note"})
    assert isinstance(message_id, int)
    message = sim.state.store.records["mail.message"][message_id]
    assert (message["res_id"], message["subtype_id"], message["body"]) == (1, 2, "Out for delivery (DHL, Leipzig hub)")


async def test_button_validate_partial_returns_the_wizard_without_context(odoo: Client, sim: RunningSimulator) -> None:
    action = await odoo.call("stock.picking", "button_validate", [[2]])
    assert action["res_model"] == "stock.backorder.confirmation"
    assert sim.state.store.records["stock.picking"][2]["state"] == "assigned"


async def test_button_validate_partial_with_no_backorder_context_is_done(odoo: Client, sim: RunningSimulator) -> None:
    context = {"skip_backorder": True, "picking_ids_not_to_backorder": [2]}
    assert await odoo.call("stock.picking", "button_validate", [[2]], {"context": context}) is True
    pickings = sim.state.store.records["stock.picking"]
    assert pickings[2]["state"] == "done"
    assert not [p for p in pickings.values() if p.get("backorder_id")]


async def test_stock_quant_inventory_apply(odoo: Client) -> None:
    context = {"inventory_mode": True}
    quant_id = await odoo.call("stock.quant", "create",
                               [{"product_id": 1, "location_id": 1, "inventory_quantity": 37}], {"context": context})
    applied = await odoo.call("stock.quant", "action_apply_inventory", [[quant_id]], {"context": context})
    [quant] = await odoo.call("stock.quant", "read", [[quant_id], ["quantity", "inventory_quantity_set"]])
    assert quant_id == 1  # one dict in, one id out, on both protocols
    assert applied is None
    assert (quant["quantity"], quant["inventory_quantity_set"]) == (37.0, False)


async def test_create_with_a_list_answers_a_list(odoo: Client) -> None:
    ids = await odoo.call("stock.picking", "create", [[{"picking_type_id": 1, "origin": "MANUAL"}]])
    assert ids == [3]


async def test_calls_are_recorded_with_their_protocol(odoo: Client, sim: RunningSimulator) -> None:
    await odoo.call("stock.picking", "search_count", [[("state", "=", "assigned")]])
    await odoo.call("stock.picking", "write", [[1], {"carrier_tracking_ref": "NEW-REF"}])
    recorded = [c for c in await sim.calls() if c.get("model") == "stock.picking"]
    assert [(c["protocol"], c["method"], c["ok"]) for c in recorded] == [
        (odoo.protocol, "search_count", True), (odoo.protocol, "write", True)]
    write = recorded[1]
    sent = write["args"] if odoo.protocol == "jsonrpc" else [write["ids"], write["kwargs"]["vals"]]
    assert sent == [[1], {"carrier_tracking_ref": "NEW-REF"}]


async def test_json2_sends_bearer_key_and_database_header(sim: RunningSimulator) -> None:
    seen: list[dict[str, str]] = []

    async def trace_headers(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        seen.append(dict(params.headers))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(trace_headers)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        client = Json2Client(connection(sim.url, "json2"), session)
        await client.call("stock.picking", "search", [[]])
        await client.close()
        assert not session.closed  # a shared session belongs to its owner
    assert seen[0]["Authorization"] == "bearer sink-test-key"
    assert seen[0]["X-Odoo-Database"] == "backbone"


def test_protocol_setting_picks_the_client() -> None:
    rpc, json2 = make_client(connection("http://x", "jsonrpc")), make_client(connection("http://x", "json2"))
    clients: list[OdooClient] = [rpc, json2]  # both satisfy the Protocol (mypy checks this line)
    assert isinstance(rpc, JsonRpcClient)
    assert isinstance(json2, Json2Client)
    assert [c.protocol for c in clients] == ["jsonrpc", "json2"]


def test_a_client_without_api_key_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="BACKBONE_ODOO_API_KEY"):
        make_client(connection("http://x", "json2", api_key=""))
