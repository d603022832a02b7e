"""OdooHandler: one canonical record -> its effect in Odoo, for the sink runtime.

- **Shipment milestone** -> the outgoing picking (by tracking number, else by order reference):
  ``carrier_tracking_ref`` set when new; the OCA ``delivery_state`` / ``tracking_state`` /
  ``date_delivered`` fields written when that module is installed *and* the monotonic guard allows
  it; one internal note per milestone, always (late facts are facts).
- **Order milestone** -> :mod:`services.odoo_sink.orders` (SHIPPED validates the picking).
- **Inventory event** -> :mod:`services.odoo_sink.inventory` (counts and deltas on stock.quant).

Only ``message_post``, ``button_validate`` and delta adjustments are not idempotent. The runtime
calls :meth:`OdooHandler.reconcile` when a previous call's outcome is unknown (crash, timeout);
it re-reads Odoo for the milestone's marker before anything is sent again.

Example::

    handler = OdooHandler(make_client(cfg.odoo), cfg.mapping())
    await backbone.sink.serve(cfg, handler)
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from backbone.errors import PermanentError
from backbone.sink import ApplyContext, ApplyResult, NotYetAvailableError, SinkRecord
from services.odoo_sink.client import OdooClient
from services.odoo_sink.errors import RecordMissingError
from services.odoo_sink.fields import FieldsCache
from services.odoo_sink.inventory import InventoryEffects
from services.odoo_sink.mapping import OdooMapping, load_mapping
from services.odoo_sink.notes import odoo_date, odoo_datetime, shipment_note, tracking_state
from services.odoo_sink.orders import OrderEffects
from services.odoo_sink.pickings import Picking, Pickings, marker

__all__ = ["OdooHandler", "RecordKind", "record_kind"]

log = logging.getLogger("services.odoo_sink")
RecordKind = Literal["shipment", "order", "inventory"]


def record_kind(value: dict[str, Any]) -> RecordKind | None:
    """Which canonical schema a decoded record follows (each has a field the others lack)."""
    if "shipment_key" in value:
        return "shipment"
    if "inventory_key" in value:
        return "inventory"
    if "order_ref" in value and "lines" in value:
        return "order"
    return None


class OdooHandler:
    """Implements ``SinkHandler`` and ``ReconcilingHandler`` over any :class:`OdooClient`."""

    def __init__(self, client: OdooClient, mapping: OdooMapping | None = None, *,
                 picking_cache_size: int = 20_000) -> None:
        self.client = client
        self.mapping = mapping or load_mapping()
        self.fields = FieldsCache(client)
        self.pickings = Pickings(client, cache_size=picking_cache_size)
        self.orders = OrderEffects(client, self.pickings, self.mapping.order)
        self.inventory = InventoryEffects(client, self.mapping.inventory)
        self._warned: set[str] = set()

    async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
        kind = record_kind(record.value)
        if kind == "shipment":
            return await self._shipment(record, ctx)
        if kind == "order":
            return await self.orders.apply(record, ctx)
        if kind == "inventory":
            return await self.inventory.apply(record, ctx)
        raise PermanentError("not a canonical shipment, order or inventory record", topic=record.topic,
                             partition=record.partition, offset=record.offset)

    async def reconcile(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult | None:
        kind = record_kind(record.value)
        if kind == "shipment":
            return await self._reconcile_shipment(record)
        if kind == "inventory":
            return await self.inventory.reconcile(record)
        return None  # orders re-read Odoo on every attempt (OrderEffects.apply)

    # -- shipments -----------------------------------------------------------------------------
    async def _picking(self, record: SinkRecord) -> tuple[str, Picking]:
        v = record.value
        tracking = str(v["tracking_number"])
        order_ref = v.get("order_ref")
        picking = await self.pickings.for_shipment(tracking, str(order_ref) if order_ref else None)
        if picking is None:
            raise NotYetAvailableError(
                "no outgoing stock.picking with this tracking number or order reference yet",
                model="stock.picking", shipment_key=v.get("shipment_key"), order_ref=order_ref)
        return tracking, picking

    async def _shipment(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
        v = record.value
        code = str(v["code"])
        tracking, picking = await self._picking(record)
        vals: dict[str, Any] = {}
        if not picking.has_ref(tracking):
            vals["carrier_tracking_ref"] = picking.refs_with(tracking)
        if ctx.verdict.allowed:
            vals.update(await self._delivery_vals(v, code))
        label = self.mapping.shipment.label(code)
        body = shipment_note(v, label, stale=not ctx.verdict.allowed, signed_by=self.mapping.shipment.note_signed_by)
        try:
            if vals:
                await self.pickings.write(picking.id, vals)
            self.pickings.remember(tracking, picking)
            message_id = await self.pickings.post_note(picking.id, body)
        except RecordMissingError as exc:
            # The picking was deleted in Odoo (maybe after we remembered it): look it up again on
            # retry, and dead-letter after the grace period if the shipment has none any more.
            self.pickings.forget(tracking)
            raise NotYetAvailableError("picking is gone; looking it up again", picking_id=picking.id) from exc
        summary = {"picking_id": picking.id, "message_id": message_id, "fields": sorted(vals)}
        if not ctx.verdict.allowed:
            return ApplyResult.skipped("stale", **summary)
        return ApplyResult.applied(**summary)

    async def _delivery_vals(self, v: dict[str, Any], code: str) -> dict[str, Any]:
        support = await self.fields.delivery_state()
        if not support.installed:
            return {}
        mapping = self.mapping.shipment
        vals: dict[str, Any] = {}
        state = mapping.delivery_state.get(code)
        if state and support.accepts(state):
            vals["delivery_state"] = state
        elif state and state not in self._warned:
            self._warned.add(state)
            log.warning("Odoo's delivery_state has no value %r; check the mapping", state, extra={"code": code})
        if support.tracking_state:
            vals["tracking_state"] = tracking_state(v, mapping.label(code))
        if support.date_delivered and code in mapping.date_delivered:
            vals["date_delivered"] = odoo_datetime(v.get("occurred_at"))
        if support.date_shipped and code in mapping.date_shipped:
            vals["date_shipped"] = odoo_date(v.get("occurred_at"))
        return {k: val for k, val in vals.items() if val is not None}

    async def _reconcile_shipment(self, record: SinkRecord) -> ApplyResult | None:
        """The write is idempotent and comes before the note: a note with our marker means done."""
        v = record.value
        picking = await self.pickings.for_shipment(str(v["tracking_number"]),
                                                   str(v["order_ref"]) if v.get("order_ref") else None)
        if picking is None:
            return None
        found = await self.pickings.find_note([picking.id], marker(record.milestone_id))
        if found is None:
            return None
        return ApplyResult.applied(picking_id=picking.id, message_id=found[0])
