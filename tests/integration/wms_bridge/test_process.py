"""``backbone wms-bridge`` as a real process: health, readiness, metrics, SIGTERM ends it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.request
from pathlib import Path

import psycopg
import pytest
from aiohttp.test_utils import TestServer

from simulators.wms import WMS_SIM, create_app
from tests.conftest import IsolatedTopics
from tests.integration.pipeline_helpers import free_port, service_process, wait_http

pytestmark = pytest.mark.integration


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


async def test_the_service_runs_reports_and_stops_on_sigterm(
    isolated_topics: IsolatedTopics, unique: str, tmp_path: Path,
) -> None:
    wms = TestServer(create_app(), host="127.0.0.1")
    await wms.start_server()
    port = free_port()
    env = {
        "BACKBONE_WMS_URL": str(wms.make_url("")).rstrip("/"),
        "BACKBONE_WMS_BRIDGE_SINK_NAME": f"wms_proc_{unique}",
        "BACKBONE_WMS_BRIDGE_DLQ_ROLE": "dlq.wms_bridge",
        "BACKBONE_WMS_BRIDGE_LEDGER_SCHEMA": f"wms_proc_{unique}",
        "BACKBONE_WMS_BRIDGE_HEALTH_PORT": str(port),
        "BACKBONE_WMS_BRIDGE_HEALTH_HOST": "127.0.0.1",
        "BACKBONE_WMS_BRIDGE_RECONCILE_INTERVAL": "1",
    }
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "wms_bridge.log"
    try:
        with service_process(["wms-bridge"], env, None, log) as proc:
            # Blocking waits run off the loop that serves the simulator the bridge polls.
            await asyncio.to_thread(wait_http, f"{base}/readyz", proc, 90.0, log)
            metrics = await asyncio.to_thread(scrape, f"{base}/metrics")
            assert f'backbone_wms_orders_awaiting_acceptance{{bridge="wms_proc_{unique}"}} 0.0' in metrics
            calls = wms.app[WMS_SIM].calls.calls
            for _ in range(100):  # the reconciliation poll runs next to the sink
                if any(c.method == "GET" and c.path == "/v1/orders" for c in calls):
                    break
                await asyncio.sleep(0.1)
            assert any(c.method == "GET" and c.path == "/v1/orders" for c in calls)
            os.killpg(proc.pid, signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 40)
            assert code == 0, log.read_text()[-3000:]
    finally:
        await wms.close()
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "wms_proc_{unique}" CASCADE')
