"""Master data every simulated database starts with, and sales orders with outgoing pickings
created from a plain JSON list (``POST /_sim/seed``)::

    [{"order_ref": "S00042", "state": "assigned",
      "lines": [{"sku": "MUG-01", "qty": 2, "quantity": 1}],
      "packages": [{"tracking_ref": "1Z999AA10123456784", "carrier": "ups"}]}]

``quantity`` (the done/reserved quantity of a line) defaults to ``qty`` for a ready picking and 0
otherwise; a partial quantity is how a test gets the backorder wizard.
"""

from __future__ import annotations

from typing import Any

from simulators.odoo.store import Store

__all__ = ["DEMO_ORDERS", "STOCK_LOCATION", "base_data", "seed_orders"]

STOCK_LOCATION, CUSTOMER_LOCATION, OUTGOING_TYPE = 1, 2, 1
_CARRIERS = (("DHL Express", "dhl"), ("UPS", "ups"), ("FedEx", "fedex"), ("Standard delivery", "fixed"))
_PICKING_STATES = ("draft", "waiting", "confirmed", "assigned")

DEMO_ORDERS: list[dict[str, Any]] = [
    {"order_ref": "S00001", "lines": [{"sku": "MUG-01", "qty": 2}, {"sku": "TEE-M", "qty": 1}],
     "packages": [{"tracking_ref": "JD014600006281230704", "carrier": "dhl"}]},
    {"order_ref": "S00002", "lines": [{"sku": "MUG-01", "qty": 4, "quantity": 3}],
     "packages": [{"tracking_ref": "1Z999AA10123456784", "carrier": "ups"}]},
    {"order_ref": "S00003", "state": "confirmed", "lines": [{"sku": "CAP-BLK", "qty": 1}], "packages": []},
]


def base_data(store: Store, login: str) -> int:
    """Users, locations, the outgoing operation type, carriers and chatter subtypes; returns the bot uid."""
    store.create("res.users", {"name": "OdooBot", "login": "__system__"})
    uid = store.create("res.users", {"name": "Backbone Integration", "login": login})
    store.create("stock.location", {"name": "Stock", "complete_name": "WH/Stock", "usage": "internal"})
    store.create("stock.location", {"name": "Customers", "complete_name": "Partners/Customers", "usage": "customer"})
    store.create("stock.picking.type", {"name": "Delivery Orders", "code": "outgoing", "sequence_code": "OUT",
                                        "create_backorder": "ask"})
    for name, kind in _CARRIERS:
        store.create("delivery.carrier", {"name": name, "delivery_type": kind})
    store.create("mail.message.subtype", {"name": "Discussions", "internal": False})
    store.create("mail.message.subtype", {"name": "Note", "internal": True})
    return uid


def _find(store: Store, model: str, **values: Any) -> int | None:
    for rec_id, record in store.records[model].items():
        if all(record.get(k) == v for k, v in values.items()):
            return rec_id
    return None


def _carrier(store: Store, code: str) -> int:
    for rec_id, record in store.records["delivery.carrier"].items():
        if code.lower() in (str(record.get("delivery_type")).lower(), str(record.get("name")).lower()):
            return rec_id
    return store.create("delivery.carrier", {"name": code, "delivery_type": code.lower()})


def _product(store: Store, line: dict[str, Any]) -> int:
    sku = str(line["sku"])
    found = _find(store, "product.product", default_code=sku)
    if found is not None:
        return found
    product_id = store.create("product.product", {"name": line.get("name") or sku, "default_code": sku,
                                                  "type": "consu"})
    store.create("stock.quant", {"product_id": product_id, "location_id": STOCK_LOCATION,
                                 "quantity": float(line.get("on_hand", 100))})
    return product_id


def _packages(order: dict[str, Any]) -> tuple[list[str], str | None]:
    refs: list[str] = []
    carrier = order.get("carrier")
    for package in order.get("packages") or []:
        if isinstance(package, str):
            refs.append(package)
        elif isinstance(package, dict) and package.get("tracking_ref"):
            refs.append(str(package["tracking_ref"]))
            carrier = carrier or package.get("carrier")
        else:
            raise ValueError(f"package {package!r} must be a tracking number or {{'tracking_ref', 'carrier'}}")
    return refs, carrier


def _validate(store: Store, orders: Any) -> None:
    if not isinstance(orders, list):
        raise ValueError("expected a JSON list of orders")
    seen: set[str] = set()
    for order in orders:
        if not isinstance(order, dict) or not order.get("order_ref"):
            raise ValueError(f"order {order!r} needs an 'order_ref'")
        ref = str(order["order_ref"])
        if ref in seen or _find(store, "sale.order", name=ref) is not None:
            raise ValueError(f"order {ref} already exists")
        seen.add(ref)
        if order.get("state", "assigned") not in _PICKING_STATES:
            raise ValueError(f"state must be one of {_PICKING_STATES}")
        lines = order.get("lines")
        if not isinstance(lines, list) or not lines:
            raise ValueError(f"order {ref} needs at least one line")
        for line in lines:
            if not isinstance(line, dict) or not isinstance(line.get("sku"), str) or not line["sku"]:
                raise ValueError(f"line {line!r} needs a non-empty 'sku'")
            if not all(isinstance(line.get(k, 0), (int, float)) for k in ("qty", "quantity", "on_hand")):
                raise ValueError(f"line {line!r}: qty, quantity and on_hand must be numbers")
        _packages(order)


def seed_orders(store: Store, orders: Any) -> list[dict[str, Any]]:
    """Create one confirmed sales order and one outgoing picking per entry; all or nothing (ValueError)."""
    _validate(store, orders)
    created = []
    for order in orders:
        ref, state = str(order["order_ref"]), order.get("state", "assigned")
        refs, carrier = _packages(order)
        sale_id = store.create("sale.order", {"name": ref, "state": "sale",
                                              "client_order_ref": order.get("client_order_ref")})
        picking_id = store.create("stock.picking", {
            "name": store.next_name("WH/OUT/"), "origin": ref, "state": state, "picking_type_id": OUTGOING_TYPE,
            "location_id": STOCK_LOCATION, "location_dest_id": CUSTOMER_LOCATION, "sale_id": sale_id,
            "carrier_id": _carrier(store, carrier) if carrier else None,
            "carrier_tracking_ref": ",".join(refs) or None, "scheduled_date": order.get("scheduled_date"),
        })
        move_ids = []
        for line in order["lines"]:
            qty = float(line.get("qty", 1))
            done = float(line.get("quantity", qty if state == "assigned" else 0.0))
            product_id = _product(store, line)
            move_ids.append(store.create("stock.move", {
                "name": store.display_name("product.product", product_id), "picking_id": picking_id,
                "product_id": product_id, "product_uom_qty": qty, "quantity": done, "state": state,
                "location_id": STOCK_LOCATION, "location_dest_id": CUSTOMER_LOCATION,
            }))
        created.append({"order_ref": ref, "sale_order_id": sale_id, "picking_id": picking_id,
                        "picking_name": store.raw("stock.picking", picking_id)["name"], "move_ids": move_ids})
    return created
