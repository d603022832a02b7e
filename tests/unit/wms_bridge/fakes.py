"""In-memory doubles of the bridge's Protocols (publisher, order tracking, poll state) and record
builders, so handler and poller tests run against the real WMS simulator without Kafka or Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from backbone.errors import RetryableError
from backbone.sink import ApplyContext, SinkRecord, judge
from services.status_normalizer.parsers import parse
from services.status_normalizer.records import CanonicalRecord, RawContext
from services.wms_bridge.store import MOVES, OrderState, TrackedOrder, Watermark


@dataclass(frozen=True)
class Published:
    role: str
    partner: str
    fmt: str
    payload: bytes
    natural_key: str | None
    correlation_id: str | None
    event_id: str | None

    def parse(self) -> list[CanonicalRecord]:
        """What the normalizer makes of it (the real parser of services/status_normalizer)."""
        ctx = RawContext(partner=self.partner, format=self.fmt, event_id=self.event_id or "e",
                         received_at=datetime.now(UTC), correlation_id=self.correlation_id or "c",
                         topic="raw.warehouse.v1", partition=0, offset=0)
        return parse(self.payload, ctx)


@dataclass
class FakePublisher:
    published: list[Published] = field(default_factory=list)
    fail_next: int = 0

    async def publish(self, channel_role: str, *, partner: str, fmt: str, payload: bytes,
                      natural_key: str | None, correlation_id: str | None, event_id: str | None = None) -> object:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RetryableError("kafka write not acknowledged", retry_after=0.0)
        self.published.append(Published(channel_role, partner, fmt, payload, natural_key, correlation_id, event_id))
        return None


@dataclass
class MemoryStore:
    """OrderTracking + PollState with the same rules as BridgeStore's SQL."""

    orders: dict[str, TrackedOrder] = field(default_factory=dict)
    marks: dict[str, Watermark] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def track_release(self, order_ref: str, *, milestone_id: str, partner_order_id: str | None,
                            released_at: datetime, new_order: bool = True) -> None:
        old = self.orders.get(order_ref)
        restart = old is None or (new_order and old.release_milestone_id not in (None, milestone_id))
        if restart or old is None:
            self.orders[order_ref] = TrackedOrder(order_ref, milestone_id, partner_order_id, "released",
                                                  released_at, None)
        else:
            self.orders[order_ref] = TrackedOrder(order_ref, milestone_id, partner_order_id or old.partner_order_id,
                                                  old.state, old.released_at or released_at, old.answered_at)

    async def track_answer(self, order_ref: str, state: OrderState, *, at: datetime,
                           partner_order_id: str | None = None) -> bool:
        old = self.orders.get(order_ref)
        if old is None or (old.state, state) not in MOVES:
            return False
        self.orders[order_ref] = TrackedOrder(order_ref, old.release_milestone_id,
                                              old.partner_order_id or partner_order_id, state, old.released_at, at)
        return True

    async def order(self, order_ref: str) -> TrackedOrder | None:
        return self.orders.get(order_ref)

    async def watermark(self, stream: str) -> Watermark | None:
        return self.marks.get(stream)

    async def save_watermark(self, stream: str, cursor: str | None, at: datetime | None) -> None:
        self.marks[stream] = Watermark(cursor, at)

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        lock = self.locks.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def awaiting_acceptance(self, older_than_s: float) -> int:
        limit = datetime.now(UTC) - timedelta(seconds=older_than_s)
        return sum(1 for o in self.orders.values()
                   if o.state in ("released", "backordered") and o.released_at is not None and o.released_at < limit)


RANKS = {"ORDER_RELEASED": 10, "ACCEPTED_BY_WAREHOUSE": 20, "REJECTED_BY_WAREHOUSE": 20, "BACKORDERED": 25,
         "PICKED": 40, "PACKED": 50, "SHIPPED": 60, "CANCELLED": 0, "UNKNOWN": 0}


def order_milestone(order_ref: str, code: str = "ORDER_RELEASED", *, lines: tuple[tuple[str, float], ...] = (
        ("CHAIR-OAK-01", 2.0), ("TABLE-OAK-02", 1.0)), source: str = "odoo", milestone_id: str | None = None,
        ship_to: dict[str, Any] | bool | None = True, **extra: Any) -> dict[str, Any]:
    """An OrderMilestone value as the sink runtime decodes it (fields of schemas/OrderMilestone.avsc)."""
    now = datetime.now(UTC)
    address = {"name": "Ada Example", "street": "1 Main St", "city": "Reno", "postal_code": "89501",
               "country": "US", "phone": "+1 555 0100"}
    value: dict[str, Any] = {
        "milestone_id": milestone_id or str(uuid.uuid4()),
        "code": code,
        "rank": RANKS[code],
        "order_ref": order_ref,
        "partner_order_id": None,
        "warehouse": None,
        "source_partner": source,
        "raw_status": code.lower(),
        "reason": None,
        "occurred_at": now - timedelta(seconds=2),
        "occurred_at_offset_minutes": None,
        "tz_inferred": False,
        "received_at": now - timedelta(seconds=1),
        "package_number": None,
        "total_packages": None,
        "fully_shipped": None,
        "carrier": "fedex",
        "tracking_number": None,
        "service_level": "ground",
        "lines": [{"sku": sku, "quantity": qty, "lot": None} for sku, qty in lines],
        "ship_to": address if ship_to is True else (ship_to or None),
        "out_of_order": False,
        "mapping_version": "1",
        "raw_ref": {"event_id": "e", "topic": "raw.erp.v1", "partition": 0, "offset": 0},
        "correlation_id": f"corr-{order_ref}",
    }
    value.update(extra)
    return value


def sink_record(value: dict[str, Any], offset: int = 0) -> SinkRecord:
    return SinkRecord(
        topic="canonical.order-milestones.v1", partition=0, offset=offset, key=value["order_ref"].encode(),
        value=value, headers=[], milestone_id=value["milestone_id"], entity_key=value["order_ref"], rank=None,
        correlation_id=value["correlation_id"], occurred_at=value["occurred_at"], received_at=value["received_at"],
    )


def context(attempt: int = 1, previous_error: BaseException | None = None,
            previous_status: str | None = None) -> ApplyContext:
    return ApplyContext(sink="wms_bridge", target="wms", attempt=attempt, verdict=judge(None, None),
                        previous_error=previous_error, previous_status=previous_status)
