"""The /_sim admin API: seed, state, reset, call log and every fault mode, on the raw wire."""

from __future__ import annotations

import aiohttp
import pytest

from simulators.odoo import SimulatorConfig
from simulators.odoo.testing import RunningSimulator, running_simulator
from tests.unit.simulators.odoo.wire import DB, KEY, execute_kw, json2, jsonrpc


async def test_seed_is_all_or_nothing(sim: RunningSimulator) -> None:
    before = len(sim.state.store.records["sale.order"])
    async with sim.session.post(f"{sim.url}/_sim/seed", json=[
        {"order_ref": "S20001", "lines": [{"sku": "A", "qty": 1}]},
        {"order_ref": "S10001", "lines": [{"sku": "A", "qty": 1}]},  # already seeded by the fixture
    ]) as response:
        body = await response.json()
    assert response.status == 400
    assert "S10001 already exists" in body["error"]
    assert len(sim.state.store.records["sale.order"]) == before


@pytest.mark.parametrize("orders", [{"order_ref": "x"}, [{"lines": []}], [{"order_ref": "S9", "lines": [{"qty": 1}]}],
                                    [{"order_ref": "S9", "state": "done", "lines": [{"sku": "A"}]}]])
async def test_seed_rejects_bad_input(sim: RunningSimulator, orders: object) -> None:
    async with sim.session.post(f"{sim.url}/_sim/seed", json=orders) as response:
        assert response.status == 400


async def test_state_dump_and_reset(sim: RunningSimulator) -> None:
    state = await sim.admin("GET", "state?model=stock.picking")
    assert [p["origin"] for p in state["models"]["stock.picking"]] == ["S10001", "S10002"]
    assert state["modules"] == ["delivery_state"]
    await sim.admin("POST", "reset")
    after = await sim.admin("GET", "state")
    assert after["models"]["stock.picking"] == []
    assert len(after["models"]["delivery.carrier"]) == 4  # master data survives a reset


async def test_demo_seed_on_startup() -> None:
    async with running_simulator(SimulatorConfig(api_key=KEY, seed_demo=True)) as running:
        state = await running.admin("GET", "state?model=sale.order")
        assert [o["name"] for o in state["models"]["sale.order"]] == ["S00001", "S00002", "S00003"]


async def test_every_call_is_recorded_without_the_key(sim: RunningSimulator) -> None:
    await jsonrpc(sim, "common", "authenticate", DB, "bot", KEY, {})
    await execute_kw(sim, "stock.picking", "write", [[1], {"carrier_tracking_ref": "NEW"}], {"context": {"a": 1}})
    await json2(sim, "stock.picking", "read", {"ids": [999]})
    calls = await sim.calls()
    assert [(c["protocol"], c.get("model"), c["method"], c["ok"]) for c in calls] == [
        ("jsonrpc", None, "authenticate", True),
        ("jsonrpc", "stock.picking", "write", True),
        ("json2", "stock.picking", "read", False),
    ]
    assert calls[1]["args"] == [[1], {"carrier_tracking_ref": "NEW"}]
    assert calls[1]["context"] == {"a": 1}
    assert calls[1]["result"] is True
    assert calls[2]["error"]["name"] == "odoo.exceptions.MissingError"
    assert (calls[2]["ids"], calls[2]["status"]) == ([999], 404)
    assert all(isinstance(c["ts"], float) for c in calls)
    assert KEY not in str(calls)
    assert [c["seq"] for c in await sim.calls(protocol="json2")] == [3]


async def test_unknown_fault_fields_are_refused_and_nothing_applies(sim: RunningSimulator) -> None:
    async with sim.session.post(f"{sim.url}/_sim/faults", json={"lock_errors": 2, "explode": True}) as response:
        assert response.status == 422
    assert (await sim.admin("GET", "faults"))["lock_errors"] == 0


async def test_down_reset_drops_the_connection(sim: RunningSimulator) -> None:
    await sim.faults(down="reset")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await jsonrpc(sim, "common", "version")
    await sim.faults(down=None)
    status, _ = await jsonrpc(sim, "common", "version")
    assert status == 200
    assert [c.get("fault") for c in await sim.calls()] == ["connection_reset", None]


