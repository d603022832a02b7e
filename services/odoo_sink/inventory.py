"""Inventory events in Odoo: stock.quant in inventory mode, then ``action_apply_inventory``.

COUNTED carries an absolute quantity: setting ``inventory_quantity`` to it and applying is
repeat-safe. ADJUSTED and RECEIVED carry deltas: the sink reads the on-hand quantity, counts
``on_hand + delta`` and applies it, which must happen once. The runtime's ledger guarantees that
for every redelivery and replay; for the one window it cannot see (a crash or timeout after the
call was sent) the applied adjustment carries the milestone's marker in its move name
(``inventory_name`` context, Odoo 15+), and :meth:`InventoryEffects.reconcile` looks for it before
re-applying.

Example::

    effects = InventoryEffects(odoo, InventoryMapping())
    await effects.apply(record, ctx)     # COUNTED WH:MUG-01 42 -> quant on WH/Stock counted at 42
"""

from __future__ import annotations

from typing import Any

from backbone.errors import PermanentError
from backbone.sink import ApplyContext, ApplyResult, NotYetAvailableError, SinkRecord
from services.odoo_sink.client import OdooClient
from services.odoo_sink.mapping import InventoryMapping
from services.odoo_sink.pickings import marker

__all__ = ["InventoryEffects"]

QUANT = "stock.quant"
_DELTAS = ("ADJUSTED", "RECEIVED")


class InventoryEffects:
    def __init__(self, client: OdooClient, mapping: InventoryMapping) -> None:
        self._client = client
        self._mapping = mapping
        self._products: dict[str, int] = {}
        self._locations: dict[str, int] = {}

    async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
        v = record.value
        kind = record.code or ""
        if kind == "COUNTED":
            amount = v.get("quantity")
        elif kind in _DELTAS:
            amount = v.get("delta")
        else:
            return ApplyResult.skipped("not_mapped", kind=kind)
        if not isinstance(amount, int | float):
            raise PermanentError(f"{kind} record without its {'quantity' if kind == 'COUNTED' else 'delta'}",
                                 inventory_key=v.get("inventory_key"))
        product_id = await self._product(str(v["sku"]))
        location_id = await self._location(str(v["warehouse"]))
        on_hand: float | None = None
        counted = float(amount)
        if kind in _DELTAS:
            on_hand = await self._on_hand(product_id, location_id)
            counted = on_hand + float(amount)
        context = {"inventory_mode": True,
                   "inventory_name": f"[{marker(record.milestone_id)}] {v.get('reason') or kind.lower()}"}
        quant_id = await self._client.call(QUANT, "create", [{
            "product_id": product_id, "location_id": location_id, "inventory_quantity": counted}],
            {"context": context})
        quant = int(quant_id[0] if isinstance(quant_id, list) else quant_id)
        await self._client.call(QUANT, "action_apply_inventory", [[quant]], {"context": context})
        return ApplyResult.applied(quant_id=quant, quantity=counted, on_hand_before=on_hand)

    async def reconcile(self, record: SinkRecord) -> ApplyResult | None:
        """Deltas only (a count is simply applied again): is our adjustment move already there?"""
        if record.code not in _DELTAS:
            return None
        rows = await self._client.call("stock.move", "search_read",
                                       [[("name", "ilike", marker(record.milestone_id))]],
                                       {"fields": ["id"], "limit": 1})
        if not rows:
            return None
        return ApplyResult.applied(move_id=int(rows[0]["id"]))

    async def _product(self, sku: str) -> int:
        if sku not in self._products:
            rows = await self._client.call("product.product", "search_read", [[("default_code", "=", sku)]],
                                           {"fields": ["id"], "limit": 1})
            if not rows:
                # Master data may arrive in Odoo after the warehouse counted it: wait for the grace period.
                raise NotYetAvailableError("no product.product with this internal reference yet", sku=sku)
            self._products[sku] = int(rows[0]["id"])
        return self._products[sku]

    async def _location(self, warehouse: str) -> int:
        name = self._mapping.location_for(warehouse)
        if name not in self._locations:
            rows = await self._client.call("stock.location", "search_read", [[("complete_name", "=", name)]],
                                           {"fields": ["id"], "limit": 1})
            if not rows:
                raise PermanentError(f"no stock.location {name!r} for warehouse {warehouse!r}; "
                                     "add it to inventory.locations in the Odoo mapping", warehouse=warehouse)
            self._locations[name] = int(rows[0]["id"])
        return self._locations[name]

    async def _on_hand(self, product_id: int, location_id: int) -> float:
        rows: list[dict[str, Any]] = await self._client.call(
            QUANT, "search_read", [[("product_id", "=", product_id), ("location_id", "=", location_id)]],
            {"fields": ["quantity"]}) or []
        return sum(float(r.get("quantity") or 0.0) for r in rows)
