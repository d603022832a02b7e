"""Orders, stock and fulfilment progression of the simulated warehouse (no HTTP in here).

Statuses: accepted -> picked -> packed -> shipped; rejected and backordered at creation; cancelled
from any status before shipped. Every change bumps a global version so ``changes()`` can page
through updates with a cursor and never miss an order that changes while being paged.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from simulators.common.http import iso, utcnow
from simulators.wms.config import CARRIERS, WmsSimConfig

__all__ = ["FieldProblem", "InventoryChange", "Order", "OrderBook", "Package", "TransitionError"]

Status = Literal["accepted", "rejected", "backordered", "picked", "packed", "shipped", "cancelled"]
_NEXT: dict[str, Status] = {"accepted": "picked", "picked": "packed", "packed": "shipped"}
_OPEN = frozenset({"accepted", "picked", "packed"})
_ADDRESS_REQUIRED = ("name", "address1", "city", "postal_code", "country")


class TransitionError(Exception):
    """The order cannot move that way; ``code`` is the machine reason the API answers with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FieldProblem:
    field: str
    reason: str
    message: str


@dataclass
class Package:
    shipment_id: int
    package_number: int
    total_packages: int
    carrier: str
    service: str
    tracking_number: str
    tracking_url: str
    line_items: list[dict[str, Any]]
    weight_in_oz: int
    shipped_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "shipment_id": self.shipment_id, "package_number": self.package_number,
            "total_packages": self.total_packages, "carrier": self.carrier, "service": self.service,
            "tracking_number": self.tracking_number, "tracking_url": self.tracking_url,
            "line_items": self.line_items, "weight_in_oz": self.weight_in_oz, "shipped_at": iso(self.shipped_at),
        }


@dataclass
class Order:
    id: int
    order_ref: str
    partner_order_id: str | None
    lines: list[dict[str, Any]]
    ship_to: dict[str, Any]
    carrier: str
    service: str
    status: Status
    reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    packages: list[Package] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "order_ref": self.order_ref, "partner_order_id": self.partner_order_id,
            "status": self.status, "reason": self.reason, "lines": self.lines, "ship_to": self.ship_to,
            "requested_carrier": self.carrier, "requested_service": self.service,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "shipments": [p.as_dict() for p in self.packages], "history": self.history,
        }


@dataclass(frozen=True)
class InventoryChange:
    id: int
    sku: str
    warehouse: str
    delta: int
    on_hand: int
    reason: str
    occurred_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sku": self.sku, "warehouse": self.warehouse, "delta": self.delta,
                "on_hand": self.on_hand, "reason": self.reason, "occurred_at": iso(self.occurred_at)}


def _text(body: Mapping[str, Any], key: str, path: str, problems: list[FieldProblem], *,
          required: bool = True, max_len: int = 200) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        reason = "required" if value is None else "invalid"
        problems.append(FieldProblem(path, reason, f"{path} must be a non-empty string"))
        return None
    if len(value) > max_len:
        problems.append(FieldProblem(path, "too_long", f"{path} is longer than {max_len} characters"))
    return value


