"""Finding outgoing pickings and their chatter notes in Odoo, for every kind of milestone.

A shipment's picking is found by ``carrier_tracking_ref`` (Odoo keeps several packages' numbers
comma-separated), else by the order reference in ``origin``. Once the tracking number is on the
picking, the id is remembered (LRU): a picking never changes id, so the steady state costs no
search per milestone. Every note the sink posts starts with ``[backbone:<milestone_id>]``; that
marker is how a retried post is detected (:meth:`Pickings.find_note`).

Example::

    pickings = Pickings(odoo, cache_size=10_000)
    picking = await pickings.for_shipment("1Z999AA10123456784", order_ref="S00042")
    if picking and await pickings.find_note([picking.id], marker("ms-1")) is None:
        await pickings.post_note(picking.id, "[backbone:ms-1] Delivered")
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.odoo_sink.client import OdooClient

__all__ = ["PICKING", "Picking", "Pickings", "marker"]

PICKING = "stock.picking"
_FIELDS = ["name", "state", "origin", "carrier_tracking_ref"]
_OUTGOING = ("picking_type_code", "=", "outgoing")


def marker(milestone_id: str) -> str:
    """The tag every note and inventory move of one milestone carries."""
    return f"backbone:{milestone_id}"


def _refs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str):
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Picking:
    id: int
    name: str
    state: str
    origin: str | None = None
    tracking_refs: tuple[str, ...] = ()
    cached: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Picking:
        origin = row.get("origin")
        return cls(int(row["id"]), str(row.get("name") or ""), str(row.get("state") or ""),
                   origin if isinstance(origin, str) else None, _refs(row.get("carrier_tracking_ref")))

    def has_ref(self, tracking: str) -> bool:
        return tracking in self.tracking_refs

    def refs_with(self, tracking: str) -> str:
        """``carrier_tracking_ref`` with ``tracking`` added (multi-package orders keep them all)."""
        return ",".join((*self.tracking_refs, tracking))

    @property
    def open(self) -> bool:
        return self.state not in ("done", "cancel")


class Pickings:
    def __init__(self, client: OdooClient, *, cache_size: int = 20_000) -> None:
        self._client = client
        self._cache: OrderedDict[str, Picking] = OrderedDict()
        self._cache_size = cache_size

    async def search(self, domain: list[Any], *, limit: int | None = None) -> list[Picking]:
        kwargs: dict[str, Any] = {"fields": _FIELDS, "order": "id"}
        if limit:
            kwargs["limit"] = limit
        rows = await self._client.call(PICKING, "search_read", [[*domain, _OUTGOING]], kwargs)
        return [Picking.from_row(row) for row in rows or []]

    async def by_origin(self, order_ref: str) -> list[Picking]:
        """Every outgoing picking of an order, oldest first (backorders share the origin)."""
        return await self.search([("origin", "=", order_ref)])

    async def for_shipment(self, tracking: str, order_ref: str | None) -> Picking | None:
        cached = self._cache.get(tracking)
        if cached is not None:
            self._cache.move_to_end(tracking)
            return cached
        found = await self.search([("carrier_tracking_ref", "=", tracking)], limit=1)
        if found:
            return found[0]
        if order_ref:
            candidates = await self.by_origin(order_ref)
        else:  # several packages in one field: a substring search, then an exact token check
            candidates = await self.search([("carrier_tracking_ref", "ilike", tracking)])
            candidates = [p for p in candidates if p.has_ref(tracking)]
        return _best(candidates, tracking)

    def remember(self, tracking: str, picking: Picking) -> None:
        """Cache a picking that carries ``tracking``: later milestones of the shipment skip the search."""
        if self._cache_size <= 0:
            return
        self._cache[tracking] = Picking(picking.id, picking.name, picking.state, picking.origin,
                                        picking.tracking_refs if picking.has_ref(tracking)
                                        else (*picking.tracking_refs, tracking), cached=True)
        self._cache.move_to_end(tracking)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self, tracking: str) -> None:
        self._cache.pop(tracking, None)

    async def write(self, picking_id: int, vals: dict[str, Any]) -> None:
        await self._client.call(PICKING, "write", [[picking_id], vals])

    async def find_note(self, picking_ids: Sequence[int], tag: str) -> tuple[int, int] | None:
        """(message id, picking id) of a note carrying ``tag``, or None. Bodies are stored escaped."""
        if not picking_ids:
            return None
        rows = await self._client.call("mail.message", "search_read", [[
            ("model", "=", PICKING), ("res_id", "in", list(picking_ids)), ("body", "ilike", html.escape(tag)),
        ]], {"fields": ["res_id"], "limit": 1})
        if not rows:
            return None
        return int(rows[0]["id"]), int(rows[0]["res_id"])

    async def post_note(self, picking_id: int, body: str) -> int:
        """An internal note (``mail.mt_note``): visible to employees, never mailed to the customer."""
        message_id = await self._client.call(PICKING, "message_post", [[picking_id]], {
            "body": body, "message_type": "comment", "subtype_xmlid": "mail.mt_note"})
        return int(message_id) if isinstance(message_id, int) else 0


def _best(candidates: list[Picking], tracking: str) -> Picking | None:
    """The picking a shipment belongs to: the one naming it, else one with no number yet, else the
    first that is not cancelled (an order's later package), else the first."""
    for picking in candidates:
        if picking.has_ref(tracking):
            return picking
    for picking in candidates:
        if not picking.tracking_refs and picking.state != "cancel":
            return picking
    for picking in candidates:
        if picking.state != "cancel":
            return picking
    return candidates[0] if candidates else None
