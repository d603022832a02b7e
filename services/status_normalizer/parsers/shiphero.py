"""ShipHero webhooks (formats ``shiphero.shipment_update``, ``shiphero.inventory_update``,
``shiphero.inventory_change``, ``shiphero.order_canceled``, ``shiphero.order_allocated``,
``shiphero.order_packed_out`` and the catch-all ``shiphero.webhook``).

The ``webhook_type`` in the body decides; the format only fills in when the body has none.

Shipment Update -> one OrderMilestone SHIPPED per package in the payload, with carrier, tracking
number and package n of N; ``fully_shipped`` is true only when the payload's packages cover 1..N
(dedupe.py upgrades it when the other packages shipped in earlier messages). Each package with a
tracking number also yields a ShipmentMilestone SHIPPED (rank 50): it creates the shipment key
(``fedex:794618300113``) and ties it to the order before any carrier checkpoint arrives.

ShipHero sends local times without offset (``2026-11-20 15:32:08``); the zone is inferred from the
warehouse through the site directory of geo.yaml (name, or ``shiphero:<warehouse_id>``).
"""

from __future__ import annotations

from services.status_normalizer._time import ZoneHint
from services.status_normalizer.errors import ParseError
from services.status_normalizer.mapping import Resolution
from services.status_normalizer.records import CanonicalRecord, Location, RawContext

from ._build import Builder, lines_from, package_label, unique
from ._json import Node, load_json

__all__ = ["FORMATS", "parse"]

VENDOR = "shiphero"
FORMATS = {
    "shiphero.shipment_update": "Shipment Update",
    "shiphero.inventory_update": "Inventory Update",
    "shiphero.inventory_change": "Inventory Change",
    "shiphero.order_canceled": "Order Canceled",
    "shiphero.order_allocated": "Order Allocated",
    "shiphero.order_packed_out": "Order Packed Out",
    "shiphero.webhook": "",
}
_ORDER_TIMES = ("allocated_at", "canceled_at", "cancelled_at", "packed_at", "created_at", "updated_at", "timestamp")


def _webhook_type(root: Node, fmt: str) -> str:
    found = root.opt_text("webhook_type")
    if found is None and root.has("fulfillment"):
        found = root.obj("fulfillment").opt_text("webhook_type")
    if found is None and root.has("inventory"):
        first = root.items("inventory")[:1]
        found = first[0].opt_text("webhook_type") if first else None
    found = found or FORMATS.get(fmt) or None
    if found is None:
        raise ParseError("$.webhook_type: missing and the format does not name one")
    return found


def _site(b: Builder, name: str | None, warehouse_id: str | None) -> tuple[ZoneHint, Location | None]:
    keys = tuple(k for k in (name, f"{VENDOR}:{warehouse_id}" if warehouse_id else None) if k)
    site = next((b.mappings.geo.sites[k] for k in keys if k in b.mappings.geo.sites), None)
    label = name or warehouse_id
    location = site.location(label or "") if site else (Location(description=label) if label else None)
    return ZoneHint(sites=keys), location


