"""Shippo ``track_updated`` webhooks (format ``shippo.track_updated``).

``tracking_status`` is the newest ``tracking_history`` entry repeated: both are read and the
repeat collapses to one record because it has the same dedupe key (time, code, location).
"""

from __future__ import annotations

from services.status_normalizer._time import ZoneHint, parse_eta
from services.status_normalizer.errors import ParseError
from services.status_normalizer.records import CanonicalRecord, RawContext

from ._build import Builder, location_from, unique
from ._json import Node, load_json

__all__ = ["FORMAT", "parse"]

FORMAT = "shippo.track_updated"
VENDOR = "shippo"


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    track = root.obj("data") if root.has("data") else root
    b = Builder.for_vendor(ctx, VENDOR)
    carrier = b.carrier(track, "carrier")
    tracking_number = track.text("tracking_number")
    eta = parse_eta(track.raw("eta"), f"{track.path}.eta", geo=b.mappings.geo)
    entries: list[Node] = track.items("tracking_history")
    current = track.opt_obj("tracking_status")
    if current is not None:
        entries.append(current)
    records: list[CanonicalRecord] = []
    for entry in entries:
        status = entry.text("status")
        if entry.raw("status_date") in (None, "") and status == "UNKNOWN":
            continue  # "no information yet": there is no checkpoint to report
        substatus = entry.opt_obj("substatus")
        sub_code = substatus.opt_text("code") if substatus is not None else None
        res = b.resolve([("substatus", sub_code), ("status", status)])
        if res.ignored:
            continue
        location = location_from(entry.opt_obj("location"), b.mappings)
        hint = ZoneHint(country=location.country, state=location.state) if location else None
        if entry.raw("status_date") in (None, ""):
            raise ParseError(f"{entry.path}.status_date: required for status {status}")
        records.append(b.shipment(
            res,
            carrier=carrier,
            tracking_number=tracking_number,
            at=b.when(entry, "status_date", hint),
            raw_status=status if sub_code is None else f"{status}/{sub_code}",
            raw_status_text=entry.opt_text("status_details"),
            location=location,
            estimated_delivery=eta,
        ))
    return unique(records)
