"""odoo_sink under failure: Odoo down for a window in the middle of 5,000 milestones, and the sink
process SIGKILLed mid-run. Effects are counted at the simulator: 0 missing, 0 double.

``ODOO_SINK_OUTAGE_S`` shortens the outage window (default 60 s, as the issue asks).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backbone.shutdown import GracefulShutdown
from backbone.sink import BreakerState
from backbone.sink.metrics import BREAKER_STATE
from simulators.odoo import SimulatorConfig
from simulators.odoo.testing import running_simulator
from tests.integration.odoo_sink.conftest import (
    KEY,
    OdooSinkEnv,
    SimAdmin,
    admin,
    eventually,
    seed_orders,
    settled,
    simulator_process,
    stop_process,
)
from tests.integration.pipeline_helpers import free_port, wait_http
from tests.unit.odoo_sink.records import inventory, order, shipment

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.slow]

HAPPY_PATH = ["LABEL_CREATED", "SHIPPED", "CARRIER_PICKED_UP", "IN_TRANSIT", "IN_TRANSIT", "IN_TRANSIT",
              "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPT_FAILED", "DELIVERED"]


def journeys(shipments: int, codes: list[str], *, prefix: str = "T") -> list[dict[str, Any]]:
    """Every shipment's milestones in order, shipments interleaved (as carriers report them)."""
    return [shipment(f"{prefix}{k:05d}", code, n=n) for n, code in enumerate(codes) for k in range(shipments)]


async def readyz(port: int | None) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as resp:
        return resp.status


async def test_odoo_down_in_the_middle_of_5000_milestones(odoo_env: OdooSinkEnv, tmp_path: Path) -> None:
    outage = float(os.environ.get("ODOO_SINK_OUTAGE_S", "60"))
    values = journeys(500, HAPPY_PATH)
    # One shipment whose picking Odoo does not have yet: its key retries, its partition waits.
    late = [shipment("LATE0", code, order_ref="S5LATE", n=n) for n, code in enumerate(HAPPY_PATH[:5])]
    with simulator_process(tmp_path / "odoo-sim.log") as url:
        async with admin(url) as sim:
            await sim.seed(seed_orders(500))
            await odoo_env.send_all([*late, *values])
            total = len(values) + len(late)
            late_partition = odoo_env.placed[late[0]["milestone_id"]][0]
            cfg = odoo_env.config(url, concurrency=64, health_port=0, breaker_failure_threshold=5,
                                  breaker_cooldown=2.0, grace_period=600, retry_max_attempts=8)
            runtime = odoo_env.runtime(cfg)
            states: list[int] = []
            ready: list[int] = []

            async def sample() -> None:
                while True:
                    states.append(int(BREAKER_STATE.labels(cfg.sink_name, "odoo")._value.get()))
                    if runtime.health_port:
                        ready.append(await readyz(runtime.health_port))
                    await asyncio.sleep(0.1)

            shutdown = GracefulShutdown()
            started = time.monotonic()
            task = odoo_env.start(runtime, shutdown)
            sampler = asyncio.create_task(sample())
            await settled(odoo_env, 1500, within=90)
            rate_before = 1500 / (time.monotonic() - started)

            await sim.faults(down="503")
            down_at = time.monotonic()

            async def opened() -> bool:
                return runtime.breaker.opened_count >= 1

            await eventually(opened, 15, "breaker opens")
            await asyncio.sleep(1.0)
            during = (await odoo_env.ledger_counts()).get("applied", 0)
            await asyncio.sleep(max(0.0, outage - (time.monotonic() - down_at)))
            after_window = (await odoo_env.ledger_counts()).get("applied", 0)
            assert after_window - during <= cfg.concurrency  # nothing got through while Odoo was down
            assert runtime.breaker.state is not BreakerState.CLOSED
            await sim.faults(down=None)
            recovered = time.monotonic()

            # The one failing key holds back its own partition only: every other one drains.
            others = {mid for mid, (p, _) in odoo_env.placed.items() if p != late_partition}

            async def others_done() -> bool:
                done = {mid for mid, status, *_ in await odoo_env.ledger_rows("status = 'applied'")}
                return others <= done

            await eventually(others_done, 120, "partitions without the failing key drained", every=0.5)
            assert not {mid for mid, status, *_ in await odoo_env.ledger_rows("status = 'applied'")} & {
                m["milestone_id"] for m in late}
            await sim.seed([{"order_ref": "S5LATE", "lines": [{"sku": "MUG-01", "qty": 1}]}])
            counts = await settled(odoo_env, total, within=120)
            drained = time.monotonic() - recovered
            sampler.cancel()
            shutdown.request("test")
            await asyncio.wait_for(task, 30)

            assert counts == {"applied": total}  # none lost, none dead-lettered
            notes = await sim.notes_by_milestone()
            assert notes == Counter({v["milestone_id"]: 1 for v in [*values, *late]})  # none twice, none missing
            [picking] = [p for p in await sim.records("stock.picking") if p["origin"] == "S5LATE"]
            assert picking["carrier_tracking_ref"] == "LATE0"
            assert BreakerState.OPEN in states and states[-1] == BreakerState.CLOSED
            assert 503 in ready and ready[-1] == 200
            assert BreakerState(BREAKER_STATE.labels(cfg.sink_name, "odoo")._value.get()) is BreakerState.CLOSED
            refused = [c for c in await sim.calls() if c.get("status") == 503]
            # The breaker stopped the hammering: a first wave, then about one probe per cooldown.
            assert len(refused) <= cfg.concurrency * 2 + outage / cfg.breaker_cooldown * 2, len(refused)
    assert await asyncio.to_thread(odoo_env.read_dlq, 0, 1.0) == []
    print(f"\n{total} milestones, outage {outage:.0f}s: {rate_before:.0f}/s before, {during} applied when the "
          f"breaker opened, drained {total - after_window} in {drained:.1f}s after recovery, "
          f"{len(refused)} refused calls during the outage")


