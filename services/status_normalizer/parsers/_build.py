"""Helpers shared by the vendor parsers: record construction, locations, lines, package refs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backbone.canonical import ExceptionReason, InventoryKind, OrderCode, ShipmentCode
from services.status_normalizer._time import Instant, ZoneHint, parse_instant
from services.status_normalizer.errors import ParseError
from services.status_normalizer.mapping import Geo, MappingSet, Resolution, default_mappings
from services.status_normalizer.records import (
    Address,
    CanonicalRecord,
    InventoryEvent,
    Location,
    OrderLine,
    OrderMilestone,
    RawContext,
    ShipmentMilestone,
)

from ._json import Node, PathRef

__all__ = [
    "Builder",
    "lines_from",
    "location_from",
    "package_ref",
    "unique",
]

_PACKAGE_REF = re.compile(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*")
_PACKAGE_LABEL = re.compile(r"\D*(\d{1,9})\s*")


def unique(records: Iterable[CanonicalRecord]) -> list[CanonicalRecord]:
    """Drop repeats of the same fact within one payload (first one wins, order kept)."""
    seen: set[str] = set()
    kept: list[CanonicalRecord] = []
    for record in records:
        if record.milestone_id not in seen:
            seen.add(record.milestone_id)
            kept.append(record)
    return kept


def package_ref(text: str | None, path: str) -> tuple[int | None, int | None]:
    """``"1/2"`` -> (1, 2); None -> (None, None)."""
    if text is None:
        return None, None
    match = _PACKAGE_REF.fullmatch(text)
    if match is None:
        raise ParseError(f"{path}: package_ref must look like 'n/N'")
    number, total = int(match[1]), int(match[2])
    if not 1 <= number <= total:
        raise ParseError(f"{path}: package_ref needs 1 <= n <= N")
    return number, total


def package_label(node: Node, key: str) -> int | None:
    """ShipHero writes a line's package as 1 or as "Package #1"."""
    value = node.raw(key)
    if isinstance(value, str):
        match = _PACKAGE_LABEL.fullmatch(value)
        return int(match[1]) if match else None
    return node.opt_int(key, minimum=0)


# location_from is pure given the raw field values and the geo tables, and a carrier reports the
# same few facilities over and over: results for plain string/null fields are kept (bounded).
_LOCATIONS: dict[tuple[Any, ...], Location | None] = {}
_LOCATIONS_GEO: list[Geo] = []  # the tables the kept results were computed with
_LOCATION_CACHE = 4096


def location_from(
    node: Node | None,
    mappings: MappingSet,
    *,
    city: str = "city",
    state: str = "state",
    postal: Sequence[str] = ("zip", "postal_code"),
    country: Sequence[str] = ("country",),
    description: str | None = None,
) -> Location | None:
    if node is None:
        return None
    obj = node.value
    if type(obj) is not dict:
        return _location_from(node, mappings, city, state, postal, country, description)
    values = (obj.get(city), obj.get(state), *[obj.get(k) for k in postal], *[obj.get(k) for k in country],
              obj.get(description) if description else None)
    if not all(v is None or type(v) is str for v in values):
        return _location_from(node, mappings, city, state, postal, country, description)
    if not _LOCATIONS_GEO or _LOCATIONS_GEO[0] is not mappings.geo:
        _LOCATIONS.clear()
        _LOCATIONS_GEO[:] = [mappings.geo]
    key = (city, state, tuple(postal), tuple(country), description, values)
    try:
        return _LOCATIONS[key]
    except KeyError:
        pass
    location = _location_from(node, mappings, city, state, postal, country, description)
    if len(_LOCATIONS) >= _LOCATION_CACHE:
        _LOCATIONS.clear()
    _LOCATIONS[key] = location
    return location


def _location_from(node: Node, mappings: MappingSet, city: str, state: str, postal: Sequence[str],
                   country: Sequence[str], description: str | None) -> Location | None:
    postal_code = country_code = None
    for key in postal:  # first present key wins
        if (postal_code := node.opt_text(key)) is not None:
            break
    for key in country:
        if (country_code := node.opt_text(key)) is not None:
            break
    city_name, state_name = node.opt_text(city), node.opt_text(state)
    alpha2 = mappings.geo.alpha2(country_code)
    text = node.opt_text(description) if description else None
    if city_name is None and state_name is None and postal_code is None and alpha2 is None and text is None:
        return None
    return Location(city=city_name, state=state_name, postal_code=postal_code, country=alpha2, description=text)


def lines_from(
    items: Iterable[Node], *, sku: Sequence[str], qty: Sequence[str], lot: Sequence[str] = ()
) -> tuple[OrderLine, ...]:
    lines: list[OrderLine] = []
    for item in items:
        sku_value = next((v for k in sku if (v := item.opt_text(k)) is not None), None)
        if sku_value is None:
            raise ParseError(f"{item.path}: line needs one of {list(sku)}")
        quantity = next((q for k in qty if (q := item.opt_number(k)) is not None), None)
        if quantity is None:
            raise ParseError(f"{item.path}: line needs one of {list(qty)}")
        lot_value = next((t for k in lot if (t := item.opt_text(k)) is not None), None)
        lines.append(OrderLine(sku=sku_value, quantity=quantity, lot=lot_value))
    return tuple(lines)


def address_from(node: Node | None, mappings: MappingSet) -> Address | None:
    if node is None:
        return None
    return Address(
        name=node.opt_text("name"),
        street=node.opt_text("street"),
        city=node.opt_text("city"),
        postal_code=node.opt_text("postal_code") or node.opt_text("zip"),
        country=mappings.geo.alpha2(node.opt_text("country")),
        phone=node.opt_text("phone"),
    )


