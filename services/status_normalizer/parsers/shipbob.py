"""ShipBob webhooks (format ``shipbob.webhook``).

The topic travels in the ``x-webhook-topic`` header; ingest copies it into the body as ``topic``
(older API versions send it there themselves). ``order.shipped`` -> OrderMilestone SHIPPED with
the carrier tracking number, plus a ShipmentMilestone SHIPPED that creates the shipment key.
ShipBob fires it per shipment and does not say whether other shipments of the order are still
open, so ``fully_shipped`` stays null (``order.delivered`` is ShipBob's order-level signal).
"""

from __future__ import annotations

from services.status_normalizer._time import ZoneHint
from services.status_normalizer.errors import ParseError
from services.status_normalizer.mapping import IGNORE, Resolution
from services.status_normalizer.records import CanonicalRecord, Location, RawContext

from ._build import Builder, lines_from, unique
from ._json import Node, load_json

__all__ = ["FORMAT", "parse"]

FORMAT = "shipbob.webhook"
VENDOR = "shipbob"
_TIMES = ("event_time", "delivered_at", "created_at")


def _topic(root: Node, fmt: str) -> str:
    topic = root.opt_text("topic") or root.opt_text("x-webhook-topic")
    if topic is None and fmt.startswith("shipbob.") and fmt != FORMAT:
        topic = fmt.removeprefix("shipbob.")
    if topic is None:
        raise ParseError("$.topic: missing (ingest must copy the x-webhook-topic header into the body)")
    return topic


def _site(b: Builder, root: Node) -> tuple[ZoneHint, Location | None, str | None]:
    where = root.opt_obj("location")
    name = where.opt_text("name") if where else None
    site_id = where.opt_text("id") if where else None
    keys = tuple(k for k in (name, f"{VENDOR}:{site_id}" if site_id else None) if k)
    site = next((b.mappings.geo.sites[k] for k in keys if k in b.mappings.geo.sites), None)
    location = site.location(name or "") if site else (Location(description=name) if name else None)
    return ZoneHint(sites=keys), location, name


def _trackings(root: Node) -> list[Node]:
    """The tracking object(s): top-level ``tracking`` or one per entry of ``shipments``."""
    if root.has("tracking"):
        return [root.obj("tracking")]
    return [s.obj("tracking") for s in root.items("shipments") if s.has("tracking")]


def _order(root: Node, b: Builder, res: Resolution, topic: str) -> list[CanonicalRecord]:
    hint, location, warehouse = _site(b, root)
    at = b.when_any(root, _TIMES, hint)
    order_ref = root.text("reference_id")
    lines = lines_from(root.items("products"), sku=("reference_id", "sku"), qty=("quantity",))
    records: list[CanonicalRecord] = []
    trackings: list[Node | None] = [*_trackings(root)] if res.code == "SHIPPED" else []
    for tracking in trackings or [None]:
        carrier = b.carrier(tracking, "carrier") if tracking and tracking.opt_text("carrier") else None
        number = tracking.opt_text("tracking_id") if tracking else None
        records.append(b.order(
            res, order_ref=order_ref, at=at, raw_status=topic, partner_order_id=root.opt_text("order_id"),
            warehouse=warehouse, reason=root.opt_text("reason"), carrier=carrier, tracking_number=number,
            service_level=tracking.opt_text("carrier_service") if tracking else None, lines=lines,
        ))
        if carrier and number:
            records.append(b.shipment(
                Resolution(code="SHIPPED", table="order_topic"), carrier=carrier, tracking_number=number,
                at=at, raw_status=topic, location=location, order_ref=order_ref,
            ))
    return records


def _shipment(root: Node, b: Builder, res: Resolution, topic: str) -> list[CanonicalRecord]:
    hint, _, _ = _site(b, root)
    status = root.opt_text("status")
    if res.code == "DEFER" or not res.matched:
        res = b.resolve([("tracking_status", status)])
        if res.ignored:
            return []
    trackings = _trackings(root)
    if not trackings:
        raise ParseError("$.tracking: a shipment event needs the carrier and tracking_id")
    at = b.when_any(root, _TIMES, hint)
    return [
        b.shipment(
            res, carrier=b.carrier(t, "carrier"), tracking_number=t.text("tracking_id"), at=at,
            raw_status=f"{topic}/{status}" if status else topic, order_ref=root.opt_text("reference_id"),
        )
        for t in trackings
    ]


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    root = load_json(payload)
    topic = _topic(root, ctx.format)
    b = Builder.for_vendor(ctx, VENDOR)
    vm = b.mappings.vendor(VENDOR)
    shipment_hit = vm.table("shipment_topic").lookup(topic)
    if shipment_hit is not None and shipment_hit.code == IGNORE:
        return []
    if shipment_hit is not None:
        res = Resolution(code=shipment_hit.code, reason=shipment_hit.reason, table="shipment_topic")
        return unique(_shipment(root, b, res, topic))
    res = b.resolve([("order_topic", topic), ("other_topic", topic)])
    if res.ignored:
        return []
    return unique(_order(root, b, res, topic))  # unknown topics: order UNKNOWN with the raw topic
