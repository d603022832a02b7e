"""Odoo order events (format ``odoo.order.v1``), sent by an Odoo automation (webhook action) when
a delivery order is released to the warehouse or an order is cancelled::

    {"event": "order.released",             # or "order.cancelled"
     "occurred_at": "2026-11-20 08:15:00",   # Odoo datetimes are UTC without offset
     "order_ref": "SO-2026-0419",            # sale order name: the key of every order milestone
     "picking": "WH/OUT/00231",              # stock.picking name -> partner_order_id
     "warehouse": "WH", "carrier": "FedEx", "service_level": "ground",
     "ship_to": {"name": "...", "street": "...", "city": "...", "postal_code": "...",
                 "country": "US", "phone": "..."},
     "lines": [{"sku": "CHAIR-OAK-01", "qty": 2, "lot": null}],
     "reason": null}                         # cancel reason, when given

ORDER_RELEASED carries ship_to, lines, carrier and service level so the WMS bridge can create the
warehouse order from the canonical record alone.
"""

from __future__ import annotations

from services.status_normalizer.records import CanonicalRecord, RawContext

from ._build import Builder, address_from, lines_from, unique
from ._json import load_json

__all__ = ["FORMAT", "parse"]

FORMAT = "odoo.order.v1"
VENDOR = "odoo"


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    b = Builder.for_vendor(ctx, VENDOR)
    event = root.text("event")
    res = b.resolve([("event", event)])
    if res.ignored:
        return []
    carrier = b.carrier(root, "carrier") if root.opt_text("carrier") else None
    return unique([b.order(
        res,
        order_ref=root.text("order_ref"),
        at=b.when(root, "occurred_at"),
        raw_status=event,
        partner_order_id=root.opt_text("picking"),
        warehouse=root.opt_text("warehouse"),
        reason=root.opt_text("reason"),
        carrier=carrier,
        service_level=root.opt_text("service_level"),
        lines=lines_from(root.items("lines"), sku=("sku",), qty=("qty", "quantity"), lot=("lot",)),
        ship_to=address_from(root.opt_obj("ship_to"), b.mappings),
    )])
