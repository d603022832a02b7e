"""AfterShip tracking webhooks (format ``aftership.webhook.v4``): ``msg.checkpoints``.

Subtag first, tag as fallback (mappings/aftership.yaml). Checkpoint times keep their own offset
(``+01:00`` -> 60); a checkpoint time without offset is placed with the checkpoint's country/state.
"""

from __future__ import annotations

from services.status_normalizer._time import ZoneHint, parse_eta
from services.status_normalizer.records import CanonicalRecord, RawContext

from ._build import Builder, location_from, unique
from ._json import load_json

__all__ = ["FORMAT", "parse"]

FORMAT = "aftership.webhook.v4"
VENDOR = "aftership"
_COUNTRY_KEYS = ("country_iso3", "country_region", "country_name")


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    msg = root.obj("msg")
    b = Builder.for_vendor(ctx, VENDOR)
    carrier = b.carrier(msg, "slug")
    tracking_number = msg.text("tracking_number")
    order_ref = msg.opt_text("order_id") or msg.opt_text("order_number")
    destination = msg.opt_text("destination_country_iso3") or msg.opt_text("destination_country_region")
    eta = parse_eta(msg.raw("expected_delivery"), f"{msg.path}.expected_delivery", geo=b.mappings.geo,
                    hint=ZoneHint(country=destination))
    signed_by = msg.opt_text("signed_by")
    records: list[CanonicalRecord] = []
    for cp in msg.items("checkpoints"):
        tag, subtag = cp.opt_text("tag"), cp.opt_text("subtag")
        res = b.resolve([("subtag", subtag), ("tag", tag)])
        if res.ignored:
            continue
        location = location_from(cp, b.mappings, country=_COUNTRY_KEYS, description="location")
        hint = ZoneHint(country=location.country, state=location.state) if location else None
        records.append(b.shipment(
            res,
            carrier=carrier,
            tracking_number=tracking_number,
            at=b.when(cp, "checkpoint_time", hint),
            raw_status=subtag or tag or "",
            raw_status_text=cp.opt_text("message"),
            location=location,
            order_ref=order_ref,
            estimated_delivery=eta,
            signed_by=signed_by,
        ))
    return unique(records)
