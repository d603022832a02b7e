"""The simulator's /jsonrpc endpoint speaks Odoo's envelope and error shapes."""

from __future__ import annotations

from simulators.odoo.testing import RunningSimulator
from tests.unit.simulators.odoo.wire import DB, KEY, UID, execute_kw, jsonrpc


async def test_authenticate_returns_uid_or_false(sim: RunningSimulator) -> None:
    status, ok = await jsonrpc(sim, "common", "authenticate", DB, "bot", KEY, {})
    _, wrong_key = await jsonrpc(sim, "common", "authenticate", DB, "bot", "nope", {})
    _, wrong_db = await jsonrpc(sim, "common", "authenticate", "other", "bot", KEY, {})
    assert (status, ok) == (200, {"jsonrpc": "2.0", "id": 7, "result": UID})
    assert wrong_key["result"] is False
    assert wrong_db["result"] is False


async def test_version_reports_odoo_19(sim: RunningSimulator) -> None:
    _, body = await jsonrpc(sim, "common", "version")
    assert body["result"]["server_version_info"] == [19, 0, 0, "final", 0, ""]


async def test_search_read_renders_fields_like_odoo(sim: RunningSimulator) -> None:
    body = await execute_kw(sim, "stock.picking", "search_read",
                            [[["carrier_tracking_ref", "=", "1Z999AA10123456784"]]],
                            {"fields": ["name", "origin", "state", "carrier_id", "move_ids", "picking_type_code",
                                        "sale_id", "date_done", "delivery_state"]})
    assert body["result"] == [{
        "id": 1, "name": "WH/OUT/00001", "origin": "S10001", "state": "assigned", "carrier_id": [2, "UPS"],
        "move_ids": [1, 2], "picking_type_code": "outgoing", "sale_id": [1, "S10001"], "date_done": False,
        "delivery_state": "no_update",
    }]


async def test_read_with_load_none_gives_bare_many2one_ids(sim: RunningSimulator) -> None:
    body = await execute_kw(sim, "stock.move", "read", [[3]], {"fields": ["product_id", "quantity"], "load": None})
    assert body["result"] == [{"id": 3, "product_id": 1, "quantity": 3.0}]


async def test_bad_password_is_access_denied_in_a_200_error_envelope(sim: RunningSimulator) -> None:
    body = await execute_kw(sim, "stock.picking", "search", [[]], key="wrong")
    assert body["id"] == 7
    assert "result" not in body
    assert body["error"]["code"] == 200
    assert body["error"]["message"] == "Odoo Server Error"
    data = body["error"]["data"]
    assert data == {"name": "odoo.exceptions.AccessDenied", "debug": "", "message": "Access Denied",
                    "arguments": ["Access Denied"], "context": {}}


async def test_unknown_model_method_and_private_method(sim: RunningSimulator) -> None:
    model = await execute_kw(sim, "no.such.model", "search", [[]])
    method = await execute_kw(sim, "stock.picking", "fly", [[1]])
    private = await execute_kw(sim, "stock.picking", "_action_done", [[1]])
    assert model["error"]["data"]["name"] == "odoo.exceptions.UserError"
    assert model["error"]["data"]["message"] == "Object no.such.model doesn't exist"
    assert method["error"]["data"]["name"] == "builtins.AttributeError"
    assert private["error"]["data"]["name"] == "odoo.exceptions.AccessError"
    assert "Traceback" in method["error"]["data"]["debug"]


async def test_create_answers_an_id_for_a_dict_and_a_list_for_a_list(sim: RunningSimulator) -> None:
    vals = {"product_id": 1, "location_id": 1, "inventory_quantity": 5}
    single = await execute_kw(sim, "stock.quant", "create", [{**vals, "product_id": 2}], {"context": {"inventory_mode": True}})
    batch = await execute_kw(sim, "stock.picking", "create", [[{"picking_type_id": 1, "origin": "X"}]])
    assert single["result"] == 2  # inventory mode reuses the quant of the same product and location
    assert isinstance(batch["result"], list)
    assert len(batch["result"]) == 1


async def test_result_is_omitted_when_the_method_returns_none(sim: RunningSimulator) -> None:
    body = await execute_kw(sim, "stock.quant", "action_apply_inventory", [[1]])
    assert body == {"jsonrpc": "2.0", "id": 7}


async def test_message_post_arguments_are_keyword_only(sim: RunningSimulator) -> None:
    positional = await execute_kw(sim, "stock.picking", "message_post", [[1], "hello"])
    named = await execute_kw(sim, "stock.picking", "message_post", [[1]], {"body": "hello"})
    assert positional["error"]["data"]["name"] == "builtins.TypeError"
    assert isinstance(named["result"], int)


async def test_invalid_json_is_a_plain_400(sim: RunningSimulator) -> None:
    async with sim.session.post(f"{sim.url}/jsonrpc", data=b"{not json") as response:
        assert response.status == 400
        assert await response.text() == "Invalid JSON data"


async def test_execute_without_kw_passes_positional_arguments(sim: RunningSimulator) -> None:
    _, body = await jsonrpc(sim, "object", "execute", DB, UID, KEY, "stock.picking", "search_count",
                            [["origin", "=", "S10002"]])
    assert body["result"] == 1


async def test_malformed_execute_kw_is_a_type_error_envelope(sim: RunningSimulator) -> None:
    _, body = await jsonrpc(sim, "object", "execute_kw", DB, UID, KEY, "stock.picking", "search", 5, "nope")
    assert body["error"]["data"]["name"] == "builtins.TypeError"
