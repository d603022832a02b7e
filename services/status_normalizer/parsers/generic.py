"""The project's partner-neutral format ``generic.milestone.v1`` (TMS, fleet, small partners).

One JSON object per event, codes are canonical codes. Three kinds::

    {"event_id": "...", "kind": "shipment", "code": "DELIVERY_ATTEMPT_FAILED",
     "occurred_at": "2026-11-20T10:42:00+01:00", "exception_reason": "ADDRESS", "note": "...",
     "shipment": {"carrier": "DHL", "tracking_number": "...", "order_ref": "SO-1", "package_ref": "1/1",
                  "estimated_delivery": "...", "signed_by": "..."},
     "location": {"city": "Lyon", "state": null, "postal_code": "69002", "country": "FR"}}

    {"kind": "order", "code": "PICKED", "occurred_at": "...", "reason": null,
     "order": {"order_ref": "SO-1", "partner_order_id": "...", "warehouse": "...", "package_ref": "1/2",
               "carrier": "...", "tracking_number": "...", "service_level": "...", "fully_shipped": false},
     "lines": [{"sku": "A", "quantity": 2, "lot": null}]}

    {"kind": "inventory", "code": "COUNTED", "occurred_at": "...",
     "inventory": {"warehouse": "RENO", "sku": "A", "quantity": 12, "delta": null, "lot": null,
                   "reason": "cycle count"}}

A code the table does not know becomes UNKNOWN (raw code kept); an unknown exception_reason
becomes OTHER.
"""

from __future__ import annotations

from backbone.canonical import ExceptionReason
from services.status_normalizer._time import ZoneHint
from services.status_normalizer.errors import ParseError
from services.status_normalizer.records import CanonicalRecord, RawContext

from ._build import Builder, lines_from, location_from, package_ref, unique
from ._json import Node, load_json

__all__ = ["FORMAT", "parse"]

FORMAT = "generic.milestone.v1"
VENDOR = "generic"


def _reason(root: Node) -> ExceptionReason | None:
    raw = root.opt_text("exception_reason")
    if raw is None:
        return None
    return ExceptionReason.__members__.get(raw.upper(), ExceptionReason.OTHER)


def _shipment(root: Node, b: Builder, code: str) -> list[CanonicalRecord]:
    ship = root.obj("shipment")
    location = location_from(root.opt_obj("location"), b.mappings, postal=("postal_code", "zip"),
                             description="description")
    hint = ZoneHint(country=location.country, state=location.state) if location else None
    number, total = package_ref(ship.opt_text("package_ref"), f"{ship.path}.package_ref")
    eta = b.when(ship, "estimated_delivery", hint).utc if ship.raw("estimated_delivery") else None
    res = b.resolve([("shipment_code", code)])
    return [b.shipment(
        res,
        carrier=b.carrier(ship, "carrier"),
        tracking_number=ship.text("tracking_number"),
        at=b.when(root, "occurred_at", hint),
        raw_status=code,
        raw_status_text=root.opt_text("note"),
        location=location,
        order_ref=ship.opt_text("order_ref"),
        package_number=number,
        total_packages=total,
        estimated_delivery=eta,
        signed_by=ship.opt_text("signed_by"),
        reason=_reason(root),
    )]


def _order(root: Node, b: Builder, code: str) -> list[CanonicalRecord]:
    order = root.obj("order")
    number, total = package_ref(order.opt_text("package_ref"), f"{order.path}.package_ref")
    carrier = b.carrier(order, "carrier") if order.opt_text("carrier") else None
    return [b.order(
        b.resolve([("order_code", code)]),
        order_ref=order.text("order_ref"),
        at=b.when(root, "occurred_at"),
        raw_status=code,
        partner_order_id=order.opt_text("partner_order_id"),
        warehouse=order.opt_text("warehouse"),
        reason=root.opt_text("reason"),
        package_number=number,
        total_packages=total,
        fully_shipped=order.opt_bool("fully_shipped"),
        carrier=carrier,
        tracking_number=order.opt_text("tracking_number"),
        service_level=order.opt_text("service_level"),
        lines=lines_from(root.items("lines"), sku=("sku",), qty=("quantity", "qty"), lot=("lot",)),
    )]


def _inventory(root: Node, b: Builder, code: str) -> list[CanonicalRecord]:
    inv = root.obj("inventory")
    quantity, delta = inv.opt_number("quantity"), inv.opt_number("delta")
    if quantity is None and delta is None:
        raise ParseError(f"{inv.path}: needs quantity (absolute) or delta (change)")
    return [b.inventory(
        b.resolve([("inventory_code", code)]),
        warehouse=inv.text("warehouse"),
        sku=inv.text("sku"),
        at=b.when(root, "occurred_at"),
        raw_status=code,
        quantity=quantity,
        delta=delta,
        reason=inv.opt_text("reason"),
        lot=inv.opt_text("lot"),
    )]


_KINDS = {"shipment": _shipment, "order": _order, "inventory": _inventory}


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    kind = root.text("kind")
    handler = _KINDS.get(kind)
    if handler is None:
        raise ParseError(f"$.kind: must be one of {sorted(_KINDS)}")
    records = handler(root, Builder.for_vendor(ctx, VENDOR), root.text("code"))
    return unique(records)
