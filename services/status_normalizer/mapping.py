"""Vendor status -> canonical code tables, loaded from ``mappings/*.yaml`` once and validated.

Example::

    m = default_mappings()
    hit = m.resolve("aftership", [("subtag", "InTransit_002"), ("tag", "InTransit")])
    hit.code, hit.reason          # ('CARRIER_PICKED_UP', None)
    m.normalize_carrier("FedEx")  # 'fedex'

A bad file raises ``ConfigError`` naming the file and the key; a vendor value in no table resolves
to ``UNKNOWN`` (the parser keeps the raw code).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from backbone.canonical import ExceptionReason, InventoryKind, OrderCode, ShipmentCode
from backbone.errors import ConfigError

from ._geo import Geo, load_geo

__all__ = [
    "DEFER",
    "IGNORE",
    "MAPPINGS_DIR",
    "MAPPING_VERSION",
    "Geo",
    "MappingSet",
    "Resolution",
    "Table",
    "Target",
    "VendorMapping",
    "default_mappings",
    "load_mappings",
]

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
DEFER = "DEFER"  # generic vendor value: resolve with the next, coarser field
IGNORE = "IGNORE"  # known value that carries no canonical fact: emit nothing
_SCHEME = "1"  # bump when the meaning of the file format changes

Kind = Literal["shipment", "order", "inventory"]
_VOCABULARY: dict[str, frozenset[str]] = {
    "shipment": frozenset(ShipmentCode),
    "order": frozenset(OrderCode),
    "inventory": frozenset(InventoryKind),
}
_REASON_CODES = frozenset({ShipmentCode.EXCEPTION, ShipmentCode.DELIVERY_ATTEMPT_FAILED})
_TABLE_KEYS = frozenset({"kind", "known_values", "map"})
_VENDOR_KEYS = frozenset({"vendor", "source", "tables", "naive_time_zone", "dominant_statuses", "strip_prefixes"})
_SLUG = re.compile(r"[^a-z0-9]+")
_CODE = re.compile(r"[a-z0-9_]+")
_RESOLVE_CACHE = 4096


@dataclass(frozen=True, slots=True)
class Target:
    code: str  # a code of the table's vocabulary, DEFER or IGNORE
    reason: ExceptionReason | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """Outcome of a lookup chain: a canonical code (``UNKNOWN`` when nothing matched) or ignored."""

    code: str
    reason: ExceptionReason | None = None
    ignored: bool = False
    table: str | None = None  # the table that matched; None when nothing did

    @property
    def matched(self) -> bool:
        return self.table is not None


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    kind: Kind
    known_values: tuple[str, ...]
    entries: Mapping[str, Target]
    strip_prefixes: tuple[str, ...] = ()

    def lookup(self, value: str) -> Target | None:
        for prefix in self.strip_prefixes:
            if value.startswith(prefix):
                value = value[len(prefix):]
                break
        return self.entries.get(value)


@dataclass(frozen=True, slots=True)
class VendorMapping:
    vendor: str
    source: str
    tables: Mapping[str, Table]
    naive_time_zone: ZoneInfo | None = None
    dominant_statuses: frozenset[str] = frozenset()

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise ConfigError(f"mapping {self.vendor!r} has no table {name!r}", vendor=self.vendor) from None


@dataclass(frozen=True, slots=True)
class MappingSet:
    vendors: Mapping[str, VendorMapping]
    carriers: Mapping[str, str]  # squashed alias -> carrier code
    geo: Geo
    version: str
    # resolve() is pure: vendor statuses repeat endlessly, so answers are kept (bounded: values are
    # vendor input). Not part of the value of the set.
    _resolved: dict[tuple[str, tuple[tuple[str, str | None], ...]], Resolution] = field(
        default_factory=dict, compare=False, repr=False)
    _carrier_codes: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def vendor(self, name: str) -> VendorMapping:
        try:
            return self.vendors[name]
        except KeyError:
            raise ConfigError(f"no mapping file for vendor {name!r}", vendor=name) from None

    def resolve(self, vendor: str, chain: Sequence[tuple[str, str | None]]) -> Resolution:
        """Look values up finest first; unknown or DEFER values fall through to the next field."""
        key = (vendor, tuple(chain))
        hit = self._resolved.get(key)
        if hit is None:
            hit = self._resolve(vendor, chain)
            if len(self._resolved) >= _RESOLVE_CACHE:
                self._resolved.clear()
            self._resolved[key] = hit
        return hit

    def _resolve(self, vendor: str, chain: Sequence[tuple[str, str | None]]) -> Resolution:
        vm = self.vendor(vendor)
        for table_name, value in chain:
            if value is None:
                continue
            target = vm.table(table_name).lookup(value)
            if target is None or target.code == DEFER:
                continue
            if target.code == IGNORE:
                return Resolution(code=IGNORE, ignored=True, table=table_name)
            return Resolution(code=target.code, reason=target.reason, table=table_name)
        return Resolution(code="UNKNOWN")

    def normalize_carrier(self, raw: str) -> str:
        """Lower-case carrier code; an unlisted carrier becomes a slug of its name, never an error."""
        code = self._carrier_codes.get(raw)
        if code is None:
            code = self.carriers.get(_squash(raw)) or _SLUG.sub("_", raw.strip().casefold()).strip("_")
            if len(self._carrier_codes) >= _RESOLVE_CACHE:
                self._carrier_codes.clear()
            self._carrier_codes[raw] = code
        return code


def _squash(text: str) -> str:
    return _SLUG.sub("", text.casefold())


def _fail(path: Path, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path.name}: {key}: {message}", file=str(path), key=key)


def _strings(path: Path, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, key, "expected a list of non-empty strings")
    seen: set[str] = set()
    for item in value:
        if item in seen:
            raise _fail(path, key, f"duplicate value {item!r}")
        seen.add(item)
    return tuple(value)


def _target(path: Path, key: str, kind: Kind, raw: object) -> Target:
    if isinstance(raw, dict):
        extra = set(raw) - {"code", "reason"}
        if extra:
            raise _fail(path, key, f"unknown keys {sorted(extra)}")
        code, reason = raw.get("code"), raw.get("reason")
    else:
        code, reason = raw, None
    if not isinstance(code, str):
        raise _fail(path, key, "expected a code string or {code, reason}")
    if code not in _VOCABULARY[kind] | {DEFER, IGNORE}:
        raise _fail(path, key, f"{code!r} is not a {kind} code (see backbone/canonical.py), DEFER or IGNORE")
    if reason is not None and (not isinstance(reason, str) or reason not in ExceptionReason.__members__):
        raise _fail(path, key, f"reason {reason!r} is not an ExceptionReason")
    if reason is not None and (kind != "shipment" or code not in _REASON_CODES):
        raise _fail(path, key, "a reason is only allowed for EXCEPTION and DELIVERY_ATTEMPT_FAILED")
    if kind == "shipment" and code in _REASON_CODES and reason is None:
        reason = ExceptionReason.OTHER
    return Target(code, None if reason is None else ExceptionReason(reason))


def _table(path: Path, name: str, raw: object, prefixes: tuple[str, ...]) -> Table:
    key = f"tables.{name}"
    if not isinstance(raw, dict):
        raise _fail(path, key, "expected a mapping with kind, known_values and map")
    extra = set(raw) - _TABLE_KEYS
    if extra or not set(raw) >= _TABLE_KEYS:
        raise _fail(path, key, f"needs exactly {sorted(_TABLE_KEYS)}, got {sorted(raw)}")
    kind = raw["kind"]
    if kind not in _VOCABULARY:
        raise _fail(path, f"{key}.kind", f"{kind!r} is not one of {sorted(_VOCABULARY)}")
    known = _strings(path, f"{key}.known_values", raw["known_values"])
    entries = raw["map"]
    if not isinstance(entries, dict) or not entries:
        raise _fail(path, f"{key}.map", "expected a non-empty mapping of vendor value -> code")
    targets: dict[str, Target] = {}
    for value, target in entries.items():
        if not isinstance(value, str) or not value:
            raise _fail(path, f"{key}.map", f"vendor value {value!r} must be a non-empty string")
        targets[value] = _target(path, f"{key}.map.{value}", cast(Kind, kind), target)
    return Table(name, cast(Kind, kind), known, targets, prefixes)


def _vendor(path: Path, doc: dict[str, Any]) -> VendorMapping:
    extra = set(doc) - _VENDOR_KEYS
    if extra:
        raise _fail(path, sorted(extra)[0], f"unknown key (allowed: {sorted(_VENDOR_KEYS)})")
    prefixes = _strings(path, "strip_prefixes", doc.get("strip_prefixes", []) or [])
    tables_raw = doc.get("tables")
    if not isinstance(tables_raw, dict) or not tables_raw:
        raise _fail(path, "tables", "expected a non-empty mapping of table name -> table")
    tables = {str(n): _table(path, str(n), t, prefixes) for n, t in tables_raw.items()}
    zone = doc.get("naive_time_zone")
    tz: ZoneInfo | None = None
    if zone is not None:
        try:
            tz = ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise _fail(path, "naive_time_zone", f"unknown time zone {zone!r}") from exc
    dominant = _strings(path, "dominant_statuses", doc.get("dominant_statuses", []) or [])
    all_keys = {v for t in tables.values() for v in t.entries}
    for value in dominant:
        if value not in all_keys:
            raise _fail(path, f"dominant_statuses.{value}", "not a mapped value of any table")
    return VendorMapping(str(doc["vendor"]), str(doc.get("source", "")), tables, tz, frozenset(dominant))


def _carriers(path: Path, doc: dict[str, Any]) -> dict[str, str]:
    raw = doc.get("carriers")
    if not isinstance(raw, dict) or not raw:
        raise _fail(path, "carriers", "expected a mapping of carrier code -> list of aliases")
    table: dict[str, str] = {}
    for code, aliases in raw.items():
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise _fail(path, f"carriers.{code}", "carrier codes are lower-case letters, digits and _")
        for alias in (code, *_strings(path, f"carriers.{code}", aliases)):
            squashed = _squash(alias)
            if table.get(squashed, code) != code:
                raise _fail(path, f"carriers.{code}", f"alias {alias!r} already belongs to {table[squashed]!r}")
            table[squashed] = code
    return table


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path.name}: cannot read YAML: {exc}", file=str(path)) from exc
    if not isinstance(doc, dict):
        raise _fail(path, "<root>", "expected a mapping")
    if doc.get("vendor") != path.stem:
        raise _fail(path, "vendor", f"must equal the file name {path.stem!r}")
    return doc


def _digest(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def load_mappings(directory: Path | None = None) -> MappingSet:
    """Load and validate every ``*.yaml`` of ``directory`` (default: the shipped mappings)."""
    directory = directory or MAPPINGS_DIR
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ConfigError(f"no mapping files in {directory}", file=str(directory))
    vendors: dict[str, VendorMapping] = {}
    carriers: dict[str, str] | None = None
    geo: Geo | None = None
    fingerprint: dict[str, Any] = {}
    for path in paths:
        doc = _read(path)
        fingerprint[path.stem] = {k: v for k, v in doc.items() if k != "source"}
        if path.stem == "carriers":
            carriers = _carriers(path, doc)
        elif path.stem == "geo":
            geo = load_geo(path, doc)
        else:
            vendors[path.stem] = _vendor(path, doc)
    if carriers is None or geo is None:
        raise ConfigError(f"{directory} needs carriers.yaml and geo.yaml", file=str(directory))
    return MappingSet(vendors, carriers, geo, f"{_SCHEME}.{_digest(fingerprint)}")


@cache
def default_mappings() -> MappingSet:
    """The shipped mapping set, loaded once per process."""
    return load_mappings()


MAPPING_VERSION: str = default_mappings().version
