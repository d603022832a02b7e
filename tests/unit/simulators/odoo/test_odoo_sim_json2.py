"""The simulator's /json/2 endpoint: bearer auth, named arguments, real HTTP statuses, Odoo 19 error bodies."""

from __future__ import annotations

import pytest

from simulators.odoo.testing import RunningSimulator
from tests.unit.simulators.odoo.wire import json2

ERROR_KEYS = {"name", "message", "arguments", "context", "debug"}


async def test_search_read_with_named_arguments(sim: RunningSimulator) -> None:
    status, body, _ = await json2(sim, "stock.picking", "search_read",
                                  {"domain": [["origin", "=", "S10002"]], "fields": ["name", "carrier_tracking_ref"]},
                                  headers={"X-Odoo-Database": "backbone"})
    assert status == 200
    assert body == [{"id": 2, "name": "WH/OUT/00002", "carrier_tracking_ref": "JD014600006281230704"}]


async def test_context_get_names_the_api_key_user(sim: RunningSimulator) -> None:
    status, body, _ = await json2(sim, "res.users", "context_get")
    assert (status, body["uid"]) == (200, 2)


@pytest.mark.parametrize("key", [None, "wrong"])
async def test_missing_or_bad_key_is_401_with_odoo_error_body(sim: RunningSimulator, key: str | None) -> None:
    status, body, headers = await json2(sim, "stock.picking", "search", {"domain": []}, key=key)
    assert status == 401
    assert set(body) == ERROR_KEYS
    assert body["name"] == "werkzeug.exceptions.Unauthorized"
    assert body["arguments"] == ["Invalid apikey", 401]
    assert headers["WWW-Authenticate"].lower().startswith("bearer")


async def test_wrong_database_header_is_404(sim: RunningSimulator) -> None:
    status, body, _ = await json2(sim, "stock.picking", "search", {"domain": []}, headers={"X-Odoo-Database": "x"})
    assert (status, body["name"]) == (404, "werkzeug.exceptions.NotFound")


@pytest.mark.parametrize(
    ("model", "method", "body", "status", "name"),
    [
        ("no.model", "search", {"domain": []}, 404, "werkzeug.exceptions.NotFound"),
        ("stock.picking", "fly", {"ids": [1]}, 404, "werkzeug.exceptions.NotFound"),
        ("stock.picking", "_action_done", {"ids": [1]}, 404, "werkzeug.exceptions.NotFound"),
        ("stock.picking", "search", {"ids": [1], "domain": []}, 422, "werkzeug.exceptions.UnprocessableEntity"),
        ("stock.picking", "search", {"domain": [], "colour": "red"}, 422, "werkzeug.exceptions.UnprocessableEntity"),
        ("sale.order", "write", {"ids": [1], "vals": {"state": "cancel"}}, 403, "odoo.exceptions.AccessError"),
        ("stock.picking", "read", {"ids": [999], "fields": ["name"]}, 404, "odoo.exceptions.MissingError"),
        ("stock.picking", "write", {"ids": [1], "vals": {"colour": "red"}}, 500, "builtins.ValueError"),
        ("stock.picking", "button_validate", {"ids": [1, 2], "context": {"skip_backorder": True}}, 200, None),
        ("stock.quant", "write", {"ids": [1], "vals": {"quantity": 5}}, 422, "odoo.exceptions.UserError"),
    ],
)
async def test_errors_use_odoo_19_statuses(sim: RunningSimulator, model: str, method: str, body: dict[str, object],
                                           status: int, name: str | None) -> None:
    got_status, got, _ = await json2(sim, model, method, body)
    assert got_status == status
    if name is not None:
        assert set(got) == ERROR_KEYS
        assert got["name"] == name


async def test_error_body_carries_the_request_context(sim: RunningSimulator) -> None:
    _, body, _ = await json2(sim, "stock.picking", "read", {"ids": [999], "context": {"lang": "en_US"}})
    assert body["context"] == {"lang": "en_US"}
    assert body["message"].startswith("Record does not exist or has been deleted.")


async def test_body_must_be_a_json_object(sim: RunningSimulator) -> None:
    async with sim.session.post(f"{sim.url}/json/2/stock.picking/search", data=b"[1, 2]",
                                headers={"Authorization": "bearer test-key",
                                         "Content-Type": "application/json"}) as response:
        body = await response.json()
    assert (response.status, body["name"]) == (400, "werkzeug.exceptions.BadRequest")


async def test_only_post_is_routed(sim: RunningSimulator) -> None:
    async with sim.session.get(f"{sim.url}/json/2/stock.picking/search") as response:
        assert response.status == 405


async def test_create_answers_a_list_of_ids(sim: RunningSimulator) -> None:
    status, body, _ = await json2(sim, "stock.picking", "create", {"vals_list": {"picking_type_id": 1}})
    assert (status, body) == (200, [3])


async def test_web_version(sim: RunningSimulator) -> None:
    async with sim.session.get(f"{sim.url}/web/version") as response:
        assert await response.json() == {"version_info": [19, 0, 0, "final", 0, ""], "version": "19.0"}
