"""Order milestones in Odoo: SHIPPED validates the outgoing picking; some codes become notes.

``button_validate`` is not idempotent (validating an order twice would validate its backorder),
so every attempt re-reads Odoo first: the note ``[backbone:<milestone_id>]`` is posted *before*
validating and names the picking this milestone validates. Found with the picking done -> the
effect is there (crash after validating); found with it open -> validate that one, post nothing.

Backorders follow Odoo (see simulators/odoo/stock.py): ``skip_backorder`` validates without the
wizard and keeps a backorder for the remainder; adding the picking to
``picking_ids_not_to_backorder`` cancels the remainder ("No Backorder"). Fully shipped -> both;
partial or unknown -> keep the backorder (never cancel demand on a guess).

A wizard answered despite that context (immediate transfer, SMS, quality check...) is an
:class:`~services.odoo_sink.errors.OdooWizardError`: asking again gets the same question, so the
record goes to the DLQ for a person to decide, then is redriven.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from backbone.sink import ApplyContext, ApplyResult, NotYetAvailableError, SinkRecord
from services.odoo_sink.client import OdooClient
from services.odoo_sink.errors import OdooUserError, OdooWizardError
from services.odoo_sink.mapping import OrderMapping
from services.odoo_sink.notes import order_note
from services.odoo_sink.pickings import PICKING, Picking, Pickings, marker

__all__ = ["OrderEffects"]


class OrderEffects:
    def __init__(self, client: OdooClient, pickings: Pickings, mapping: OrderMapping) -> None:
        self._client = client
        self._pickings = pickings
        self._mapping = mapping

    async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
        code = record.code or ""
        if code in self._mapping.validate:
            if not ctx.verdict.allowed:
                return await self._note(record, stale=True)
            return await self._validate(record)
        if code in self._mapping.notes:
            return await self._note(record, stale=not ctx.verdict.allowed)
        return ApplyResult.skipped("not_mapped", code=code)

    async def _order_pickings(self, record: SinkRecord) -> list[Picking]:
        order_ref = str(record.value["order_ref"])
        found = await self._pickings.by_origin(order_ref)
        if not found:
            raise NotYetAvailableError("no outgoing stock.picking for this order yet", model=PICKING,
                                       order_ref=order_ref)
        return found

    async def _note(self, record: SinkRecord, *, stale: bool) -> ApplyResult:
        pickings = await self._order_pickings(record)
        noted = await self._pickings.find_note([p.id for p in pickings], marker(record.milestone_id))
        if noted is not None:
            return ApplyResult.applied(picking_id=noted[1], message_id=noted[0], noted_before=True)
        target = next((p for p in pickings if p.open), pickings[-1])
        message_id = await self._pickings.post_note(target.id, order_note(record.value))
        summary = {"picking_id": target.id, "message_id": message_id}
        return ApplyResult.skipped("stale", **summary) if stale else ApplyResult.applied(**summary)

    async def _validate(self, record: SinkRecord) -> ApplyResult:
        v = record.value
        tracking = str(v["tracking_number"]) if v.get("tracking_number") else None
        pickings = await self._order_pickings(record)
        noted = await self._pickings.find_note([p.id for p in pickings], marker(record.milestone_id))
        if noted is not None:  # an earlier attempt chose this picking (and maybe validated it)
            target = next((p for p in pickings if p.id == noted[1]), None)
            if target is None or target.state == "done":
                return ApplyResult.applied(picking_id=noted[1], validated_before=True)
            if target.state == "cancel":
                raise OdooUserError("the picking this shipment was noted on has been cancelled in Odoo",
                                    model=PICKING, picking_id=target.id)
        else:
            candidates = [p for p in pickings if p.open]
            target = next((p for p in candidates if tracking and p.has_ref(tracking)), None) or (
                candidates[0] if candidates else None)
            if target is None:
                done = [p for p in pickings if p.state == "done"]
                if done:
                    return ApplyResult.skipped("already_done", picking_id=done[-1].id)
                raise OdooUserError("every outgoing picking of this order is cancelled in Odoo", model=PICKING,
                                    order_ref=v["order_ref"])
            fully = v.get("fully_shipped") is True
            action = f"Validating {target.name}" + ("" if fully else " (a backorder keeps the remainder)")
            await self._pickings.post_note(target.id, order_note(v, action=action))
        await self._prepare(target, v, tracking)
        context: dict[str, Any] = {"skip_backorder": True}
        if v.get("fully_shipped") is True:
            context["picking_ids_not_to_backorder"] = [target.id]
        answer = await self._client.call(PICKING, "button_validate", [[target.id]], {"context": context})
        if isinstance(answer, Mapping):
            raise OdooWizardError(
                f"button_validate answered the wizard {answer.get('res_model') or answer.get('name')!r} "
                "instead of validating; decide in Odoo, then redrive", model=PICKING, picking_id=target.id)
        return ApplyResult.applied(picking_id=target.id, backorder="cancel" if "picking_ids_not_to_backorder" in context
                                   else "keep")

    async def _prepare(self, target: Picking, v: Mapping[str, Any], tracking: str | None) -> None:
        """Tracking number onto the picking, and the shipped quantities onto its moves."""
        if tracking and not target.has_ref(tracking):
            await self._pickings.write(target.id, {"carrier_tracking_ref": target.refs_with(tracking)})
        lines = [line for line in v.get("lines") or [] if isinstance(line, Mapping)]
        if not self._mapping.set_quantities_from_lines or not (lines or v.get("fully_shipped") is True):
            return
        moves = await self._client.call("stock.move", "search_read", [[
            ("picking_id", "=", target.id), ("state", "not in", ["done", "cancel"])]],
            {"fields": ["product_id", "product_uom_qty", "quantity"], "order": "id"})
        wanted = await self._quantities(moves, lines, target)
        by_quantity: dict[float, list[int]] = defaultdict(list)
        for move in moves:
            quantity = wanted[int(move["id"])]
            if float(move.get("quantity") or 0.0) != quantity:
                by_quantity[quantity].append(int(move["id"]))
        for quantity, ids in by_quantity.items():
            await self._client.call("stock.move", "write", [ids, {"quantity": quantity}])

    async def _quantities(self, moves: list[dict[str, Any]], lines: list[Mapping[str, Any]],
                          target: Picking) -> dict[int, float]:
        """Done quantity per move: each shipped SKU fills its moves' demand in order, the last
        move of a SKU takes any excess. No lines + fully shipped -> the full demand."""
        if not lines:
            return {int(m["id"]): float(m.get("product_uom_qty") or 0.0) for m in moves}
        product_ids = sorted({_m2o(m.get("product_id")) for m in moves} - {0})
        rows = await self._client.call("product.product", "read", [product_ids, ["default_code"]]) if (
            product_ids) else []
        sku_of = {int(r["id"]): str(r.get("default_code") or "") for r in rows or []}
        remaining: dict[str, float] = defaultdict(float)
        for line in lines:
            remaining[str(line["sku"])] += float(line.get("quantity") or 0.0)
        unknown = sorted(set(remaining) - set(sku_of.values()))
        if unknown:
            raise OdooUserError(f"shipped SKUs not on {target.name}: {', '.join(unknown)}", model=PICKING,
                                picking_id=target.id)
        last = {sku_of.get(_m2o(m.get("product_id")), ""): int(m["id"]) for m in moves}
        out: dict[int, float] = {}
        for move in moves:
            sku = sku_of.get(_m2o(move.get("product_id")), "")
            take = remaining[sku] if last.get(sku) == int(move["id"]) else min(
                remaining[sku], float(move.get("product_uom_qty") or 0.0))
            out[int(move["id"])] = take
            remaining[sku] -= take
        return out


def _m2o(value: Any) -> int:
    """Many2one as read by Odoo: ``[id, name]``, a bare id, or False."""
    if isinstance(value, list | tuple) and value:
        return int(value[0])
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0
