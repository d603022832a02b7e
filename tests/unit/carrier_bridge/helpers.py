"""Builders for carrier bridge tests: canonical order milestones, sink records, a recording
publisher, and a driver that retries a record the way the sink runtime does."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backbone.errors import PermanentError, RetryableError
from backbone.sink import ApplyContext, ApplyResult, SinkRecord, judge
from backbone.sink.records import build_record
from services.carrier_bridge.booking import BookingDefaults, ServiceCatalog
from services.carrier_bridge.client import CarrierClient
from services.carrier_bridge.handlers import CarrierHandler, HandlerSettings
from services.carrier_bridge.models import Address, Parcel
from services.carrier_bridge.orders import MemoryOrderDirectory
from services.status_normalizer.parsers.carrier_label import parse_label
from services.status_normalizer.records import RawContext, ShipmentMilestone

RANKS = {"ORDER_RELEASED": 10, "ACCEPTED_BY_WAREHOUSE": 20, "PICKED": 40, "PACKED": 50, "SHIPPED": 60}
SHIP_TO = {
    "name": "Ada Example",
    "street": "417 Montgomery St",
    "city": "Decatur",
    "postal_code": "30030",
    "country": "US",
    "phone": None,
}
DEFAULTS = BookingDefaults(
    ship_from=Address(
        name="Dock 1", company="Backbone Co", street1="1 Dock Rd", city="Memphis", zip="38118", country="US", state="TN"
    ),
    parcel=Parcel(weight_oz=16.0, length_in=10, width_in=8, height_in=4),
)


def milestone(code: str, order_ref: str = "SO-1", **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    value: dict[str, Any] = {
        "milestone_id": f"om-{order_ref}-{code}-{uuid.uuid4().hex[:8]}",
        "code": code,
        "rank": RANKS.get(code, 0),
        "order_ref": order_ref,
        "source_partner": "shiphero",
        "raw_status": code.lower(),
        "occurred_at": now,
        "received_at": now,
        "carrier": None,
        "service_level": None,
        "ship_to": None,
        "package_number": None,
        "total_packages": None,
        "correlation_id": f"c-{order_ref}",
        "raw_ref": {"event_id": f"e-{order_ref}-{code}", "topic": "raw.warehouse.v1", "partition": 0, "offset": 0},
    }
    value.update(fields)
    return value


def packed(
    order_ref: str = "SO-1",
    *,
    carrier: str | None = "ups",
    service_level: str | None = "ground",
    ship_to: dict[str, Any] | None = SHIP_TO,
    **fields: Any,
) -> dict[str, Any]:
    return milestone("PACKED", order_ref, carrier=carrier, service_level=service_level, ship_to=ship_to, **fields)


def record(value: dict[str, Any], offset: int = 0) -> SinkRecord:
    return build_record(
        topic="canonical.order-milestones.v1",
        partition=0,
        offset=offset,
        key=str(value["order_ref"]).encode(),
        value=value,
        headers=[],
    )


def context(
    attempt: int = 1, previous_error: BaseException | None = None, rank: int | None = 50, current: int | None = None
) -> ApplyContext:
    return ApplyContext(
        sink="carrier_bridge",
        target="carrier",
        attempt=attempt,
        verdict=judge(current, rank),
        previous_error=previous_error,
    )


@dataclass
class Published:
    channel_role: str
    partner: str
    fmt: str
    payload: bytes
    natural_key: str | None
    correlation_id: str | None
    event_id: str | None


@dataclass
class RecordingPublisher:
    sent: list[Published] = field(default_factory=list)
    fail_next: int = 0

    async def publish(
        self,
        channel_role: str,
        *,
        partner: str,
        fmt: str,
        payload: bytes,
        natural_key: str | None,
        correlation_id: str | None,
        event_id: str | None = None,
    ) -> object:
        if self.fail_next:
            self.fail_next -= 1
            raise RetryableError("kafka write not acknowledged", retry_after=0.01)
        self.sent.append(Published(channel_role, partner, fmt, payload, natural_key, correlation_id, event_id))
        return None


def make_handler(
    client: CarrierClient,
    publisher: RecordingPublisher | None = None,
    orders: MemoryOrderDirectory | None = None,
    **settings: Any,
) -> CarrierHandler:
    return CarrierHandler(
        client,
        publisher or RecordingPublisher(),
        orders=orders or MemoryOrderDirectory(),
        defaults=DEFAULTS,
        catalog=ServiceCatalog.load(),
        settings=HandlerSettings(**settings),
    )


async def deliver(handler: CarrierHandler, rec: SinkRecord, *, max_attempts: int = 10) -> tuple[ApplyResult, int]:
    """Apply like the sink runtime: retry retryable failures, reconcile first after an ambiguous one.

    Returns the result and the number of attempts; permanent failures propagate."""
    previous: BaseException | None = None
    for attempt in range(1, max_attempts + 1):
        ctx = context(attempt, previous)
        try:
            result = None
            if ctx.outcome_unknown:
                result = await handler.reconcile(rec, ctx)
            return (result or await handler.apply(rec, ctx)), attempt
        except PermanentError:
            raise
        except RetryableError as exc:
            previous = exc
            await asyncio.sleep(min(exc.retry_after or 0.0, 0.05))  # the runtime waits max(backoff, retry_after)
    raise AssertionError(f"not applied after {max_attempts} attempts (last: {previous!r})")


def normalize_label(payload: bytes, event_id: str = "e-1") -> list[ShipmentMilestone]:
    ctx = RawContext(
        partner="easypost",
        format="carrier.label.v1",
        event_id=event_id,
        received_at=datetime.now(UTC),
        correlation_id="c-1",
        topic="raw.carrier-tracking.v1",
        partition=0,
        offset=0,
    )
    records = parse_label(payload, ctx)
    assert all(isinstance(r, ShipmentMilestone) for r in records)
    return [r for r in records if isinstance(r, ShipmentMilestone)]


__all__ = [
    "DEFAULTS",
    "SHIP_TO",
    "Published",
    "RecordingPublisher",
    "context",
    "deliver",
    "make_handler",
    "milestone",
    "normalize_label",
    "packed",
    "record",
]
