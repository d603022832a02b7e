"""EasyPost ``tracker.created`` / ``tracker.updated`` events (format ``easypost.event.v2``).

Every event carries the tracker's full ``tracking_details`` history: one record per detail, and
dedupe downstream makes a redelivery emit nothing new. ``signed_by`` is tracker-level and is put
on DELIVERED checkpoints only. Events about other objects (batches, refunds) carry no tracking
fact and yield nothing.
"""

from __future__ import annotations

from services.status_normalizer._time import ZoneHint, parse_eta
from services.status_normalizer.records import CanonicalRecord, RawContext

from ._build import Builder, location_from, unique
from ._json import load_json

__all__ = ["FORMAT", "parse"]

FORMAT = "easypost.event.v2"
VENDOR = "easypost"


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    tracker = root.obj("result") if root.has("result") else root
    if tracker.opt_text("object") not in (None, "Tracker"):
        return []
    b = Builder.for_vendor(ctx, VENDOR)
    dominant = b.mappings.vendor(VENDOR).dominant_statuses
    carrier = b.carrier(tracker, "carrier")
    tracking_number = tracker.text("tracking_code")
    eta = parse_eta(tracker.raw("est_delivery_date"), f"{tracker.path}.est_delivery_date", geo=b.mappings.geo)
    signed_by = tracker.opt_text("signed_by")
    records: list[CanonicalRecord] = []
    for detail in tracker.items("tracking_details"):
        status = detail.text("status")
        status_detail = detail.opt_text("status_detail")
        if status in dominant:
            res = b.resolve([("status", status)])
        else:
            res = b.resolve([("status_detail", status_detail), ("status", status)])
        if res.ignored:
            continue
        where = detail.opt_obj("tracking_location")
        location = location_from(where, b.mappings)
        hint = ZoneHint(country=location.country, state=location.state) if location else None
        records.append(b.shipment(
            res,
            carrier=carrier,
            tracking_number=tracking_number,
            at=b.when(detail, "datetime", hint),
            raw_status=status if status_detail is None else f"{status}/{status_detail}",
            raw_status_text=detail.opt_text("message") or detail.opt_text("description"),
            location=location,
            estimated_delivery=eta,
            signed_by=signed_by,
        ))
    return unique(records)
