"""What this Odoo's models look like, asked once per model with ``fields_get`` and cached.

The sink writes the OCA ``delivery_state`` fields on stock.picking only where that module is
installed; :meth:`FieldsCache.delivery_state` says which of them exist and which states the
selection accepts, so a plain Odoo gets chatter notes only instead of an error on every event.

Example::

    cache = FieldsCache(odoo)
    support = await cache.delivery_state()
    if support.accepts("customer_delivered"):
        vals["delivery_state"] = "customer_delivered"
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from services.odoo_sink.client import OdooClient

__all__ = ["DeliveryStateSupport", "FieldInfo", "FieldsCache"]

_ATTRIBUTES = ["type", "string", "relation", "selection", "required", "readonly"]
PICKING = "stock.picking"


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    string: str = ""
    relation: str | None = None
    selection: tuple[str, ...] = ()
    required: bool = False
    readonly: bool = False


@dataclass(frozen=True)
class DeliveryStateSupport:
    """Which OCA ``delivery_state`` fields stock.picking has on this database."""

    delivery_state: bool = False
    tracking_state: bool = False
    date_shipped: bool = False
    date_delivered: bool = False
    states: frozenset[str] = frozenset()

    @property
    def installed(self) -> bool:
        return self.delivery_state

    def accepts(self, state: str) -> bool:
        return self.delivery_state and state in self.states


def _parse(name: str, raw: object) -> FieldInfo:
    info = raw if isinstance(raw, Mapping) else {}
    selection = info.get("selection")
    keys = tuple(str(pair[0]) for pair in selection if isinstance(pair, (list, tuple)) and pair) if isinstance(
        selection, list) else ()
    relation = info.get("relation")
    return FieldInfo(name=name, type=str(info.get("type", "")), string=str(info.get("string", "")),
                     relation=relation if isinstance(relation, str) else None, selection=keys,
                     required=bool(info.get("required")), readonly=bool(info.get("readonly")))


class FieldsCache:
    """One ``fields_get`` per model for the life of the sink; failures are not cached."""

    def __init__(self, client: OdooClient) -> None:
        self._client = client
        self._fields: dict[str, Mapping[str, FieldInfo]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def fields(self, model: str) -> Mapping[str, FieldInfo]:
        if model in self._fields:
            return self._fields[model]
        async with self._locks.setdefault(model, asyncio.Lock()):  # concurrent callers share one request
            if model not in self._fields:
                raw = await self._client.call(model, "fields_get", [], {"attributes": _ATTRIBUTES})
                described = raw if isinstance(raw, Mapping) else {}
                self._fields[model] = {name: _parse(name, info) for name, info in described.items()}
        return self._fields[model]

    async def has(self, model: str, *names: str) -> bool:
        known = await self.fields(model)
        return all(name in known for name in names)

    async def delivery_state(self) -> DeliveryStateSupport:
        known = await self.fields(PICKING)
        state = known.get("delivery_state")
        return DeliveryStateSupport(
            delivery_state=state is not None and state.type == "selection",
            tracking_state="tracking_state" in known,
            date_shipped="date_shipped" in known,
            date_delivered="date_delivered" in known,
            states=frozenset(state.selection) if state is not None else frozenset(),
        )

    def invalidate(self, model: str | None = None) -> None:
        """Forget one model (or all), e.g. after the sink learns a module was installed."""
        if model is None:
            self._fields.clear()
        else:
            self._fields.pop(model, None)
