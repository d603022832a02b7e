"""Cheap facts read from a parsed body: natural key, the vendor's own event id, the event type.

The natural key keeps one partner object (tracking number, order) in one partition
(key = ``<partner>:<natural id>``). Rules are data: a list of JSON paths per format family (the
part of the format before the first dot), first non-empty value wins. Nothing here rejects a
body: a vendor adding or renaming a field only loses the key hint, never the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["Extracted", "Rule", "extract"]

Path = tuple[str, ...]
MAX_ID_LENGTH = 200


@dataclass(frozen=True)
class Rule:
    keys: tuple[Path, ...] = ()
    ids: tuple[Path, ...] = ()
    types: tuple[Path, ...] = ()
    type_header: str | None = None


class Extracted(NamedTuple):
    natural_key: str | None = None
    vendor_event_id: str | None = None
    event_type: str | None = None


RULES: Mapping[str, Rule] = {
    # EasyPost Event: result is the Tracker (tracking_code) or another object (its id).
    "easypost": Rule(keys=(("result", "tracking_code"), ("result", "id")), ids=(("id",),), types=(("description",),)),
    "aftership": Rule(keys=(("msg", "tracking_number"),), ids=(("event_id",),), types=(("event",),)),
    "shippo": Rule(keys=(("data", "tracking_number"),), types=(("event",),)),
    # ShipHero: one order's webhooks (shipment updates, cancellations) stay together.
    "shiphero": Rule(
        keys=(("fulfillment", "order_number"), ("order_number",), ("fulfillment", "tracking_number")),
        types=(("webhook_type",),),
    ),
    "shipbob": Rule(keys=(("reference_id",), ("order_id",)), types=(("topic",),), type_header="x-webhook-topic"),
    "generic": Rule(
        keys=(("shipment", "tracking_number"), ("order", "order_ref"), ("shipment", "order_ref"), ("inventory", "sku")),
        ids=(("event_id",),),
        types=(("kind",),),
    ),
    "odoo": Rule(
        keys=(("order_ref",), ("order", "name"), ("name",), ("origin",)),
        ids=(("event_id",),),
        types=(("event",),),
    ),
}


def _text(value: Any) -> str | None:
    if type(value) is str:
        text = value.strip()
    elif type(value) is int:  # not bool: a flag is no id
        text = str(value)
    else:
        return None
    if not text or len(text) > MAX_ID_LENGTH or not text.isprintable():
        return None
    return text


def _first(doc: dict[str, Any], paths: tuple[Path, ...]) -> str | None:
    for path in paths:
        node: Any = doc
        for step in path:
            node = node.get(step) if type(node) is dict else None
        if node is not None and (found := _text(node)) is not None:
            return found
    return None


def extract(fmt: str, doc: Any, headers: Mapping[str, str] | None = None) -> Extracted:
    """Facts of one event; unknown formats and non-object bodies give an empty result."""
    rule = RULES.get(fmt.partition(".")[0])
    if rule is None or type(doc) is not dict:  # orjson only ever builds plain dicts
        return Extracted()
    event_type = _first(doc, rule.types)
    if event_type is None and rule.type_header and headers is not None:
        event_type = _text(headers.get(rule.type_header))
    return Extracted(_first(doc, rule.keys), _first(doc, rule.ids), event_type)