class OrderBook:
    def __init__(self, config: WmsSimConfig, now: Callable[[], datetime] = utcnow) -> None:
        self._config = config
        self._now = now
        self.reset()

    def reset(self) -> None:
        self.orders: dict[int, Order] = {}
        self.on_hand: dict[str, int] = dict(self._config.catalog)
        self.inventory: list[InventoryChange] = []
        self.version = 0
        self._next_order = 400_000_001
        self._next_shipment = 91_000_001
        self._rng = random.Random(self._config.seed)

    # --- creation ------------------------------------------------------------------------

    def validate(self, body: Mapping[str, Any]) -> list[FieldProblem]:
        problems: list[FieldProblem] = []
        _text(body, "order_ref", "order_ref", problems, max_len=64)
        _text(body, "partner_order_id", "partner_order_id", problems, required=False, max_len=64)
        _text(body, "requested_service", "requested_service", problems, required=False, max_len=64)
        carrier = _text(body, "requested_carrier", "requested_carrier", problems, required=False)
        if carrier is not None and carrier.lower() not in CARRIERS:
            problems.append(FieldProblem("requested_carrier", "unsupported_carrier",
                                         f"carrier {carrier!r} is not one of {', '.join(CARRIERS)}"))
        lines = body.get("lines")
        if not isinstance(lines, list) or not lines:
            problems.append(FieldProblem("lines", "required", "lines must be a non-empty list"))
            lines = []
        for i, line in enumerate(lines):
            if not isinstance(line, dict):
                problems.append(FieldProblem(f"lines[{i}]", "invalid", "a line must be an object"))
                continue
            sku = _text(line, "sku", f"lines[{i}].sku", problems, max_len=64)
            if sku is not None and sku not in self.on_hand:
                problems.append(FieldProblem(f"lines[{i}].sku", "unknown_sku",
                                             f"SKU {sku!r} is not in the catalog"))
            qty = line.get("qty")
            if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= 10_000:
                problems.append(FieldProblem(f"lines[{i}].qty", "invalid",
                                             "qty must be an integer from 1 to 10000"))
        ship_to = body.get("ship_to")
        if not isinstance(ship_to, dict):
            problems.append(FieldProblem("ship_to", "required", "ship_to must be an address object"))
        else:
            for key in _ADDRESS_REQUIRED:
                _text(ship_to, key, f"ship_to.{key}", problems)
            country = ship_to.get("country")
            if isinstance(country, str) and (len(country) != 2 or not country.isalpha()):
                problems.append(FieldProblem("ship_to.country", "invalid",
                                             "country must be an ISO 3166 alpha-2 code"))
        return problems

    def find_open_by_ref(self, order_ref: str) -> Order | None:
        """An order with this reference that still counts (rejected/cancelled ones may be re-sent)."""
        return next((o for o in self.orders.values()
                     if o.order_ref == order_ref and o.status not in {"rejected", "cancelled"}), None)

    def create(self, body: Mapping[str, Any]) -> Order:
        """Create from a body whose only problems may be unknown SKUs (such an order is rejected)."""
        now = self._now()
        lines = [{"sku": line["sku"], "qty": line["qty"]} for line in body["lines"]]
        order = Order(
            id=self._next_order, order_ref=body["order_ref"], partner_order_id=body.get("partner_order_id"),
            lines=lines, ship_to=dict(body["ship_to"]),
            carrier=(body.get("requested_carrier") or self._config.default_carrier).lower(),
            service=body.get("requested_service") or self._config.default_service,
            status="accepted", reason=None, created_at=now, updated_at=now, version=0,
        )
        self._next_order += 1
        unknown = [line["sku"] for line in lines if line["sku"] not in self.on_hand]
        short = self._short(lines)
        if unknown:
            order.status, order.reason = "rejected", "unknown_sku: " + ", ".join(unknown)
        elif short and self._config.backorder_when_short:
            order.status, order.reason = "backordered", "insufficient_stock: " + ", ".join(short)
        self.orders[order.id] = order
        self._touch(order)
        return order

    # --- progression ---------------------------------------------------------------------

    def advance(self, order: Order, *, packages: int | None = None) -> Order:
        if order.status == "backordered":
            short = self._short(order.lines)
            if short:
                raise TransitionError("insufficient_stock", "still short of " + ", ".join(short))
            order.status, order.reason = "accepted", None
        elif order.status in _NEXT:
            order.status = _NEXT[order.status]
            if order.status == "shipped":
                self._ship(order, packages or self._config.packages_per_order)
        else:
            raise TransitionError("not_advanceable", f"an order in status {order.status} does not move on")
        self._touch(order)
        return order

    def cancel(self, order: Order) -> Order:
        if order.status == "shipped":
            raise TransitionError("already_shipped", "the order has already shipped")
        if order.status == "rejected":
            raise TransitionError("not_cancellable", "a rejected order cannot be cancelled")
        if order.status != "cancelled":
            order.status, order.reason = "cancelled", None
            self._touch(order)
        return order

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status in _OPEN]

    # --- reconciliation ------------------------------------------------------------------

    def changes(self, since: datetime | None, after: int, limit: int) -> tuple[list[Order], int, bool]:
        """Orders changed after version ``after`` (and at/after ``since``), oldest change first."""
        found = sorted((o for o in self.orders.values()
                        if o.version > after and (since is None or o.updated_at >= since)),
                       key=lambda o: o.version)
        page = found[:limit]
        return page, (page[-1].version if page else max(after, self.version)), len(found) > limit

    def inventory_changes(self, since: datetime | None, after: int, limit: int,
                          ) -> tuple[list[InventoryChange], int, bool]:
        found = [c for c in self.inventory if c.id > after and (since is None or c.occurred_at >= since)]
        page = found[:limit]
        last = self.inventory[-1].id if self.inventory else 0
        return page, (page[-1].id if page else max(after, last)), len(found) > limit

    def adjust(self, sku: str, *, delta: int | None = None, on_hand: int | None = None,
               reason: str = "adjusted") -> InventoryChange:
        current = self.on_hand.get(sku, 0)
        new = on_hand if on_hand is not None else current + (delta or 0)
        self.on_hand[sku] = new
        change = InventoryChange(len(self.inventory) + 1, sku, self._config.warehouse, new - current, new,
                                 reason, self._now())
        self.inventory.append(change)
        return change

    # --- internals -----------------------------------------------------------------------

    def _touch(self, order: Order) -> None:
        self.version += 1
        order.version = self.version
        order.updated_at = self._now()
        order.history.append({"status": order.status, "at": iso(order.updated_at)})

    def _demand(self, lines: list[dict[str, Any]]) -> dict[str, int]:
        demand: dict[str, int] = {}
        for line in lines:
            demand[line["sku"]] = demand.get(line["sku"], 0) + line["qty"]
        return demand

    def _short(self, lines: list[dict[str, Any]]) -> list[str]:
        allocated: dict[str, int] = {}
        for other in self.open_orders():
            for sku, qty in self._demand(other.lines).items():
                allocated[sku] = allocated.get(sku, 0) + qty
        return [sku for sku, qty in self._demand(lines).items()
                if sku in self.on_hand and self.on_hand[sku] - allocated.get(sku, 0) < qty]

    def _units(self, order: Order) -> Iterator[str]:
        for line in order.lines:
            yield from [line["sku"]] * line["qty"]

    def _ship(self, order: Order, packages: int) -> None:
        units = list(self._units(order))
        count = max(1, min(packages, len(units)))
        contents: list[dict[str, int]] = [{} for _ in range(count)]
        for k, sku in enumerate(units):  # round-robin so every package holds something
            contents[k % count][sku] = contents[k % count].get(sku, 0) + 1
        now = self._now()
        url = CARRIERS[order.carrier][1]
        for number, content in enumerate(contents, start=1):
            tracking = self._tracking_number(order.carrier)
            order.packages.append(Package(
                shipment_id=self._next_shipment, package_number=number, total_packages=count,
                carrier=order.carrier, service=order.service, tracking_number=tracking,
                tracking_url=url.format(tracking),
                line_items=[{"sku": s, "quantity": q, "package": number} for s, q in content.items()],
                weight_in_oz=self._rng.randint(16, 800), shipped_at=now,
            ))
            self._next_shipment += 1
        for sku, qty in self._demand(order.lines).items():
            self.adjust(sku, delta=-qty, reason="shipped")

    def _tracking_number(self, carrier: str) -> str:
        digits = "".join(self._rng.choice("0123456789") for _ in range(22))
        if carrier == "ups":
            alnum = "".join(self._rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6))
            return f"1Z{alnum}03{digits[:8]}"
        if carrier == "usps":
            return "9400" + digits[:18]
        if carrier == "dhl":
            return digits[:10]
        return digits[:12]  # FedEx Express/Ground 12-digit
