"""odoo_sink end to end: canonical Avro records on Kafka -> sink runtime + ledger -> simulated Odoo.

Every effect is counted at the simulator: notes per milestone marker, successful business calls,
picking and quant state. A replay from offset 0 must not add a single call.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import psycopg
import pytest

from backbone import headers as h
from backbone.shutdown import GracefulShutdown
from backbone.sink.metrics import AUTH_FAILED, SKIPPED
from services.odoo_sink.monitor import StaleShipmentsMonitor
from simulators.odoo import SimulatorConfig
from simulators.odoo.testing import running_simulator
from tests.integration.odoo_sink.conftest import KEY, OdooSinkEnv, SimAdmin, eventually, settled
from tests.unit.odoo_sink.records import inventory, order, shipment

pytestmark = pytest.mark.integration

WRITES = ("write", "message_post", "button_validate", "create", "action_apply_inventory")
ORDERS = [
    {"order_ref": "S40001", "lines": [{"sku": "MUG-01", "qty": 1}], "packages": [{"tracking_ref": "1ZA1", "carrier": "ups"}]},
    {"order_ref": "S40002", "lines": [{"sku": "TEE-M", "qty": 4, "quantity": 3}]},
    {"order_ref": "S40003", "lines": [{"sku": "TEE-M", "qty": 2}]},
]


async def effect_calls(sim: SimAdmin) -> list[str]:
    calls = await sim.calls()
    return [f"{c.get('model')}.{c.get('method')}" for c in calls if c.get("ok") and c.get("method") in WRITES]


async def stop(task: asyncio.Task[None], shutdown: GracefulShutdown) -> None:
    shutdown.request("test")
    await asyncio.wait_for(task, 30)


@pytest.mark.parametrize("protocol", ["jsonrpc", "json2"])
async def test_each_kind_applies_once_and_a_replay_from_zero_changes_nothing(odoo_env: OdooSinkEnv,
                                                                             protocol: str) -> None:
    shipments = [shipment("1ZA1", code, n=n) for n, code in enumerate(["LABEL_CREATED", "IN_TRANSIT", "DELIVERED"])]
    shipments.append(shipment("1ZB2", "IN_TRANSIT", order_ref="S40003"))  # found by origin, gets the number
    shipped = order("S40002", fully_shipped=False, tracking="1ZC3")
    counted = inventory("WH", "MUG-01", "COUNTED", quantity=50)
    adjusted = inventory("WH", "MUG-01", "ADJUSTED", delta=-2, n=1)
    records = [*shipments, shipped, counted, adjusted]
    for value in records:
        await odoo_env.send(value)
    async with running_simulator(SimulatorConfig(api_key=KEY, delivery_state=True)) as running:
        sim = SimAdmin(running.url, running.session)
        await sim.seed(ORDERS)
        cfg = odoo_env.config(running.url, protocol)
        shutdown = GracefulShutdown()
        task = odoo_env.start(odoo_env.runtime(cfg), shutdown)
        counts = await settled(odoo_env, len(records))
        await stop(task, shutdown)
        assert counts == {"applied": len(records)}
        notes = await sim.notes_by_milestone()
        assert {mid: notes[mid] for mid in (s["milestone_id"] for s in shipments)} == dict.fromkeys(
            (s["milestone_id"] for s in shipments), 1)
        assert notes[shipped["milestone_id"]] == 1
        pickings = {p["origin"]: p for p in await sim.records("stock.picking") if not p.get("backorder_id")}
        assert pickings["S40001"]["delivery_state"] == "customer_delivered"
        assert pickings["S40003"]["carrier_tracking_ref"] == "1ZB2"
        assert pickings["S40003"]["delivery_state"] == "in_transit"
        assert pickings["S40002"]["state"] == "done"
        assert pickings["S40002"]["carrier_tracking_ref"] == "1ZC3"
        backorders = [p for p in await sim.records("stock.picking") if p.get("backorder_id")]
        assert [(b["origin"], b["state"]) for b in backorders] == [("S40002", "assigned")]
        quants = [q for q in await sim.records("stock.quant") if q["product_id"] == 1 and q["location_id"] == 1]
        assert sum(q["quantity"] for q in quants) == 48  # counted 50, then -2
        effects = await effect_calls(sim)
        assert effects.count("stock.picking.button_validate") == 1
        assert effects.count("stock.quant.action_apply_inventory") == 2
        assert effects.count("stock.picking.message_post") == len(shipments) + 1
        assert {c["protocol"] for c in await sim.calls()} == {protocol}

        # Replay everything from offset 0 under a new group, same ledger: no call reaches Odoo.
        before = len(await sim.calls())
        duplicates = SKIPPED.labels(cfg.sink_name, "duplicate")._value.get()
        replay = odoo_env.config(running.url, protocol, group_id=f"replay-{odoo_env.unique}")
        shutdown2 = GracefulShutdown()
        task2 = odoo_env.start(odoo_env.runtime(replay), shutdown2)

        async def all_skipped() -> bool:
            return bool(SKIPPED.labels(cfg.sink_name, "duplicate")._value.get() - duplicates == len(records))

        await eventually(all_skipped, 60, "replay skipped as duplicates")
        await stop(task2, shutdown2)
        assert len(await sim.calls()) == before


async def test_a_late_in_transit_never_moves_delivered_back(odoo_env: OdooSinkEnv) -> None:
    delivered = shipment("1ZA1", "DELIVERED", n=5)
    late = shipment("1ZA1", "IN_TRANSIT", n=1, out_of_order=True)
    returned = shipment("1ZA1", "RETURN_TO_SENDER", n=9)  # DELIVERED -> RETURN_* is allowed
    for value in (delivered, late):
        await odoo_env.send(value)
    async with running_simulator(SimulatorConfig(api_key=KEY, delivery_state=True)) as running:
        sim = SimAdmin(running.url, running.session)
        await sim.seed(ORDERS[:1])
        cfg = odoo_env.config(running.url)
        shutdown = GracefulShutdown()
        task = odoo_env.start(odoo_env.runtime(cfg), shutdown)
        assert await settled(odoo_env, 2) == {"applied": 1, "skipped_stale": 1}
        [picking] = await sim.records("stock.picking")
        assert (picking["delivery_state"], picking["date_delivered"]) == ("customer_delivered", "2026-11-20 10:35:00")
        assert "Delivered" in picking["tracking_state"]
        notes = await sim.notes_by_milestone()
        assert (notes[delivered["milestone_id"]], notes[late["milestone_id"]]) == (1, 1)
        writes = [c for c in await sim.calls(method="write") if c.get("ok")]
        assert len(writes) == 1  # only DELIVERED wrote the picking
        await odoo_env.send(returned)
        assert await settled(odoo_env, 3) == {"applied": 2, "skipped_stale": 1}
        [picking] = await sim.records("stock.picking")
        assert picking["delivery_state"] == "incident"
        await stop(task, shutdown)


async def test_permanent_errors_are_dead_lettered_with_headers_and_a_ledger_row(odoo_env: OdooSinkEnv) -> None:
    refused = order("S40002")
    orphan = shipment("NOPE1", "IN_TRANSIT", order_ref="S49999")
    fine = shipment("1ZA1", "IN_TRANSIT")
    refused_at = await odoo_env.send(refused)
    await odoo_env.send(orphan)
    await odoo_env.send(fine)
    async with running_simulator(SimulatorConfig(api_key=KEY, delivery_state=True)) as running:
        sim = SimAdmin(running.url, running.session)
        await sim.seed(ORDERS)
        await sim.faults(fail_next=[{"error": "ValidationError", "model": "stock.picking", "method": "button_validate",
                                     "message": "The carrier account is not configured"}])
        cfg = odoo_env.config(running.url, grace_period=1.0, grace_max_delay=0.2)
        shutdown = GracefulShutdown()
        task = odoo_env.start(odoo_env.runtime(cfg), shutdown)
        assert await settled(odoo_env, 3) == {"applied": 1, "dead_lettered": 2}
        await stop(task, shutdown)
        assert [p["state"] for p in await sim.records("stock.picking") if p["origin"] == "S40002"] == ["assigned"]
    rows = {mid: (status, error) for mid, status, _, error in await odoo_env.ledger_rows()}
    assert rows[refused["milestone_id"]][0] == "dead_lettered"
    assert "OdooValidationError" in rows[refused["milestone_id"]][1]
    assert "missing record after grace period" in rows[orphan["milestone_id"]][1]
    dead = await asyncio.to_thread(odoo_env.read_dlq, 2)
    assert len(dead) == 2
    by_key = {m.key(): h.to_dict(m.headers()) for m in dead}
    refused_headers = by_key[b"S40002"]
    assert refused_headers[h.ERROR_CLASS] == "OdooValidationError"
    assert "carrier account is not configured" in refused_headers[h.ERROR_MESSAGE]
    assert (refused_headers[h.ORIGINAL_TOPIC], refused_headers[h.ORIGINAL_OFFSET]) == (
        odoo_env.topic("order"), str(refused_at[1]))
    assert refused_headers[h.CONSUMER] == odoo_env.sink_name
    assert refused_headers[h.CORRELATION_ID] == refused["correlation_id"]
    assert by_key[b"ups:NOPE1"][h.ERROR_CLASS] == "NotYetAvailableError"


async def test_revoked_credentials_pause_the_sink_until_fixed(odoo_env: OdooSinkEnv) -> None:
    values = [shipment("1ZA1", "IN_TRANSIT", n=n) for n in range(5)] + [order("S40003", "REJECTED_BY_WAREHOUSE")]
    for value in values:
        await odoo_env.send(value)
    async with running_simulator(SimulatorConfig(api_key=KEY, delivery_state=True)) as running:
        sim = SimAdmin(running.url, running.session)
        await sim.seed(ORDERS)
        await sim.faults(auth_revoked=True)
        cfg = odoo_env.config(running.url, "json2", auth_retry_interval=0.5, health_port=0)
        runtime = odoo_env.runtime(cfg)
        shutdown = GracefulShutdown()
        task = odoo_env.start(runtime, shutdown)

        async def paused() -> bool:
            return bool(AUTH_FAILED.labels(cfg.sink_name, "odoo")._value.get() == 1)

        await eventually(paused, 30, "auth alert")
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{runtime.health_port}/readyz") as r:
            assert r.status == 503 and (await r.json())["credentials"] == "refused"
        await asyncio.sleep(2.0)
        refused = [c for c in await sim.calls() if not c.get("ok")]
        assert 1 <= len(refused) <= cfg.concurrency + 8  # a first wave, then one probe per interval
        assert await sim.notes_by_milestone() == {}
        await sim.faults(auth_revoked=False)
        assert await settled(odoo_env, len(values)) == {"applied": len(values)}
        assert AUTH_FAILED.labels(cfg.sink_name, "odoo")._value.get() == 0
        await stop(task, shutdown)
        assert set((await sim.notes_by_milestone()).values()) == {1}
        assert len(await sim.notes_by_milestone()) == len(values)
    assert await asyncio.to_thread(odoo_env.read_dlq, 0, 1.0) == []


async def test_shipments_without_a_recent_milestone_are_counted(odoo_env: OdooSinkEnv) -> None:
    values = [shipment("1ZA1", "IN_TRANSIT"), shipment("1ZB2", "OUT_FOR_DELIVERY", order_ref="S40003"),
              shipment("1ZC3", "DELIVERED", order_ref="S40002"), order("S40001", "REJECTED_BY_WAREHOUSE")]
    for value in values:
        await odoo_env.send(value)
    async with running_simulator(SimulatorConfig(api_key=KEY)) as running:
        await SimAdmin(running.url, running.session).seed(ORDERS)
        cfg = odoo_env.config(running.url)
        shutdown = GracefulShutdown()
        task = odoo_env.start(odoo_env.runtime(cfg), shutdown)
        await settled(odoo_env, len(values))
        await stop(task, shutdown)
    monitor = StaleShipmentsMonitor(odoo_env.stack.database, schema=odoo_env.schema, sink=cfg.sink_name,
                                    topic=odoo_env.topic("shipment"), older_than_hours=24)
    assert await monitor.refresh() == 0
    async with await psycopg.AsyncConnection.connect(odoo_env.stack.database, autocommit=True) as conn:
        # Age every entity (shipments and the order) by 30 hours.
        await conn.execute(f'UPDATE "{odoo_env.schema}".sink_entity_state SET updated_at = %s',
                           (dt.datetime.now(dt.UTC) - dt.timedelta(hours=30),))
    # Two undelivered shipments; the delivered one and the order entity do not count.
    assert await monitor.refresh() == 2
    assert monitor.gauge._value.get() == 2
    assert await StaleShipmentsMonitor(odoo_env.stack.database, schema=odoo_env.schema, sink=cfg.sink_name,
                                       topic=odoo_env.topic("shipment"), older_than_hours=48).refresh() == 0
