"""Vendor timestamps -> UTC instants, keeping the original offset and never guessing silently.

A time with an offset keeps it (``+01:00`` -> 60; ``Z`` -> None, as the schema asks). A local
time without an offset is placed in a zone, in this order: the vendor's documented contract
(``naive_time_zone``, e.g. Odoo's UTC), the state, the country, the named site. Only the last
three are an inference and set ``tz_inferred``. If none applies the event is rejected with a
ParseError (dead letter, re-runnable once geo.yaml knows the place) instead of being shifted.
Ambiguous wall times at a DST change take the first occurrence (fold=0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from ._geo import Geo
from .errors import ParseError

__all__ = ["Instant", "ZoneHint", "parse_eta", "parse_instant"]

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_EPOCH_MS_THRESHOLD = 100_000_000_000  # larger epoch numbers are milliseconds


@dataclass(frozen=True, slots=True)
class Instant:
    utc: datetime
    offset_minutes: int | None
    tz_inferred: bool


@dataclass(frozen=True, slots=True)
class ZoneHint:
    """Where an event happened, for placing a zone-less local time."""

    country: str | None = None
    state: str | None = None
    sites: tuple[str, ...] = ()


def _infer(geo: Geo, hint: ZoneHint | None) -> ZoneInfo | None:
    if hint is None:
        return None
    zone = geo.zone_for(hint.country, hint.state)
    if zone is not None:
        return zone
    for key in hint.sites:
        site = geo.sites.get(key)
        if site is not None:
            zone = geo.zone_for(site.country, site.state)
            if zone is not None:
                return zone
    return None


def _from_epoch(value: float, path: object) -> Instant:
    seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
    try:
        return Instant(datetime.fromtimestamp(seconds, UTC), None, False)
    except (OverflowError, OSError, ValueError) as exc:
        raise ParseError(f"{path}: epoch timestamp out of range") from exc


def _to_utc(local: datetime, path: object) -> datetime:
    try:
        return local.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ParseError(f"{path}: timestamp out of range") from exc


def _offset_minutes(delta: timedelta | None) -> int:
    return 0 if delta is None else int(delta.total_seconds() // 60)


def _place(naive: datetime, zone: tzinfo, inferred: bool, path: object) -> Instant:
    local = naive.replace(tzinfo=zone, fold=0)
    utc = _to_utc(local, path)
    offset = None if zone is UTC or zone == ZoneInfo("UTC") else _offset_minutes(local.utcoffset())
    return Instant(utc, offset, inferred)


def _parse_text(value: str, path: object) -> datetime:
    text = value.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ParseError(f"{path}: not an ISO 8601 timestamp") from exc


def parse_instant(
    value: object,
    path: object,
    *,
    geo: Geo,
    hint: ZoneHint | None = None,
    vendor_zone: ZoneInfo | None = None,
) -> Instant:
    """Parse an ISO 8601 string (with or without offset, or a bare date) or an epoch number.

    ``path`` names the field in error messages: a string, or anything whose ``str()`` is one
    (parsers pass a lazy reference so the path is only formatted when there is an error).
    """
    if isinstance(value, bool) or value is None:
        raise ParseError(f"{path}: expected a timestamp")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError as exc:  # an integer beyond any float: JSON allows it, time does not
            raise ParseError(f"{path}: epoch timestamp out of range") from exc
        return _from_epoch(seconds, path)
    if not isinstance(value, str):
        raise ParseError(f"{path}: expected a timestamp string, got {type(value).__name__}")
    parsed = _parse_text(value, path)
    if parsed.tzinfo is not None:
        stripped = value.strip()
        offset = None if stripped[-1:] in ("Z", "z") else _offset_minutes(parsed.utcoffset())
        return Instant(_to_utc(parsed, path), offset, False)
    if vendor_zone is not None:
        return _place(parsed, vendor_zone, False, path)
    zone = _infer(geo, hint)
    if zone is None:
        raise ParseError(f"{path}: local time without UTC offset and no known location to infer the zone from")
    return _place(parsed, zone, True, path)


def parse_eta(
    value: object,
    path: str,
    *,
    geo: Geo,
    hint: ZoneHint | None = None,
    vendor_zone: ZoneInfo | None = None,
) -> datetime | None:
    """An estimated delivery: a bare date means that day at 00:00 UTC (EasyPost's own convention).

    The ETA is informational, so one that cannot be placed in a zone is left out rather than
    rejecting the checkpoints that came with it.
    """
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
            return _parse_text(value, path).replace(tzinfo=UTC)
        return parse_instant(value, path, geo=geo, hint=hint, vendor_zone=vendor_zone).utc
    except ParseError:
        if isinstance(value, str):
            return None  # informational: an ETA we cannot read or place is left out
        raise
