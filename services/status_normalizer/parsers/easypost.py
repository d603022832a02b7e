"""EasyPost ``tracker.created`` / ``tracker.updated`` events (format ``easypost.event.v2``).

Every event carries the tracker's full ``tracking_details`` history: one record per detail, and
dedupe downstream makes a redelivery emit nothing new. ``signed_by`` is tracker-level and is put
on DELIVERED checkpoints only. Events about other objects (batches, refunds) carry no tracking
fact and yield nothing.

``parse_unseen`` is the pipeline's variant: it is told which milestone ids were already published
and does not build records for them (most of a history is known). It skips a detail only when
the detail is plain (strings where strings belong, an object or null as location): then reading
it cannot raise, so skipping it changes nothing but the work done. Any other detail takes the
path ``parse`` takes, with the same records and the same errors.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.status_normalizer._time import ZoneHint, parse_eta
from services.status_normalizer.records import CanonicalRecord, RawContext, ShipmentIds

from ._build import Builder, location_from, unique
from ._json import Node, load_json

__all__ = ["FORMAT", "parse", "parse_unseen"]

FORMAT = "easypost.event.v2"
VENDOR = "easypost"
_IGNORED = ""  # _Known's answer for a detail the mapping ignores
_LOCATION_KEYS = ("zip", "postal_code", "country", "city", "state")  # what location_from reads here
_CODES: dict[tuple[str, str | None], str] = {}  # raw (status, status_detail) -> code or _IGNORED
_PLACES: dict[tuple[Any, ...], str] = {}  # raw tracking_location values -> Location.key() or ""
_OWNER: list[Any] = []  # the MappingSet the kept answers come from
_CACHE_SIZE = 4096


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    return parse_unseen(payload, ctx, None)[0]


def _plain(value: Any) -> bool:
    return value is None or type(value) is str


class _Known:
    """Milestone ids of plain details of one tracker, without building records.

    A detail is plain when every field the full path reads is a string or null (the location an
    object or null): then the full path cannot raise before the record exists, and the id computed
    here is the record's. Anything else answers None and takes the full path. Status resolutions
    and location keys are kept per mapping set (bounded): carriers repeat both endlessly.
    """

    def __init__(self, b: Builder, dominant: frozenset[str], carrier: str, tracking_number: str) -> None:
        self._b = b
        self._dominant = dominant
        self._ids = ShipmentIds(carrier, tracking_number)
        if not _OWNER or _OWNER[0] is not b.mappings:
            _CODES.clear()
            _PLACES.clear()
            _OWNER[:] = [b.mappings]

    def id(self, detail: Node) -> str | None:
        """The id (``_IGNORED`` if the mapping ignores the detail), or None: take the full path."""
        obj = detail.value
        if type(obj) is not dict:
            return None
        status, status_detail, message = obj.get("status"), obj.get("status_detail"), obj.get("message")
        if type(status) is not str or not _plain(status_detail) or not _plain(message):
            return None
        if not (message and message.strip()) and not _plain(obj.get("description")):
            return None
        code = _CODES.get((status, status_detail))
        if code is None:
            code = self._code(status, status_detail)
            if code is None:
                return None
        if code == _IGNORED:
            return _IGNORED
        when = obj.get("datetime")
        if type(when) is not str:
            return None
        try:
            occurred = datetime.fromisoformat(when.strip())
        except ValueError:
            return None
        if occurred.tzinfo is not UTC:
            return None  # offsets and local times: the full path (and its zone inference) decides
        where = obj.get("tracking_location")
        if where is None:
            place = ""
        elif type(where) is dict:
            values = tuple(where.get(k) for k in _LOCATION_KEYS)
            try:
                place_hit = _PLACES.get(values)
            except TypeError:  # a list or an object where a string belongs
                return None
            if place_hit is None:
                if not all(_plain(v) for v in values):
                    return None
                location = location_from(detail.get("tracking_location"), self._b.mappings)
                place_hit = "" if location is None else location.key()
                _remember(_PLACES, values, place_hit)
            place = place_hit
        else:
            return None
        return self._ids.milestone_id(occurred.isoformat(timespec="microseconds"), code, place)

    def _code(self, status: str, status_detail: str | None) -> str | None:
        text, detail_text = status.strip(), status_detail.strip() or None if status_detail is not None else None
        if not text:
            return None
        if text in self._dominant:
            res = self._b.resolve([("status", text)])
        else:
            res = self._b.resolve([("status_detail", detail_text), ("status", text)])
        code = _IGNORED if res.ignored else res.code
        _remember(_CODES, (status, status_detail), code)
        return code


def _remember(cache: dict[Any, str], key: Any, value: str) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value


def parse_unseen(payload: bytes, ctx: RawContext,
                 seen: Callable[[str], bool] | None) -> tuple[list[CanonicalRecord], int]:
    """Records not skipped, and how many distinct ``seen`` ids were skipped.

    A seen id is skipped when one of its details is plain; otherwise its record is returned like
    any other (dedupe drops it). Every distinct id of ``parse`` is thus either returned or counted.
    """
    root = load_json(payload)
    tracker = root.obj("result") if root.has("result") else root
    if tracker.opt_text("object") not in (None, "Tracker"):
        return [], 0
    b = Builder.for_vendor(ctx, VENDOR)
    dominant = b.mappings.vendor(VENDOR).dominant_statuses
    carrier = b.carrier(tracker, "carrier")
    tracking_number = tracker.text("tracking_code")
    eta = parse_eta(tracker.raw("est_delivery_date"), f"{tracker.path}.est_delivery_date", geo=b.mappings.geo)
    signed_by = tracker.opt_text("signed_by")
    records: list[CanonicalRecord] = []
    skipped: set[str] = set()
    known_ids = _Known(b, dominant, carrier, tracking_number) if seen is not None else None
    for detail in tracker.items("tracking_details"):
        if seen is not None and known_ids is not None:
            known = known_ids.id(detail)
            if known == _IGNORED:
                continue
            if known is not None and seen(known):
                skipped.add(known)
                continue
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
    # An id skipped once is skipped everywhere (a copy of a known checkpoint in a detail that is
    # not plain was built): ids are then either returned once or counted once as skipped.
    return [r for r in unique(records) if r.milestone_id not in skipped], len(skipped)
