"""Labels our carrier bridge bought or voided (format ``carrier.label.v1``)::

    {"event": "label.created", "order_ref": "SO-1", "package_number": 1, "total_packages": 2,
     "carrier": "UPS", "service_level": "ground", "tracking_number": "1Z...",
     "label_url": "https://...", "rate": {"amount": "12.40", "currency": "USD"},
     "created_at": "2026-11-20T15:00:00Z"}

-> ShipmentMilestone LABEL_CREATED (or CANCELLED for label.voided). ``label_url`` and ``rate``
have no field in ShipmentMilestone.avsc; they stay in the raw event (an optional schema field
would be a backward-compatible addition if a consumer needs them).
"""

from __future__ import annotations

from services.status_normalizer.records import CanonicalRecord, RawContext

from ._build import Builder, unique
from ._json import load_json

__all__ = ["FORMAT", "parse_label"]

FORMAT = "carrier.label.v1"
VENDOR = "carrier_bridge"


def parse_label(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    b = Builder.for_vendor(ctx, VENDOR)
    event = root.text("event")
    res = b.resolve([("event", event)])
    if res.ignored:
        return []
    service = root.opt_text("service_level")
    return unique([b.shipment(
        res,
        carrier=b.carrier(root, "carrier"),
        tracking_number=root.text("tracking_number"),
        at=b.when(root, "created_at"),
        raw_status=event,
        raw_status_text=f"label {event.removeprefix('label.')} ({service})" if service else None,
        order_ref=root.opt_text("order_ref"),
        package_number=root.opt_int("package_number", minimum=1),
        total_packages=root.opt_int("total_packages", minimum=1),
    )])
