"""Texts the sink writes into Odoo: chatter notes and ``tracking_state``. Pure functions.

Every note starts with ``[backbone:<milestone_id>]`` (see :func:`services.odoo_sink.pickings.marker`)
so a retried post can be found, and a person reading the chatter can trace it back with
``backbone trace <milestone_id>``.

Example::

    shipment_note(record.value, "Delivered", stale=False, signed_by=True)
    # '[backbone:ms-1] Delivered\\nups 1Z999: "Delivered, front door" ...'
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.odoo_sink.pickings import marker

__all__ = ["odoo_date", "odoo_datetime", "order_note", "shipment_note", "tracking_state"]

_TRACKING_STATE_MAX = 200


def odoo_datetime(value: Any) -> str | None:
    """Odoo's datetime wire format (naive UTC)."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return str(value.strftime("%Y-%m-%d %H:%M:%S"))


def odoo_date(value: Any) -> str | None:
    moment = odoo_datetime(value)
    return moment[:10] if moment else None


def _place(location: Any) -> str:
    if not isinstance(location, Mapping):
        return ""
    parts = [location.get(k) for k in ("description", "city", "postal_code", "state", "country")]
    return ", ".join(str(p) for p in parts if p)


def _status(v: Mapping[str, Any]) -> str:
    return str(v.get("raw_status_text") or v.get("raw_status") or "")


def tracking_state(v: Mapping[str, Any], label: str) -> str:
    """One line for ``stock.picking.tracking_state``: what the carrier said, and where."""
    text = f"{label}: {_status(v)}" if _status(v) else label
    place = _place(v.get("location"))
    if place:
        text = f"{text} ({place})"
    return text[:_TRACKING_STATE_MAX]


def shipment_note(v: Mapping[str, Any], label: str, *, stale: bool, signed_by: bool) -> str:
    lines = [f"[{marker(str(v['milestone_id']))}] {label}"]
    carrier = f"{v.get('carrier', '')} {v.get('tracking_number', '')}".strip()
    lines.append(f"{carrier}: \"{_status(v)}\"" if _status(v) else carrier)
    when = odoo_datetime(v.get("occurred_at"))
    if when:
        place = _place(v.get("location"))
        lines.append(f"When: {when} UTC" + (f" - Where: {place}" if place else ""))
    if v.get("exception_reason"):
        lines.append(f"Reason: {v['exception_reason']}")
    eta = odoo_datetime(v.get("estimated_delivery"))
    if eta:
        lines.append(f"Estimated delivery: {eta} UTC")
    if signed_by and v.get("signed_by"):
        lines.append(f"Signed by: {v['signed_by']}")
    if stale:
        lines.append("Late fact: a later status is already recorded; the delivery state was not changed.")
    lines.append(f"Source: {v.get('source_partner', '')}")
    return "\n".join(lines)


def order_note(v: Mapping[str, Any], *, action: str | None = None) -> str:
    lines = [f"[{marker(str(v['milestone_id']))}] {v.get('code')} ({v.get('raw_status', '')})"]
    if v.get("warehouse"):
        lines.append(f"Warehouse: {v['warehouse']}")
    if v.get("reason"):
        lines.append(f"Reason: {v['reason']}")
    if v.get("tracking_number"):
        lines.append(f"Carrier: {v.get('carrier') or ''} {v['tracking_number']}".rstrip())
    shipped = [f"{line['sku']} x {line['quantity']:g}" for line in v.get("lines") or [] if isinstance(line, Mapping)]
    if shipped:
        lines.append("Lines: " + ", ".join(shipped))
    if v.get("fully_shipped") is not None:
        lines.append("Fully shipped" if v["fully_shipped"] else "Partial shipment: the remainder stays on a backorder")
    if action:
        lines.append(action)
    lines.append(f"Source: {v.get('source_partner', '')}")
    return "\n".join(lines)
