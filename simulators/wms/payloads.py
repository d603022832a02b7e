"""Webhook bodies in the shapes ShipHero and ShipBob publish (see tests/unit/simulators/fixtures/).

ShipHero: one ``Shipment Update`` per package (``package_number`` of ``total_packages``), and
``Order Canceled``. ShipBob: one ``order.shipped`` per shipment and ``order.shipment.cancelled``.
Picked and packed are not pushed by either vendor's public webhooks; they show in ``GET /v1/orders``.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from simulators.common.http import iso
from simulators.wms.config import CARRIERS, WmsSimConfig
from simulators.wms.orders import Order, Package

__all__ = [
    "shipbob_order_cancelled",
    "shipbob_order_shipped",
    "shiphero_order_canceled",
    "shiphero_shipment_update",
]


def _uuid(kind: str, number: int) -> str:
    # ShipHero's public ids are base64 of "<Type>:<numeric id>" (GraphQL global ids).
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def shiphero_shipment_update(order: Order, package: Package, config: WmsSimConfig) -> dict[str, Any]:
    return {
        "webhook_type": "Shipment Update",
        "test": "0",
        "fulfillment": {
            "shipment_id": package.shipment_id,
            "shipment_uuid": _uuid("Shipment", package.shipment_id),
            "warehouse": config.warehouse,
            "warehouse_id": config.warehouse_id,
            "warehouse_uuid": _uuid("Warehouse", config.warehouse_id),
            "order_id": order.id,
            "order_uuid": _uuid("Order", order.id),
            "order_number": order.order_ref,
            "partner_order_id": order.partner_order_id or order.order_ref,
            "tracking_number": package.tracking_number,
            "shipping_carrier": package.carrier,
            "shipping_method": package.service,
            "package_number": package.package_number,
            "total_packages": package.total_packages,
            "line_items": [{**item, "lot_name": None} for item in package.line_items],
            "packages": [{
                "package_number": package.package_number,
                "shipping_carrier": package.carrier,
                "shipping_method": package.service,
                "tracking_number": package.tracking_number,
                "weight_in_oz": package.weight_in_oz,
                "width": 30, "length": 40, "height": 24,
            }],
            "created_at": _warehouse_local(package.shipped_at, config),
        },
    }


def shiphero_order_canceled(order: Order, config: WmsSimConfig) -> dict[str, Any]:
    return {
        "webhook_type": "Order Canceled",
        "test": "0",
        "order_id": order.id,
        "order_uuid": _uuid("Order", order.id),
        "order_number": order.order_ref,
        "partner_order_id": order.partner_order_id or order.order_ref,
        "warehouse_id": config.warehouse_id,
        "fulfillment_status": "canceled",
        "canceled_at": _warehouse_local(order.updated_at, config),
    }


def _shipbob_base(topic: str, order: Order, config: WmsSimConfig) -> dict[str, Any]:
    location_id, location_name = config.shipbob_location
    return {
        "topic": topic,
        "event_time": iso(order.updated_at),
        "order_id": order.id,
        "reference_id": order.order_ref,
        "location": {"id": location_id, "name": location_name},
    }


def shipbob_order_shipped(order: Order, package: Package, config: WmsSimConfig) -> dict[str, Any]:
    body = _shipbob_base("order.shipped", order, config)
    body.update({
        "shipment_id": package.shipment_id,
        "status": "Completed",
        "tracking": {
            "carrier": CARRIERS[package.carrier][0],
            "carrier_service": package.service.title(),
            "tracking_id": package.tracking_number,
            "tracking_url": package.tracking_url,
        },
        "products": [{"reference_id": i["sku"], "quantity": i["quantity"]} for i in package.line_items],
    })
    return body


def shipbob_order_cancelled(order: Order, config: WmsSimConfig) -> dict[str, Any]:
    body = _shipbob_base("order.shipment.cancelled", order, config)
    body.update({
        "status": "Cancelled",
        "products": [{"reference_id": line["sku"], "quantity": line["qty"]} for line in order.lines],
    })
    return body


def _warehouse_local(at: datetime, config: WmsSimConfig) -> str:
    """ShipHero sends zone-less timestamps in the warehouse's local time, as the normalizer assumes."""
    return at.astimezone(ZoneInfo(config.warehouse_tz)).strftime("%Y-%m-%d %H:%M:%S")
