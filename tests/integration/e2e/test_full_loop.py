"""The whole backbone as real processes on the real stack, driven only from the outside (the demo
scenario): one released order ends with the Odoo picking validated, tracking ref set and delivered,
every hop in the sink ledgers, and `backbone trace` finds it end to end."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from backbone.config import BackboneConfig, load
from backbone.serialization import SchemaRegistry
from backbone.topics import load_topics
from backbone.trace import trace
from simulators.demo import DemoUrls, play
from tests.conftest import IsolatedTopics, StackEndpoints
from tests.integration.pipeline_helpers import free_port, service_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_released_order_is_delivered_in_odoo_and_traceable(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, tmp_path: Path
) -> None:
    ports = {
        name: free_port()
        for name in ("ingest", "normalizer", "odoo", "wms", "carrier", "odoo_sink", "wms_bridge", "carrier_bridge")
    }
    ingest = f"http://127.0.0.1:{ports['ingest']}"
    suffix = isolated_topics.suffix
    env = {
        "BACKBONE_TOPICS_FILE": str(isolated_topics.path),
        "BACKBONE_INGEST_DEMO_SECRETS": "1",
        "BACKBONE_LOG_LEVEL": "WARNING",
        "BACKBONE_NORMALIZER_APP_ID": f"status_normalizer-{suffix}",
        "BACKBONE_NORMALIZER_DATADIR": str(tmp_path / "normalizer"),
        "BACKBONE_NORMALIZER_WEB_PORT": str(ports["normalizer"]),
        "BACKBONE_NORMALIZER_BATCH_WITHIN": "0.01",
        "BACKBONE_ODOO_URL": f"http://127.0.0.1:{ports['odoo']}",
        "BACKBONE_ODOO_API_KEY": "odoo-dev-key",
        "BACKBONE_WMS_URL": f"http://127.0.0.1:{ports['wms']}",
        "BACKBONE_WMS_API_KEY": "demo-wms-key",
        "BACKBONE_CARRIER_URL": f"http://127.0.0.1:{ports['carrier']}",
        "BACKBONE_CARRIER_API_KEY": "demo-carrier-key",
        "BACKBONE_ODOO_SINK_HEALTH_PORT": str(ports["odoo_sink"]),
        "BACKBONE_WMS_BRIDGE_HEALTH_PORT": str(ports["wms_bridge"]),
        "BACKBONE_CARRIER_BRIDGE_HEALTH_PORT": str(ports["carrier_bridge"]),
        "BACKBONE_WMS_BRIDGE_RECONCILE_INTERVAL": "2",
        "BACKBONE_INGEST_PORT": str(ports["ingest"]),
        "BACKBONE_INGEST_HOST": "127.0.0.1",
    }
    specs = [
        (
            ["sim", "odoo", "--port", str(ports["odoo"]), "--delivery-state"],
            f"http://127.0.0.1:{ports['odoo']}/_sim/state",
        ),
        (
            ["sim", "wms", "--port", str(ports["wms"]), "--webhook-url", f"{ingest}/v1/webhooks/shiphero"],
            f"http://127.0.0.1:{ports['wms']}/_sim/state",
        ),
        (
            ["sim", "carrier", "--port", str(ports["carrier"]), "--webhook-url", f"{ingest}/v1/webhooks/easypost"],
            f"http://127.0.0.1:{ports['carrier']}/_sim/state",
        ),
        (["ingest", "--port", str(ports["ingest"]), "--host", "127.0.0.1"], f"{ingest}/readyz"),
        (["normalizer"], f"http://127.0.0.1:{ports['normalizer']}/readyz"),
        (["odoo-sink"], f"http://127.0.0.1:{ports['odoo_sink']}/healthz"),
        (["wms-bridge"], f"http://127.0.0.1:{ports['wms_bridge']}/healthz"),
        (["carrier-bridge"], f"http://127.0.0.1:{ports['carrier_bridge']}/healthz"),
    ]
    with contextlib.ExitStack() as stack:
        for n, (args, health) in enumerate(specs):
            log = tmp_path / f"{n}-{'-'.join(a for a in args[:2] if not a.startswith('-'))}.log"
            stack.enter_context(service_process(args, env, health, log, timeout=120))
        result = play(
            DemoUrls(
                ingest=ingest,
                odoo=f"http://127.0.0.1:{ports['odoo']}",
                wms=f"http://127.0.0.1:{ports['wms']}",
                carrier=f"http://127.0.0.1:{ports['carrier']}",
            ),
            timeout=150,
            say=lambda _: None,
        )

    picking = result.picking
    assert picking["state"] == "done"
    assert result.tracking_number in picking["carrier_tracking_ref"]
    assert picking["delivery_state"] == "customer_delivered"
    # One note per applied shipment milestone, never twice (the redelivered webhook added nothing).
    assert len(result.notes) == len(set(result.notes))

    cfg = load(BackboneConfig)
    report = trace(
        cfg,
        load_topics(isolated_topics.path),
        result.tracking_number,
        since=timedelta(hours=1),
        decode=SchemaRegistry.connect(stack_env.registry).decode,
    )
    codes = [h.summary.get("code") for h in report.canonical]
    for code in ("LABEL_CREATED", "IN_TRANSIT", "EXCEPTION", "OUT_FOR_DELIVERY", "DELIVERED"):
        assert codes.count(code) == 1, (code, codes)
    applied = {(r["sink"], r["status"]) for r in report.ledger}
    assert ("odoo_sink", "applied") in applied
    assert ("carrier_bridge", "applied") in applied
    assert report.trace_ids

    # The same trace through the CLI, as on-call would run it.
    out = subprocess.run(
        [sys.executable, "-m", "backbone.cli.main", "trace", result.order_ref, "--json", "--since-hours", "1"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["found"] and doc["raw"] and doc["canonical"] and doc["ledger"]
    assert {"wms_bridge", "odoo_sink"} <= {row["sink"] for row in doc["ledger"]}