@dataclass(frozen=True, slots=True)
class Builder:
    """Fills the fields every record shares (partner, raw pointer, mapping version...)."""

    ctx: RawContext
    vendor: str
    mappings: MappingSet

    @classmethod
    def for_vendor(cls, ctx: RawContext, vendor: str) -> Builder:
        return cls(ctx, vendor, default_mappings())

    def resolve(self, chain: Sequence[tuple[str, str | None]]) -> Resolution:
        return self.mappings.resolve(self.vendor, chain)

    def carrier(self, node: Node, key: str) -> str:
        code = self.mappings.normalize_carrier(node.text(key))
        if not code:
            raise ParseError(f"{node.path}.{key}: carrier name has no letters or digits")
        return code

    def when(self, node: Node, key: str, hint: ZoneHint | None = None) -> Instant:
        vendor_zone = self.mappings.vendor(self.vendor).naive_time_zone
        return parse_instant(node.raw(key), PathRef(node, key), geo=self.mappings.geo, hint=hint,
                             vendor_zone=vendor_zone)

    def when_any(self, node: Node, keys: Sequence[str], hint: ZoneHint | None = None) -> Instant:
        """First present timestamp of ``keys``; else the ingest time (the event was sent as it happened)."""
        for key in keys:
            if node.raw(key) not in (None, ""):
                return self.when(node, key, hint)
        return Instant(self.ctx.received_at, None, False)

    def shipment(
        self,
        res: Resolution,
        *,
        carrier: str,
        tracking_number: str,
        at: Instant,
        raw_status: str,
        raw_status_text: str | None = None,
        location: Location | None = None,
        order_ref: str | None = None,
        package_number: int | None = None,
        total_packages: int | None = None,
        estimated_delivery: datetime | None = None,
        signed_by: str | None = None,
        reason: ExceptionReason | None = None,
    ) -> ShipmentMilestone:
        code = ShipmentCode(res.code)
        ref = f"{package_number}/{total_packages}" if package_number and total_packages else None
        with_reason = code in (ShipmentCode.EXCEPTION, ShipmentCode.DELIVERY_ATTEMPT_FAILED)
        return ShipmentMilestone(
            code=code,
            exception_reason=(reason or res.reason or ExceptionReason.OTHER) if with_reason else None,
            carrier=carrier,
            tracking_number=tracking_number,
            order_ref=order_ref,
            package_ref=ref,
            package_number=package_number,
            total_packages=total_packages,
            source_partner=self.ctx.partner,
            raw_status=raw_status,
            raw_status_text=raw_status_text,
            occurred_at=at.utc,
            occurred_at_offset_minutes=at.offset_minutes,
            tz_inferred=at.tz_inferred,
            received_at=self.ctx.received_at,
            location=location,
            estimated_delivery=estimated_delivery,
            signed_by=signed_by if code is ShipmentCode.DELIVERED else None,
            mapping_version=self.mappings.version,
            raw_ref=self.ctx.raw_ref,
            correlation_id=self.ctx.correlation_id,
        )

    def order(
        self,
        res: Resolution,
        *,
        order_ref: str,
        at: Instant,
        raw_status: str,
        partner_order_id: str | None = None,
        warehouse: str | None = None,
        reason: str | None = None,
        package_number: int | None = None,
        total_packages: int | None = None,
        fully_shipped: bool | None = None,
        carrier: str | None = None,
        tracking_number: str | None = None,
        service_level: str | None = None,
        lines: tuple[OrderLine, ...] = (),
        ship_to: Address | None = None,
    ) -> OrderMilestone:
        code = OrderCode(res.code)
        return OrderMilestone(
            code=code,
            order_ref=order_ref,
            partner_order_id=partner_order_id,
            warehouse=warehouse,
            source_partner=self.ctx.partner,
            raw_status=raw_status,
            reason=reason,
            occurred_at=at.utc,
            occurred_at_offset_minutes=at.offset_minutes,
            tz_inferred=at.tz_inferred,
            received_at=self.ctx.received_at,
            package_number=package_number,
            total_packages=total_packages,
            fully_shipped=fully_shipped if code is OrderCode.SHIPPED else None,
            carrier=carrier,
            tracking_number=tracking_number,
            service_level=service_level,
            lines=lines,
            ship_to=ship_to,
            mapping_version=self.mappings.version,
            raw_ref=self.ctx.raw_ref,
            correlation_id=self.ctx.correlation_id,
        )

    def inventory(
        self,
        res: Resolution,
        *,
        warehouse: str,
        sku: str,
        at: Instant,
        raw_status: str,
        quantity: float | None = None,
        delta: float | None = None,
        reason: str | None = None,
        lot: str | None = None,
    ) -> InventoryEvent:
        return InventoryEvent(
            kind=InventoryKind(res.code),
            warehouse=warehouse,
            sku=sku,
            quantity=quantity,
            delta=delta,
            reason=reason,
            lot=lot,
            source_partner=self.ctx.partner,
            raw_status=raw_status,
            occurred_at=at.utc,
            occurred_at_offset_minutes=at.offset_minutes,
            tz_inferred=at.tz_inferred,
            received_at=self.ctx.received_at,
            mapping_version=self.mappings.version,
            raw_ref=self.ctx.raw_ref,
            correlation_id=self.ctx.correlation_id,
        )
