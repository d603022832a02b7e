"""What the bridge does with each canonical order milestone (the sink runtime calls ``apply``).

- ``ORDER_RELEASED``: create the outbound order at the WMS with an ``Idempotency-Key`` derived from
  the milestone id (a retry after a lost answer replays the first answer instead of creating a
  second order), remember the WMS order id, and publish the WMS's answer (accepted / rejected /
  backordered) to raw.warehouse as ``wms.order_answer.v1``. A 422 naming fields is the WMS refusing
  the order: published as ``rejected`` with the reason, not dead-lettered.
- ``CANCELLED`` (from Odoo): cancel at the WMS; 409 ``already_shipped`` is skipped with its reason.
  A cancellation the WMS itself reported is only recorded.
- ACCEPTED / REJECTED / BACKORDERED / PICKED / PACKED / SHIPPED: the WMS's answers coming back
  through the normalizer; recorded for the awaiting-acceptance gauge, skipped ``not_for_wms``.

A timeout leaves the outcome unknown: ``reconcile`` re-reads the order (by the id remembered for
this very release) before anything is re-sent, and a re-send replays the same idempotency key, so
a WMS that did create the order answers with it (a key the WMS forgot ends in 409
``duplicate_order_ref`` naming the existing order, which is read and answered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from backbone.errors import PermanentError, RetryableError
from backbone.raw_publisher import RawPublishing
from backbone.sink import ApplyContext, ApplyResult, SinkRecord
from backbone.throttle import Throttler
from services.wms_bridge.errors import WmsConflictError, WmsValidationError
from services.wms_bridge.models import Address, OrderAnswer, OrderLine, OrderRequest
from services.wms_bridge.payloads import RawFact, answer_fact, cancel_answer, initial_answer, order_answer
from services.wms_bridge.store import OrderState, TrackedOrder

__all__ = [
    "HandlerSettings",
    "OrderTracking",
    "WmsApi",
    "WmsHandler",
    "idempotency_key",
    "release_request",
    "throttled",
]

T = TypeVar("T")
Clock = Callable[[], datetime]

# Canonical codes that are the WMS answering, and what they mean for a released order.
_ANSWER_STATES: Mapping[str, OrderState] = {
    "ACCEPTED_BY_WAREHOUSE": "accepted",
    "REJECTED_BY_WAREHOUSE": "rejected",
    "BACKORDERED": "backordered",
    "PICKED": "accepted",
    "PACKED": "accepted",
    "SHIPPED": "accepted",
}
_UNCANCELLABLE = frozenset({"already_shipped", "not_cancellable"})


class WmsApi(Protocol):
    """The WMS calls the handler makes (:class:`services.wms_bridge.client.WmsClient` fits)."""

    async def create_order(self, idempotency_key: str, order: OrderRequest) -> OrderAnswer: ...
    async def cancel_order(self, order_id: str) -> OrderAnswer: ...
    async def get_order(self, order_id: str) -> OrderAnswer: ...


class OrderTracking(Protocol):
    """Released orders and their answers (:class:`services.wms_bridge.store.BridgeStore` fits)."""

    async def track_release(
        self, order_ref: str, *, milestone_id: str, partner_order_id: str | None, released_at: datetime,
        new_order: bool = True,
    ) -> None: ...
    async def track_answer(
        self, order_ref: str, state: OrderState, *, at: datetime, partner_order_id: str | None = None
    ) -> bool: ...
    async def order(self, order_ref: str) -> TrackedOrder | None: ...


@dataclass(frozen=True)
class HandlerSettings:
    partner: str = "shiphero"  # RawEvent partner of answers: key "<partner>:<order_ref>"
    warehouse: str = "Reno DC"
    answer_role: str = "raw.warehouse"


def idempotency_key(milestone_id: str) -> str:
    """Same release, same key, forever (independent of the sink's name or the attempt)."""
    return f"release-{milestone_id}"


def _quantity(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 1:
        raise PermanentError(f"{where}: quantity {value!r} is not a positive whole number of units")
    return int(value)


def release_request(value: Mapping[str, Any]) -> OrderRequest:
    """The WMS order for an ORDER_RELEASED milestone; PermanentError when it cannot be one.

    Address parts the record lacks are sent empty: the WMS, not the bridge, validates addresses
    (its refusal is published as a rejection Odoo can act on).
    """
    order_ref = value.get("order_ref")
    if not isinstance(order_ref, str) or not order_ref:
        raise PermanentError("ORDER_RELEASED without order_ref")
    lines: list[OrderLine] = []
    for i, line in enumerate(value.get("lines") or []):
        sku = line.get("sku") if isinstance(line, Mapping) else None
        if not isinstance(sku, str) or not sku:
            raise PermanentError(f"lines[{i}]: no sku", order_ref=order_ref)
        lines.append(OrderLine(sku, _quantity(line.get("quantity"), f"lines[{i}]")))
    if not lines:
        raise PermanentError("ORDER_RELEASED without lines", order_ref=order_ref)
    ship_to = value.get("ship_to")
    if not isinstance(ship_to, Mapping):
        raise PermanentError("ORDER_RELEASED without ship_to", order_ref=order_ref)
    address = Address(
        name=str(ship_to.get("name") or ""),
        address1=str(ship_to.get("street") or ""),
        city=str(ship_to.get("city") or ""),
        postal_code=str(ship_to.get("postal_code") or ""),
        country=str(ship_to.get("country") or ""),
        phone=ship_to.get("phone") or None,
    )
    return OrderRequest(
        order_ref=order_ref,
        lines=tuple(lines),
        ship_to=address,
        requested_carrier=value.get("carrier") or None,
        requested_service=value.get("service_level") or None,
    )


async def throttled(throttler: Throttler | None, call: Callable[[], Awaitable[T]]) -> T:
    """One WMS call inside the shared rate limit; a 429/503 ``Retry-After`` holds back every
    caller of this WMS (records and polls), not just the one that got it."""
    if throttler is not None:
        await throttler.acquire()
    try:
        return await call()
    except RetryableError as exc:
        if throttler is not None and exc.retry_after:
            throttler.defer(exc.retry_after)
        raise


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WmsHandler:
    """SinkHandler (and ReconcilingHandler) of the WMS bridge."""

    def __init__(
        self,
        api: WmsApi,
        publisher: RawPublishing,
        tracking: OrderTracking,
        settings: HandlerSettings | None = None,
        *,
        throttler: Throttler | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.api = api
        self.publisher = publisher
        self.tracking = tracking
        self.settings = settings or HandlerSettings()
        self.throttler = throttler
        self.clock = clock

    async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
        code = record.code
        if code == "ORDER_RELEASED":
            return await self._release(record)
        if code == "CANCELLED":
            return await self._cancel(record)
        state = _ANSWER_STATES.get(code or "")
        if state is None:
            return ApplyResult.skipped("not_for_wms")
        changed = await self.tracking.track_answer(
            _ref(record), state, at=record.occurred_at or self.clock(),
            partner_order_id=record.value.get("partner_order_id"),
        )
        return ApplyResult.skipped("not_for_wms", tracked=state if changed else None)

    async def reconcile(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult | None:
        """Before re-sending a release whose outcome is unknown: did the WMS get it?"""
        if record.code != "ORDER_RELEASED":
            return None  # a cancel is idempotent at the WMS: simply send it again
        tracked = await self.tracking.order(_ref(record))
        if tracked is None or tracked.release_milestone_id != record.milestone_id or not tracked.partner_order_id:
            return None  # never answered: apply() replays the idempotency key
        wms_id = tracked.partner_order_id
        answer = await self._call(lambda: self.api.get_order(wms_id))
        if answer.order_ref != tracked.order_ref:
            return None
        fact = order_answer(answer, warehouse=self.settings.warehouse, lines=release_request(record.value).lines,
                            fallback_at=self.clock())
        await self._publish(fact, record)
        return ApplyResult.applied(wms_order_id=answer.id, answer=initial_answer(answer)[0], via="get_order")

    # -- commands ------------------------------------------------------------------------------
    async def _release(self, record: SinkRecord) -> ApplyResult:
        order = release_request(record.value)
        key = idempotency_key(record.milestone_id)
        new_order = True
        try:
            answer = await self._call(lambda: self.api.create_order(key, order))
        except WmsConflictError as exc:
            existing = exc.existing_id
            if exc.code != "duplicate_order_ref" or not existing:
                raise
            # The WMS has an open order with our reference (an earlier release whose key it forgot).
            answer = await self._call(lambda: self.api.get_order(existing))
            new_order = False
        except WmsValidationError as exc:
            if exc.code != "validation_failed":
                raise  # e.g. idempotency_key_reused: our bug, not the WMS's verdict on the order
            return await self._refused(record, order, exc)
        await self.tracking.track_release(order.order_ref, milestone_id=record.milestone_id,
                                          partner_order_id=answer.id, released_at=self.clock(), new_order=new_order)
        fact = order_answer(answer, warehouse=self.settings.warehouse, lines=order.lines, fallback_at=self.clock())
        await self._publish(fact, record)
        return ApplyResult.applied(wms_order_id=answer.id, answer=initial_answer(answer)[0],
                                   replayed=answer.replayed, existing=not new_order)

    async def _refused(self, record: SinkRecord, order: OrderRequest, exc: WmsValidationError) -> ApplyResult:
        issues = "; ".join(f"{f.field}: {f.reason}" for f in exc.fields) or exc.message
        await self.tracking.track_release(order.order_ref, milestone_id=record.milestone_id, partner_order_id=None,
                                          released_at=self.clock())
        # The WMS gave no time: the release's own time keeps the fact (and its id) the same on retry.
        fact = answer_fact(order_ref=order.order_ref, answer="rejected", at=record.occurred_at or self.clock(),
                           warehouse=self.settings.warehouse, lines=order.lines,
                           reason=f"validation_failed: {issues}")
        await self._publish(fact, record)
        return ApplyResult.applied(answer="rejected", refused=issues[:200])

    async def _cancel(self, record: SinkRecord) -> ApplyResult:
        order_ref = _ref(record)
        if record.value.get("source_partner") == self.settings.partner:
            await self.tracking.track_answer(order_ref, "cancelled", at=record.occurred_at or self.clock())
            return ApplyResult.skipped("from_wms")
        tracked = await self.tracking.order(order_ref)
        if tracked is None or not tracked.partner_order_id:
            return ApplyResult.skipped("not_at_wms")
        wms_id = tracked.partner_order_id
        try:
            answer = await self._call(lambda: self.api.cancel_order(wms_id))
        except WmsConflictError as exc:
            if exc.code in _UNCANCELLABLE:
                return ApplyResult.skipped(exc.code or "conflict", wms_order_id=wms_id)
            raise
        await self.tracking.track_answer(order_ref, "cancelled", at=self.clock())
        await self._publish(cancel_answer(answer, warehouse=self.settings.warehouse, fallback_at=self.clock()), record)
        return ApplyResult.applied(wms_order_id=wms_id, status=answer.status)

    # -- plumbing ------------------------------------------------------------------------------
    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        return await throttled(self.throttler, call)

    async def _publish(self, fact: RawFact, record: SinkRecord) -> None:
        await self.publisher.publish(
            self.settings.answer_role,
            partner=self.settings.partner,
            fmt=fact.fmt,
            payload=fact.payload,
            natural_key=fact.natural_key,
            correlation_id=record.correlation_id,
            event_id=fact.event_id,
        )


def _ref(record: SinkRecord) -> str:
    ref = record.value.get("order_ref") or record.entity_key
    if not ref:
        raise PermanentError("order milestone without order_ref", milestone_id=record.milestone_id)
    return str(ref)
