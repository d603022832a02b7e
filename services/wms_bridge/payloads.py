"""The raw facts the bridge publishes back: ``wms.order_answer.v1`` and ``wms.reconciliation.v1``.

Shapes are the ones services/status_normalizer/parsers/wms.py documents. Pure functions over the
typed WMS answers: no I/O. Every fact carries the time the WMS recorded it (the order's status
history), never the time we looked, so an answer and a later poll that repeats it produce the same
canonical milestone id and the normalizer's dedupe drops the repeat. Event ids are derived from the
content (minus ``polled_at``) for the same reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.wms_bridge.models import InventoryChange, OrderAnswer, OrderLine

__all__ = [
    "ANSWERS",
    "ANSWER_FORMAT",
    "RECONCILIATION_FORMAT",
    "RawFact",
    "answer_fact",
    "cancel_answer",
    "initial_answer",
    "iso",
    "order_answer",
    "order_entries",
    "order_reconciliation",
    "stock_reconciliation",
]

ANSWER_FORMAT = "wms.order_answer.v1"
RECONCILIATION_FORMAT = "wms.reconciliation.v1"
ANSWERS = frozenset({"accepted", "rejected", "backordered", "cancelled"})
_FIRST_ANSWERS = ("accepted", "rejected", "backordered")
_PROGRESS = frozenset({"picking", "picked", "packed", "shipped"})  # imply the order was accepted
# Fixed forever: changing it changes the event id of every fact already published.
_EVENT_NAMESPACE = uuid.UUID("0b7c1d9e-4f6a-5b2c-8d3e-9a1f2b3c4d5e")


@dataclass(frozen=True, slots=True)
class RawFact:
    """One raw event to publish: its format, partition key suffix, bytes and stable id."""

    fmt: str
    natural_key: str
    payload: bytes
    event_id: str
    facts: int = 1  # order entries / stock lines inside (the poll metric counts these)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _fact(fmt: str, natural_key: str, body: dict[str, Any], facts: int = 1) -> RawFact:
    stable = {k: v for k, v in body.items() if k != "polled_at"}
    digest = json.dumps([fmt, natural_key, stable], sort_keys=True, separators=(",", ":"))
    payload = json.dumps(body, separators=(",", ":")).encode()
    return RawFact(fmt, natural_key, payload, str(uuid.uuid5(_EVENT_NAMESPACE, digest)), facts)


def _entered(order: OrderAnswer, status: str, *, last: bool = False) -> datetime | None:
    """When the order entered ``status`` according to its history (first or last time)."""
    times = [step.at for step in order.history if step.status == status]
    if times:
        return times[-1] if last else times[0]
    return order.updated_at if order.status == status else None


def initial_answer(order: OrderAnswer) -> tuple[str, datetime | None]:
    """The WMS's first answer to a created order and when it gave it.

    A replay or a reconcile may see the order later (picked, shipped): its first answer is still
    the first accepted/rejected/backordered step, or ``accepted`` when it has progressed since.
    """
    for step in order.history:
        if step.status in _FIRST_ANSWERS:
            return step.status, step.at
    if order.status in ANSWERS:
        return order.status, order.updated_at or order.created_at
    if order.status in _PROGRESS:
        return "accepted", order.created_at
    return order.status, order.updated_at or order.created_at


def answer_fact(
    *,
    order_ref: str,
    answer: str,
    at: datetime,
    warehouse: str,
    lines: Sequence[OrderLine],
    wms_order_id: str | None = None,
    reason: str | None = None,
) -> RawFact:
    body = {
        "answer": answer,
        "order_ref": order_ref,
        "wms_order_id": wms_order_id,
        "warehouse": warehouse,
        "occurred_at": iso(at),
        "reason": reason,
        "lines": [{"sku": line.sku, "qty": line.qty} for line in lines],
    }
    return _fact(ANSWER_FORMAT, order_ref, body)


def order_answer(order: OrderAnswer, *, warehouse: str, lines: Sequence[OrderLine], fallback_at: datetime) -> RawFact:
    """The answer to a create: accepted with the WMS id, rejected with reason, or backordered."""
    answer, at = initial_answer(order)
    reason = order.reason if answer in ("rejected", "backordered") else None
    return answer_fact(order_ref=order.order_ref, answer=answer, at=at or fallback_at, warehouse=warehouse,
                       lines=lines, wms_order_id=order.id, reason=reason)


def cancel_answer(order: OrderAnswer, *, warehouse: str, fallback_at: datetime) -> RawFact:
    at = _entered(order, "cancelled", last=True) or fallback_at
    return answer_fact(order_ref=order.order_ref, answer="cancelled", at=at, warehouse=warehouse, lines=(),
                       wms_order_id=order.id, reason=order.reason)


def order_entries(order: OrderAnswer) -> list[dict[str, Any]]:
    """Every fact the WMS knows about one order: each status it went through (with the time it
    entered it) and one ``shipped`` entry per package, with carrier and tracking number."""
    base = {"order_ref": order.order_ref, "wms_order_id": order.id}
    entries: list[dict[str, Any]] = []
    steps: list[tuple[str, datetime | None]] = [(s.status, s.at) for s in order.history]
    for status, at in steps or [(order.status, order.updated_at or order.created_at)]:
        if status == "shipped" and order.packages:
            continue  # per package below, with the time each package shipped
        if at is None:
            continue
        reason = order.reason if status == order.status else None
        entries.append({**base, "status": status, "updated_at": iso(at), "reason": reason})
    shipped_at = _entered(order, "shipped")
    for pkg in order.packages:
        shipped = pkg.shipped_at or shipped_at or order.updated_at
        if shipped is None:
            continue
        entries.append({
            **base, "status": "shipped", "updated_at": iso(shipped), "package_number": pkg.package_number,
            "total_packages": pkg.total_packages, "carrier": pkg.carrier, "tracking_number": pkg.tracking_number,
            "reason": None,
        })
    return entries


def order_reconciliation(order: OrderAnswer, *, warehouse: str, polled_at: datetime) -> RawFact | None:
    """One poll result per order, keyed by its reference (same partition as its webhooks)."""
    entries = order_entries(order)
    if not entries:
        return None
    body = {"warehouse": warehouse, "polled_at": iso(polled_at), "orders": entries, "stock": []}
    return _fact(RECONCILIATION_FORMAT, order.order_ref, body, facts=len(entries))


def stock_reconciliation(
    changes: Iterable[InventoryChange], *, warehouse: str, polled_at: datetime
) -> list[RawFact]:
    """Stock movements as absolute on-hand counts, one raw event per (warehouse, sku)."""
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for change in changes:
        where = change.warehouse or warehouse
        counted = change.occurred_at or polled_at
        by_key.setdefault((where, change.sku), []).append(
            {"sku": change.sku, "on_hand": change.on_hand, "lot": None, "counted_at": iso(counted)}
        )
    facts = []
    for (where, sku), lines in by_key.items():
        body = {"warehouse": where, "polled_at": iso(polled_at), "orders": [], "stock": lines}
        facts.append(_fact(RECONCILIATION_FORMAT, f"{where}:{sku}", body, facts=len(lines)))
    return facts
