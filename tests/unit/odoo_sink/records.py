"""Canonical records (schema-complete dicts, as the Avro decoder gives them) and handler contexts
for odoo_sink tests; the integration tests encode the same dicts with the registry serde."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from backbone.canonical import ORDER_RANK, SHIPMENT_RANK, OrderCode, ShipmentCode
from backbone.sink import ApplyContext, GuardVerdict, SinkRecord, judge
from backbone.sink.records import build_record

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def _mid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _raw_ref(n: int) -> dict[str, Any]:
    return {"event_id": f"e-{n}", "topic": "raw.carrier-tracking.v1", "partition": 0, "offset": n}


def shipment(tracking: str, code: str, *, carrier: str = "ups", order_ref: str | None = None, n: int = 0,
             at: datetime | None = None, milestone_id: str | None = None, **extra: Any) -> dict[str, Any]:
    occurred = at or NOW + timedelta(minutes=n)
    value: dict[str, Any] = {
        "milestone_id": milestone_id or _mid(f"ms-{tracking}-{code}"),
        "code": code,
        "rank": SHIPMENT_RANK[ShipmentCode(code)],
        "exception_reason": None,
        "shipment_key": f"{carrier}:{tracking}",
        "carrier": carrier,
        "tracking_number": tracking,
        "order_ref": order_ref,
        "source_partner": "easypost",
        "raw_status": code.lower(),
        "raw_status_text": f"{code.replace('_', ' ').capitalize()}",
        "occurred_at": occurred,
        "received_at": occurred + timedelta(seconds=2),
        "location": {"city": "Leipzig", "state": None, "postal_code": "04109", "country": "DE", "description": None},
        "signed_by": None,
        "raw_ref": _raw_ref(n),
        "correlation_id": f"corr-{tracking}-{n}",
    }
    value.update(extra)
    return value


def order(order_ref: str, code: str = "SHIPPED", *, fully_shipped: bool | None = True,
          lines: list[tuple[str, float]] | None = None, tracking: str | None = None, carrier: str | None = "ups",
          milestone_id: str | None = None, n: int = 0) -> dict[str, Any]:
    occurred = NOW + timedelta(minutes=n)
    return {
        "milestone_id": milestone_id or _mid(f"om-{order_ref}-{code}"),
        "code": code,
        "rank": ORDER_RANK[OrderCode(code)],
        "order_ref": order_ref,
        "warehouse": "WH",
        "source_partner": "shiphero",
        "raw_status": code.lower(),
        "reason": None,
        "occurred_at": occurred,
        "received_at": occurred + timedelta(seconds=1),
        "fully_shipped": fully_shipped if code == "SHIPPED" else None,
        "carrier": carrier if tracking else None,
        "tracking_number": tracking,
        "lines": [{"sku": sku, "quantity": float(qty), "lot": None} for sku, qty in lines or []],
        "raw_ref": _raw_ref(n),
        "correlation_id": f"corr-{order_ref}-{n}",
    }


def inventory(warehouse: str, sku: str, kind: str, *, quantity: float | None = None, delta: float | None = None,
              milestone_id: str | None = None, n: int = 0) -> dict[str, Any]:
    occurred = NOW + timedelta(minutes=n)
    return {
        "milestone_id": milestone_id or _mid(f"inv-{warehouse}-{sku}-{kind}"),
        "kind": kind,
        "inventory_key": f"{warehouse}:{sku}",
        "warehouse": warehouse,
        "sku": sku,
        "quantity": quantity,
        "delta": delta,
        "reason": "cycle count" if kind == "COUNTED" else "damage",
        "lot": None,
        "source_partner": "shipbob",
        "raw_status": kind.lower(),
        "occurred_at": occurred,
        "received_at": occurred + timedelta(seconds=1),
        "raw_ref": _raw_ref(n),
        "correlation_id": f"corr-{warehouse}-{sku}-{n}",
    }


def key_of(value: dict[str, Any]) -> str:
    return str(value.get("shipment_key") or value.get("inventory_key") or value.get("order_ref") or value["milestone_id"])


def record(value: dict[str, Any], *, offset: int = 0) -> SinkRecord:
    return build_record(topic="canonical.test.v1", partition=0, offset=offset, key=key_of(value).encode(),
                        value=value, headers=[])


def ctx(*, current: int | None = None, new: int | None = None, verdict: GuardVerdict | None = None,
        attempt: int = 1, previous_error: BaseException | None = None,
        previous_status: str | None = None) -> ApplyContext:
    return ApplyContext(sink="odoo_sink", target="odoo", attempt=attempt,
                        verdict=verdict or judge(current, new), previous_error=previous_error,
                        previous_status=previous_status)