async def test_down_503_then_throttle_then_server_errors(sim: RunningSimulator) -> None:
    await sim.faults(down="503", retry_after_s=4)
    status, _, headers = await json2(sim, "stock.picking", "search", {"domain": []})
    assert (status, headers["Retry-After"]) == (503, "4")
    await sim.faults(down=None, throttle=1)
    first, body, headers = await json2(sim, "stock.picking", "search", {"domain": []})
    second, _, _ = await json2(sim, "stock.picking", "search", {"domain": []})
    assert (first, body["name"], headers["Retry-After"], second) == (429, "werkzeug.exceptions.TooManyRequests", "4", 200)
    await sim.faults(error_rate=1.0)
    status, _, _ = await json2(sim, "stock.picking", "search", {"domain": []})
    assert status == 500
    faulted = [c for c in await sim.calls() if c.get("fault")]
    assert [(c["status"], c["model"], c["method"]) for c in faulted] == [
        (503, "stock.picking", "search"), (429, "stock.picking", "search"), (500, "stock.picking", "search")]


@pytest.mark.parametrize(("kind", "name", "status"), [
    ("serialization", "psycopg2.errors.SerializationFailure", 500),
    ("lock", "odoo.exceptions.LockError", 409),
    ("concurrency", "odoo.exceptions.ConcurrencyError", 500),
])
async def test_lock_errors_hit_the_next_object_calls(sim: RunningSimulator, kind: str, name: str, status: int) -> None:
    await sim.faults(lock_errors=2, lock_kind=kind)
    rpc = await execute_kw(sim, "stock.picking", "search", [[]])
    j2_status, j2_body, _ = await json2(sim, "stock.picking", "search", {"domain": []})
    recovered = await execute_kw(sim, "stock.picking", "search", [[]])
    assert rpc["error"]["data"]["name"] == name
    assert (j2_status, j2_body["name"]) == (status, name)
    assert recovered["result"] == [1, 2]


async def test_auth_revoked_refuses_the_key_everywhere(sim: RunningSimulator) -> None:
    await sim.faults(auth_revoked=True)
    _, login = await jsonrpc(sim, "common", "authenticate", DB, "bot", KEY, {})
    rpc = await execute_kw(sim, "stock.picking", "search", [[]])
    status, _, _ = await json2(sim, "stock.picking", "search", {"domain": []})
    assert login["result"] is False
    assert rpc["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert status == 401


async def test_scripted_errors_match_model_and_method(sim: RunningSimulator) -> None:
    await sim.faults(fail_next=[{"error": "ValidationError", "model": "stock.picking", "method": "write",
                                 "message": "Tracking reference already used", "count": 1}])
    read = await execute_kw(sim, "stock.picking", "read", [[1], ["name"]])
    write = await execute_kw(sim, "stock.picking", "write", [[1], {"carrier_tracking_ref": "X"}])
    again = await execute_kw(sim, "stock.picking", "write", [[1], {"carrier_tracking_ref": "X"}])
    assert "result" in read
    assert write["error"]["data"]["name"] == "odoo.exceptions.ValidationError"
    assert write["error"]["data"]["message"] == "Tracking reference already used"
    assert again["result"] is True


async def test_acl_override_denies_an_operation(sim: RunningSimulator) -> None:
    await sim.faults(acl={"stock.picking": ["read"]})
    status, body, _ = await json2(sim, "stock.picking", "write", {"ids": [1], "vals": {"origin": "X"}})
    assert (status, body["name"]) == (403, "odoo.exceptions.AccessError")
    assert "not allowed to modify 'Transfer' (stock.picking)" in body["message"]


async def test_delay_slows_every_call(sim: RunningSimulator) -> None:
    await sim.faults(delay_ms=150)
    timeout = aiohttp.ClientTimeout(total=0.05)
    with pytest.raises(TimeoutError):
        async with sim.session.post(f"{sim.url}/jsonrpc", json={}, timeout=timeout):
            pass
    cleared = await sim.admin("DELETE", "faults")
    assert cleared["delay_ms"] == 0
