"""What our WMS bridge publishes back (it is a partner answer, so it is normalized here too).

``wms.order_answer.v1`` — the WMS accepted, rejected or backordered an order we sent::

    {"answer": "accepted", "order_ref": "SO-1", "wms_order_id": "W-77", "warehouse": "RENO",
     "occurred_at": "2026-11-20T09:01:00Z", "reason": null,
     "lines": [{"sku": "A", "qty": 2}]}

``wms.reconciliation.v1`` — a poll of the WMS: per-order status and absolute stock::

    {"warehouse": "RENO", "polled_at": "2026-11-20T12:00:00Z",
     "orders": [{"order_ref": "SO-1", "wms_order_id": "W-77", "status": "packed",
                 "updated_at": "2026-11-20T11:40:00Z", "package_number": 1, "total_packages": 2,
                 "carrier": "fedex", "tracking_number": "...", "reason": null}],
     "stock": [{"sku": "A", "on_hand": 12, "lot": null, "counted_at": "2026-11-20T12:00:00Z"}]}

A poll repeats facts already seen; they get the same milestone ids and dedupe drops them.
"""

from __future__ import annotations

from services.status_normalizer.mapping import Resolution
from services.status_normalizer.records import CanonicalRecord, RawContext

from ._build import Builder, lines_from, unique
from ._json import load_json

__all__ = ["FORMATS", "parse_order_answer", "parse_reconciliation"]

VENDOR = "wms"
FORMATS = ("wms.order_answer.v1", "wms.reconciliation.v1")


def parse_order_answer(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    b = Builder.for_vendor(ctx, VENDOR)
    answer = root.text("answer")
    res = b.resolve([("answer", answer)])
    if res.ignored:
        return []
    return [b.order(
        res,
        order_ref=root.text("order_ref"),
        at=b.when(root, "occurred_at"),
        raw_status=answer,
        partner_order_id=root.opt_text("wms_order_id"),
        warehouse=root.opt_text("warehouse"),
        reason=root.opt_text("reason"),
        lines=lines_from(root.items("lines"), sku=("sku",), qty=("qty", "quantity"), lot=("lot",)),
    )]


def parse_reconciliation(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    b = Builder.for_vendor(ctx, VENDOR)
    warehouse = root.text("warehouse")
    records: list[CanonicalRecord] = []
    for order in root.items("orders"):
        status = order.text("status")
        res = b.resolve([("order_status", status)])
        if res.ignored:
            continue
        carrier = b.carrier(order, "carrier") if order.opt_text("carrier") else None
        number = order.opt_int("package_number", minimum=1)
        total = order.opt_int("total_packages", minimum=1)
        records.append(b.order(
            res,
            order_ref=order.text("order_ref"),
            at=b.when(order, "updated_at") if order.raw("updated_at") else b.when(root, "polled_at"),
            raw_status=status,
            partner_order_id=order.opt_text("wms_order_id"),
            warehouse=warehouse,
            reason=order.opt_text("reason"),
            package_number=number,
            total_packages=total,
            fully_shipped=True if total == 1 else None,  # n of N>1: dedupe.py decides
            carrier=carrier,
            tracking_number=order.opt_text("tracking_number"),
        ))
    counted = Resolution(code="COUNTED", table="stock")  # stock lines are absolute on-hand figures
    for line in root.items("stock"):
        records.append(b.inventory(
            counted,
            warehouse=warehouse,
            sku=line.text("sku"),
            at=b.when(line, "counted_at") if line.raw("counted_at") else b.when(root, "polled_at"),
            raw_status="reconciliation",
            quantity=line.number("on_hand"),
            lot=line.opt_text("lot"),
        ))
    return unique(records)
