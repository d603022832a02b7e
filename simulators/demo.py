"""The scripted demo (``make demo`` / ``backbone demo``): one order from release to delivery.

Drives only the outside world, exactly as partners would: Odoo (simulator) releases an order to
ingest; the WMS simulator picks, packs and ships it; the carrier simulator moves the parcel through
in transit, one weather exception, out for delivery and delivered, and re-sends one webhook. The
backbone (ingest, normalizer, sinks, bridges) does the rest. The result is read back from the
canonical topics (the shipment timeline) and from the Odoo simulator (the picking).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = ["DemoError", "DemoResult", "DemoUrls", "play"]


class DemoError(RuntimeError):
    """A step of the demo did not happen in time; the message says which and where to look."""


@dataclass(frozen=True)
class DemoUrls:
    ingest: str = "http://127.0.0.1:8080"
    odoo: str = "http://127.0.0.1:8069"
    wms: str = "http://127.0.0.1:8070"
    carrier: str = "http://127.0.0.1:8071"
    odoo_api_key: str = "demo-odoo-api-key-000000001"  # config/demo-secrets.yaml (local demo only)


@dataclass
class DemoResult:
    order_ref: str
    tracking_number: str = ""
    steps: list[tuple[str, float]] = field(default_factory=list)
    picking: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    redelivered: bool = False


def _wait(what: str, check: Callable[[], Any], timeout: float, hint: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise DemoError(f"{what} did not happen within {timeout:.0f}s ({hint})")


def play(urls: DemoUrls | None = None, *, order_ref: str | None = None, timeout: float = 120.0,
         say: Callable[[str], None] = print) -> DemoResult:
    urls = urls or DemoUrls()
    ref = order_ref or f"SO-DEMO-{uuid.uuid4().hex[:6].upper()}"
    result = DemoResult(ref)
    t0 = time.monotonic()

    def step(text: str) -> None:
        result.steps.append((text, round(time.monotonic() - t0, 1)))
        say(f"[{time.monotonic() - t0:5.1f}s] {text}")

    with httpx.Client(timeout=10) as http:
        # 1. Odoo has a confirmed sale order with an outgoing picking.
        http.post(f"{urls.odoo}/_sim/seed", json=[{
            "order_ref": ref, "lines": [{"sku": "CHAIR-OAK-01", "qty": 2}], "state": "assigned"}]).raise_for_status()
        step(f"Odoo: sale order {ref} confirmed, outgoing picking ready")

        # 2. Odoo's automation releases it to the warehouse through ingest (generic API key auth).
        released = {
            "event": "order.released", "occurred_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "order_ref": ref, "picking": f"WH/OUT/{ref}", "warehouse": "Reno DC", "carrier": "UPS",
            "service_level": "ground", "lines": [{"sku": "CHAIR-OAK-01", "qty": 2, "lot": None}],
            "ship_to": {"name": "Demo Customer", "street": "1 Main St", "city": "Decatur", "postal_code": "30030",
                        "country": "US", "phone": "+1 404 555 0100"}, "reason": None,
        }
        resp = http.post(f"{urls.ingest}/v1/webhooks/odoo", content=json.dumps(released),
                         headers={"Authorization": f"Bearer {urls.odoo_api_key}", "Content-Type": "application/json",
                                  "X-Correlation-Id": f"demo-{ref}"})
        if resp.status_code != 202:
            raise DemoError(f"ingest answered {resp.status_code} to the release: {resp.text}")
        step(f"ingest: release accepted (202, event {resp.json().get('event_id', '?')})")

        def wms_order() -> dict[str, Any] | None:
            for order in http.get(f"{urls.wms}/_sim/state").json().get("orders", []):
                if order["order_ref"] == ref:
                    return dict(order)
            return None

        order = _wait("WMS order creation", wms_order, timeout, "wms_bridge log, `backbone trace " + ref + "`")
        step(f"wms_bridge: WMS order {order['id']} created (status {order['status']})")

        # 3. The warehouse packs: the carrier bridge books a label once PACKED reaches it.
        http.post(f"{urls.wms}/_sim/advance/{order['id']}", params={"to": "packed"}).raise_for_status()
        step("WMS: order picked and packed (seen by the reconciliation poll)")

        def label() -> dict[str, Any] | None:
            for shipment in http.get(f"{urls.carrier}/_sim/state").json().get("shipments", []):
                if shipment.get("reference") == ref and shipment.get("tracking_code"):
                    return dict(shipment)
            return None

        shipment = _wait("label purchase", label, timeout, "carrier_bridge log")
        result.tracking_number = shipment["tracking_code"]
        step(f"carrier_bridge: label bought, tracking {result.tracking_number}, tracker registered")

        def tracking_in_odoo() -> bool:
            state = http.get(f"{urls.odoo}/_sim/state").json()
            return any(p.get("origin") == ref and result.tracking_number in str(p.get("carrier_tracking_ref") or "")
                       for p in _records(state, "stock.picking"))

        # A parcel moves only once it is labelled: wait until LABEL_CREATED reached Odoo.
        _wait("tracking number in Odoo", tracking_in_odoo, timeout, "odoo_sink log")
        step(f"odoo_sink: LABEL_CREATED applied, picking tracking ref {result.tracking_number}")

        # 4. The warehouse ships (a signed ShipHero webhook into ingest).
        http.post(f"{urls.wms}/_sim/advance/{order['id']}", params={"to": "shipped"}).raise_for_status()
        step("WMS: shipped (ShipHero 'Shipment Update' webhook -> ingest)")

        # 5. The carrier moves the parcel; every step is a signed EasyPost webhook into ingest.
        def tracker() -> dict[str, Any] | None:
            for t in http.get(f"{urls.carrier}/_sim/state").json().get("trackers", []):
                if t["tracking_code"] == result.tracking_number:
                    return dict(t)
            return None

        trk = _wait("tracker registration", tracker, timeout, "carrier_bridge log")
        for status, detail, message in (
            ("in_transit", "arrived_at_facility", "Arrived at regional facility"),
            ("in_transit", "weather_delay", "Delayed by severe weather"),
            ("out_for_delivery", "out_for_delivery", "Out for delivery"),
            ("delivered", "arrived_at_destination", "Delivered, front door"),
        ):
            http.post(f"{urls.carrier}/_sim/advance/{trk['id']}",
                      params={"status": status, "detail": detail, "message": message}).raise_for_status()
            step(f"carrier: {status}/{detail}")
            time.sleep(1.0)  # distinct checkpoint times, as a real parcel has
        http.post(f"{urls.carrier}/_sim/redeliver/{trk['id']}").raise_for_status()
        result.redelivered = True
        step("carrier: last webhook delivered again (a redelivery: nothing new may come out)")

        # 6. Odoo ends delivered, with one note per milestone.
        def delivered() -> dict[str, Any] | None:
            state = http.get(f"{urls.odoo}/_sim/state").json()
            for picking in _records(state, "stock.picking"):
                if picking.get("origin") == ref and picking.get("state") == "done" and (
                        picking.get("delivery_state") in (None, "customer_delivered")
                        and _has_note(state, picking, "DELIVERED")):
                    return picking
            return None

        result.picking = _wait("Odoo picking delivered", delivered, timeout, "odoo_sink log, `backbone dlq list`")
        state = http.get(f"{urls.odoo}/_sim/state").json()
        result.notes = _notes(state, result.picking)
        step(f"odoo_sink: picking {result.picking.get('name')} done, tracking ref "
             f"{result.picking.get('carrier_tracking_ref')}, delivery state {result.picking.get('delivery_state')}")
    return result


def _records(state: dict[str, Any], model: str) -> list[dict[str, Any]]:
    models = state.get("models", state)
    found = models.get(model, [])
    if isinstance(found, dict):
        return [dict(v, id=int(k)) if isinstance(v, dict) else v for k, v in found.items()]
    return list(found)


def _notes(state: dict[str, Any], picking: dict[str, Any]) -> list[str]:
    return [str(m.get("body", "")) for m in _records(state, "mail.message")
            if m.get("model") == "stock.picking" and m.get("res_id") == picking.get("id")]


def _has_note(state: dict[str, Any], picking: dict[str, Any], code: str) -> bool:
    return any(code.lower() in note.lower() for note in _notes(state, picking))