def _shipment_update(root: Node, b: Builder, res: Resolution, wtype: str) -> list[CanonicalRecord]:
    f = root.obj("fulfillment")
    order_ref = f.opt_text("order_number") or f.text("partner_order_id")
    warehouse = f.opt_text("warehouse") or f.opt_text("warehouse_id")
    hint, location = _site(b, f.opt_text("warehouse"), f.opt_text("warehouse_id"))
    at = b.when_any(f, ("created_at", "shipped_at"), hint)
    total = f.opt_int("total_packages", minimum=1)
    packages = f.items("packages") or [f]
    numbers = [p.opt_int("package_number", minimum=1) for p in packages]
    if len(packages) == 1 and numbers[0] is None:
        numbers = [f.opt_int("package_number", minimum=1)]
    if total is not None and any(n is not None and n > total for n in numbers):
        raise ParseError(f"{f.path}: package_number is greater than total_packages")
    shipped = {n for n in numbers if n is not None}
    fully = None if total is None else shipped >= set(range(1, total + 1))
    items = f.items("line_items")
    records: list[CanonicalRecord] = []
    for pkg, number in zip(packages, numbers, strict=True):
        tracking = pkg.opt_text("tracking_number") or f.opt_text("tracking_number")
        carrier_node = pkg if pkg.opt_text("shipping_carrier") else f
        carrier = b.carrier(carrier_node, "shipping_carrier") if carrier_node.opt_text("shipping_carrier") else None
        mine = [i for i in items if number is None or package_label(i, "package") in (None, number)]
        records.append(b.order(
            res, order_ref=order_ref, at=at, raw_status=wtype, partner_order_id=f.opt_text("order_id"),
            warehouse=warehouse, package_number=number, total_packages=total, fully_shipped=fully,
            carrier=carrier, tracking_number=tracking,
            service_level=pkg.opt_text("shipping_method") or f.opt_text("shipping_method"),
            lines=lines_from(mine, sku=("sku",), qty=("quantity",), lot=("lot_name",)),
        ))
        if tracking and carrier:
            records.append(b.shipment(
                Resolution(code="SHIPPED", table="order_webhook"), carrier=carrier, tracking_number=tracking,
                at=at, raw_status=wtype, location=location, order_ref=order_ref, package_number=number,
                total_packages=total,
            ))
    return records


def _inventory_update(root: Node, b: Builder, res: Resolution, wtype: str) -> list[CanonicalRecord]:
    records: list[CanonicalRecord] = []
    for item in root.items("inventory", required=True):
        per_warehouse = item.opt_obj("updated_warehouse")
        source = per_warehouse or item
        # Without updated_warehouse (legacy payload) the figure is account-wide: warehouse "*".
        warehouse = "*"
        if per_warehouse is not None:
            warehouse = per_warehouse.opt_text("identifier") or per_warehouse.text("warehouse_id")
        records.append(b.inventory(
            res, warehouse=warehouse, sku=item.text("sku"), raw_status=wtype,
            at=b.when_any(item, ("timestamp",)) if item.raw("timestamp") else b.when_any(root, ("timestamp",)),
            quantity=source.number("on_hand"),
        ))
    return records


def _inventory_change(root: Node, b: Builder, res: Resolution, wtype: str) -> list[CanonicalRecord]:
    warehouse_id = root.text("warehouse_id")
    hint, _ = _site(b, None, warehouse_id)
    return [b.inventory(
        res, warehouse=warehouse_id, sku=root.text("sku"), raw_status=wtype,
        at=b.when_any(root, ("timestamp",), hint), delta=root.number("quantity"),
        reason=root.opt_text("reason"), lot=root.opt_text("lot_name") or root.opt_text("lot_id"),
    )]


def _order_event(root: Node, b: Builder, res: Resolution, wtype: str) -> list[CanonicalRecord]:
    order_ref = root.opt_text("order_number") or root.opt_text("partner_order_id")
    if order_ref is None:
        raise ParseError("$: order_number or partner_order_id is required")
    hint, _ = _site(b, root.opt_text("warehouse"), root.opt_text("warehouse_id"))
    return [b.order(
        res, order_ref=order_ref, at=b.when_any(root, _ORDER_TIMES, hint), raw_status=wtype,
        partner_order_id=root.opt_text("order_id"),
        warehouse=root.opt_text("warehouse") or root.opt_text("warehouse_id"),
        reason=root.opt_text("reason") or root.opt_text("cancel_reason"),
        lines=lines_from(root.items("line_items"), sku=("sku",), qty=("quantity",), lot=("lot_name",)),
    )]


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    wtype = _webhook_type(root, ctx.format)
    b = Builder.for_vendor(ctx, VENDOR)
    res = b.resolve([("order_webhook", wtype), ("inventory_webhook", wtype), ("other_webhook", wtype)])
    if res.ignored:
        return []
    if res.table == "inventory_webhook":
        handler = _inventory_update if res.code == "COUNTED" else _inventory_change
    elif res.code == "SHIPPED" and root.has("fulfillment"):
        handler = _shipment_update
    else:
        handler = _order_event  # includes unknown webhook types: order UNKNOWN, raw type kept
    return unique(handler(root, b, res, wtype))