async def test_sigkill_mid_run_and_restart_gives_each_effect_exactly_once(odoo_env: OdooSinkEnv,
                                                                          tmp_path: Path) -> None:
    values = journeys(300, ["LABEL_CREATED", "IN_TRANSIT", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"])
    orders = [order(f"S6{k:04d}", fully_shipped=k % 2 == 0, n=k) for k in range(60)]
    counts_ = [inventory("WH", "MUG-01", "COUNTED", quantity=float(q), n=q) for q in range(1, 21)]
    records = [*values, *orders, *counts_]
    await odoo_env.send_all(records)
    seeded = seed_orders(300) + [{"order_ref": f"S6{k:04d}", "lines": [{"sku": "TEE-M", "qty": 2, "quantity": 1}]}
                                 for k in range(60)]
    log = tmp_path / "odoo-sink.log"
    async with running_simulator(SimulatorConfig(api_key=KEY, delivery_state=True)) as running:
        sim = SimAdmin(running.url, running.session)
        await sim.seed(seeded)
        await sim.faults(delay_ms=15)  # calls take a while: some are in flight when the process dies
        port = free_port()
        env = {**os.environ, **odoo_env.process_env(running.url, "json2",
                                                    BACKBONE_ODOO_SINK_HEALTH_PORT=str(port),
                                                    BACKBONE_ODOO_SINK_STALE_CHECK_INTERVAL="1")}

        def start() -> subprocess.Popen[bytes]:
            with log.open("ab") as out:
                return subprocess.Popen([sys.executable, "-m", "services.odoo_sink"], env=env, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)

        first = start()
        try:
            await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", first, 60, log)
            await settled(odoo_env, len(records) * 2 // 5, within=90)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            at_kill = await odoo_env.ledger_counts()
        finally:
            stop_process(first, signal.SIGKILL)
        assert at_kill.get("in_flight", 0) > 0, at_kill  # the kill really cut calls mid-way
        second = start()
        try:
            counts = await settled(odoo_env, len(records), within=120)
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                metrics = await resp.text()
        finally:
            stop_process(second)
        assert second.returncode == 0, log.read_text()[-3000:]
        assert counts == {"applied": len(records)}
        notes = await sim.notes_by_milestone()
        assert notes == Counter({r["milestone_id"]: 1 for r in [*values, *orders]})
        validated = Counter(c["ids"][0] for c in await sim.successful("button_validate"))
        assert sorted(validated.values()) == [1] * len(orders)
        pickings = await sim.records("stock.picking")
        ours = [p for p in pickings if str(p["origin"]).startswith("S6")]
        assert Counter((p["state"], bool(p["backorder_id"])) for p in ours) == {("done", False): 60,
                                                                             ("assigned", True): 30}
        quants = [q for q in await sim.records("stock.quant") if q["product_id"] == 1 and q["location_id"] == 1]
        assert sum(q["quantity"] for q in quants) == 20  # the last count wins, whatever was repeated
    reconciled = [r for r in await odoo_env.ledger_rows() if isinstance(r[2], dict) and r[2].get("reconciled")]
    assert "backbone_shipments_without_milestone" in metrics
    print(f"\nkilled with {at_kill}; after restart {counts}; {len(reconciled)} records reconciled instead of re-sent")
